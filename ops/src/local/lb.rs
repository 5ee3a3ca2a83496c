//! `chatctl local up --lb`: an HAProxy in front of the local nodes' public listeners,
//! standing in for the cloud load balancer: health checks on `/api/health` take a
//! failed node out of the pool, websockets pass through, and polling clients stay on
//! one node by cookie. The config is written to `DIR/haproxy.cfg`, haproxy runs as a
//! child of `local up` (log in `DIR/haproxy.log`), and its addresses and pid are
//! recorded in cluster.json under `lb`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::layout::ClusterLayout;
use super::ports;
use crate::Error;

/// File names inside the cluster directory.
pub const CONFIG_FILE: &str = "haproxy.cfg";
pub const LOG_FILE: &str = "haproxy.log";

/// The load balancer as recorded in cluster.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LbEntry {
    /// Where clients connect (`host:port`).
    pub public: String,
    /// HAProxy's statistics page (`http://<stats>/`, CSV at `/;csv`): each server's
    /// UP/DOWN state as the health checks see it.
    pub stats: String,
    pub pid: Option<u32>,
}

/// The HAProxy configuration for `layout`'s active nodes.
///
/// Timeouts: a websocket is a tunnel once upgraded, kept alive by Engine.IO pings
/// (every 25 s, 60 s timeout on our nodes), so the tunnel timeout sits above their sum;
/// a long-polling request is held up to the ping interval, so client and server
/// timeouts sit above that. Health checks every second, out after 2 failures, back
/// after 2 passes.
pub fn config(layout: &ClusterLayout, lb: &LbEntry) -> String {
    let mut cfg = format!(
        "# Written by `chatctl local up --lb`; rewritten on every start.
# No global maxconn: haproxy derives it from the open-files limit (about half of it).
global

defaults
    mode http
    option dontlognull
    # Appends the client's address to X-Forwarded-For; the nodes trust one hop.
    option forwardfor
    timeout connect 5s
    timeout client 90s
    timeout server 90s
    timeout http-request 15s
    timeout http-keep-alive 15s
    timeout tunnel 120s
    timeout client-fin 5s
    retries 2
    option redispatch

frontend chat
    bind {public}
    default_backend nodes

backend nodes
    balance leastconn
    option httpchk GET /api/health
    http-check expect status 200
    cookie CHATNODE insert indirect nocache
    default-server inter 1s fastinter 500ms fall 2 rise 2 maxconn 10000
",
        public = lb.public
    );
    for n in layout.active() {
        cfg.push_str(&format!("    server node{id} {addr} check cookie node{id}\n", id = n.id, addr = n.public));
    }
    cfg.push_str(&format!(
        "
listen stats
    bind {stats}
    stats enable
    stats uri /
    stats refresh 5s
",
        stats = lb.stats
    ));
    cfg
}

/// A running HAProxy owned by `local up`.
#[derive(Debug)]
pub struct Balancer {
    child: tokio::process::Child,
    pub entry: LbEntry,
    pub config: PathBuf,
}

/// Find the haproxy executable: `explicit`, else `haproxy` on PATH.
pub fn find_haproxy(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    let missing = |searched: String| {
        Error::Usage(format!(
            "haproxy not found ({searched}); install it (Debian: apt-get install haproxy) or pass --haproxy-bin"
        ))
    };
    if let Some(path) = explicit {
        return path.is_file().then(|| path.to_path_buf()).ok_or_else(|| missing(path.display().to_string()));
    }
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("haproxy")).find(|c| c.is_file()))
        .ok_or_else(|| missing("on PATH".into()))
}

/// `127.0.0.1:<port>`, if nothing listens there yet (haproxy would fail later and less
/// clearly).
fn fixed_addr(port: u16) -> Result<String, Error> {
    let addr = format!("127.0.0.1:{port}");
    std::net::TcpListener::bind(&addr)
        .map(drop)
        .map_err(|e| Error::Usage(format!("--lb-port: {addr} is not free ({e}); pick another port or leave it out")))?;
    Ok(addr)
}

