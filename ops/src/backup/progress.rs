//! Progress of a long backup or restore on stderr: bytes done, at most once a second.

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(1);

/// Counts bytes and reports them now and then.
pub(super) struct Progress {
    what: &'static str,
    bytes: u64,
    total: Option<u64>,
    last: Instant,
}

impl Progress {
    pub(super) fn new(what: &'static str, total: Option<u64>) -> Self {
        Self { what, bytes: 0, total, last: Instant::now() }
    }

    pub(super) fn add(&mut self, bytes: u64) {
        self.bytes += bytes;
        if self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            self.report();
        }
    }

    fn report(&self) {
        let mib = self.bytes as f64 / (1024.0 * 1024.0);
        match self.total {
            Some(total) if total > 0 => {
                let percent = self.bytes as f64 * 100.0 / total as f64;
                tracing::info!("{}: {mib:.1} MiB ({percent:.0}%)", self.what);
            }
            _ => tracing::info!("{}: {mib:.1} MiB", self.what),
        }
    }
}

/// A reader that counts what passes through it into a [`Progress`].
pub(super) struct Counted<R> {
    pub inner: R,
    pub progress: Progress,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n as u64);
        Ok(n)
    }
}
