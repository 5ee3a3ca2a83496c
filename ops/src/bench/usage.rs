//! CPU and memory: the generator's own (getrusage of this process), and each local
//! node's (from /proc, when the bench runs against a `--data-dir` cluster), sampled as
//! CPU time deltas so the report can say how busy each process was in each span.

use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};

/// CPU seconds (user + system) this process has used so far, and its peak RSS in MB.
pub fn generator() -> (f64, f64) {
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            // Linux reports ru_maxrss in KiB.
            (secs(u.user_time()) + secs(u.system_time()), u.max_rss() as f64 / 1024.0)
        }
        Err(_) => (0.0, 0.0),
    }
}

/// `/proc/<pid>/stat` reports CPU in clock ticks of this many per second (USER_HZ,
/// fixed at 100 in the Linux ABI).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU seconds and current RSS (MB) of `pid`, or None if it is gone.
pub fn process(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 of `rest`.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some((ticks / TICKS_PER_SEC, rss_kb / 1024.0))
}

/// One process followed through the run: CPU share per span and peak RSS.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub name: String,
    pub pid: u32,
    last_cpu: f64,
    last_at: Instant,
    pub peak_rss_mb: f64,
    pub rss_mb: f64,
    pub cpu_total: f64,
    first_cpu: f64,
}

/// A sample of one tracked process over the last span.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProcessSample {
    pub name: String,
    pub pid: u32,
    /// Percent of one core over the span.
    pub cpu_pct: f64,
    pub rss_mb: f64,
}

impl Tracked {
    pub fn new(name: impl Into<String>, pid: u32) -> Option<Self> {
        let (cpu, rss) = process(pid)?;
        Some(Self {
            name: name.into(),
            pid,
            last_cpu: cpu,
            first_cpu: cpu,
            last_at: Instant::now(),
            peak_rss_mb: rss,
            rss_mb: rss,
            cpu_total: 0.0,
        })
    }

    /// CPU share since the last sample, and RSS now.
    pub fn sample(&mut self) -> ProcessSample {
        let now = Instant::now();
        let (cpu, rss) = process(self.pid).unwrap_or((self.last_cpu, 0.0));
        let span = now.duration_since(self.last_at).max(Duration::from_millis(1)).as_secs_f64();
        let pct = (cpu - self.last_cpu) / span * 100.0;
        self.last_cpu = cpu;
        self.last_at = now;
        self.rss_mb = rss;
        self.peak_rss_mb = self.peak_rss_mb.max(rss);
        self.cpu_total = cpu - self.first_cpu;
        ProcessSample { name: self.name.clone(), pid: self.pid, cpu_pct: round1(pct), rss_mb: round1(rss) }
    }
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let (cpu, rss) = process(std::process::id()).expect("our own /proc entry");
        assert!(cpu >= 0.0 && rss > 0.0);
        let (gen_cpu, gen_rss) = generator();
        assert!(gen_cpu >= 0.0 && gen_rss > 0.0);
        let mut t = Tracked::new("self", std::process::id()).unwrap();
        let s = t.sample();
        assert!(s.cpu_pct >= 0.0 && s.rss_mb > 0.0);
        assert!(process(u32::MAX).is_none());
    }
}