impl Balancer {
    /// Write the config, check it, start haproxy and record it; returns once the
    /// frontend answers `/api/health` through a healthy node (or `timeout` passes).
    /// `port` fixes the frontend's port (statistics on the next one).
    pub async fn start(
        dir: &Path,
        haproxy: Option<&Path>,
        port: Option<u16>,
        timeout: Duration,
    ) -> Result<Balancer, Error> {
        let binary = find_haproxy(haproxy)?;
        let layout = ClusterLayout::load(dir)?;
        // Keep the recorded addresses across restarts so clients can reconnect.
        let entry = match (port, &layout.lb) {
            (Some(port), _) => {
                LbEntry { public: fixed_addr(port)?, stats: fixed_addr(port.saturating_add(1))?, pid: None }
            }
            (None, Some(lb)) => LbEntry { pid: None, ..lb.clone() },
            (None, None) => {
                let mut addrs = ports::free_addrs(2)?.into_iter();
                LbEntry { public: addrs.next().expect("two"), stats: addrs.next().expect("two"), pid: None }
            }
        };
        let config_path = dir.join(CONFIG_FILE);
        std::fs::write(&config_path, config(&layout, &entry)).map_err(Error::io(&config_path))?;
        let check = std::process::Command::new(&binary)
            .arg("-c")
            .arg("-q")
            .arg("-f")
            .arg(&config_path)
            .output()
            .map_err(|source| Error::Process { what: format!("running {} -c", binary.display()), source })?;
        if !check.status.success() {
            return Err(Error::Usage(format!(
                "haproxy refused {}: {}",
                config_path.display(),
                String::from_utf8_lossy(&check.stderr).trim()
            )));
        }
        let log_path = dir.join(LOG_FILE);
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(Error::io(&log_path))?;
        let log_err = log.try_clone().map_err(Error::io(&log_path))?;
        let mut cmd = std::process::Command::new(&binary);
        // -db: stay in the foreground as our child; own process group, like the nodes,
        // so a Ctrl-C reaches chatctl only and chatctl stops it.
        cmd.arg("-db").arg("-f").arg(&config_path).stdin(Stdio::null()).stdout(log).stderr(log_err).process_group(0);
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        let child =
            cmd.spawn().map_err(|source| Error::Process { what: format!("starting {}", binary.display()), source })?;
        let pid = child.id();
        let entry = LbEntry { pid, ..entry };
        ClusterLayout::update(dir, |l| {
            l.lb = Some(entry.clone());
            Ok(())
        })?;
        let mut balancer = Balancer { child, entry, config: config_path };
        if let Err(e) = balancer.wait_healthy(timeout).await {
            balancer.stop().await;
            return Err(e);
        }
        tracing::info!(public = %balancer.entry.public, stats = %balancer.entry.stats, pid, "haproxy started");
        Ok(balancer)
    }

    async fn wait_healthy(&mut self, timeout: Duration) -> Result<(), Error> {
        let url = format!("http://{}/api/health", self.entry.public);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| Error::Usage(format!("cannot build an HTTP client: {e}")))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.config.with_file_name(LOG_FILE);
                return Err(Error::Usage(format!("haproxy exited ({status}); see {}", log.display())));
            }
            if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout { what: format!("haproxy to answer {url}"), after: timeout });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stop haproxy (SIGTERM: it closes its listeners and exits) and forget its pid.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
        if let Some(dir) = self.config.parent() {
            let _ = ClusterLayout::update(dir, |l| {
                if let Some(lb) = l.lb.as_mut() {
                    lb.pid = None;
                }
                Ok(())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::layout::{LocalRole, NodeEntry};

    #[test]
    fn config_lists_every_active_node_with_health_checks() {
        let node = |id: u64, removed| NodeEntry {
            id,
            role: LocalRole::Voter,
            pid: None,
            public: format!("127.0.0.1:{}", 5000 + id),
            cluster: format!("127.0.0.1:{}", 7000 + id),
            data_dir: PathBuf::from(format!("/c/node-{id}")),
            removed,
        };
        let layout = ClusterLayout {
            secret: "s".into(),
            jwt_secret: "j".into(),
            nodes: vec![node(1, false), node(2, true), node(3, false)],
            lb: None,
            trusted_proxy_hops: 0,
        };
        let lb = LbEntry { public: "127.0.0.1:8000".into(), stats: "127.0.0.1:8001".into(), pid: None };
        let cfg = config(&layout, &lb);
        assert!(cfg.contains("bind 127.0.0.1:8000") && cfg.contains("bind 127.0.0.1:8001"));
        assert!(cfg.contains("option httpchk GET /api/health"));
        assert!(cfg.contains("server node1 127.0.0.1:5001 check cookie node1"));
        assert!(cfg.contains("server node3 127.0.0.1:5003 check"));
        assert!(!cfg.contains("node2"), "a removed node is not a backend");
        // Above Engine.IO's ping interval + timeout (25 s + 60 s).
        assert!(cfg.contains("timeout tunnel 120s"));
    }

    #[test]
    fn a_fixed_port_is_used_only_when_free() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let refused = fixed_addr(port).unwrap_err().to_string();
        assert!(refused.contains("--lb-port") && refused.contains(&port.to_string()), "{refused}");
        drop(taken);
        assert_eq!(fixed_addr(port).unwrap(), format!("127.0.0.1:{port}"));
    }
}
