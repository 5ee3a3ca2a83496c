//! A `redis-server` for whole-system tests (Debian's package, which `scripts/test.sh`
//! installs): started on a free loopback port without persistence, stopped by its pid
//! when the [`TestRedis`] drops. Without `redis-server` a test skips loudly, or fails
//! when `CI=true`.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// A running `redis-server` of this test.
pub struct TestRedis {
    port: u16,
    child: Option<Child>,
}

impl TestRedis {
    /// A fresh server; `None` (after a loud notice) when `redis-server` is missing outside CI.
    pub fn start(test: &str) -> Result<Option<Self>> {
        if Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_err() {
            let why = format!("{test}: redis-server is not installed (scripts/test.sh installs it)");
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                bail!("{why}");
            }
            let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPED {why} !!!!!!!!\n");
            return Ok(None);
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let mut redis = Self { port, child: None };
        redis.restart()?;
        Ok(Some(redis))
    }

    /// A server the caller started itself (e.g. a Sentinel), stopped by its pid when
    /// dropped like the others.
    pub fn adopt(port: u16, child: Child) -> Self {
        Self { port, child: Some(child) }
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, for `--redis-url`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Start (again) on the same port.
    pub fn restart(&mut self) -> Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        self.child = Some(child);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            ensure!(Instant::now() < deadline, "redis-server did not listen on {addr} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// SIGKILL the server (ours, by its pid).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
