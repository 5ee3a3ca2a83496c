//! A MongoDB server for whole-system tests (the same rules as the storage crate's
//! `tests/support/mongo.rs`): `CHAT_TEST_MONGODB_URI` when set (a server URI without a
//! database), else nx-27017 (a MongoDB wire-protocol server on SQLite, architecture §7)
//! from the workspace's `.venv`, which `scripts/test.sh` installs, started on a loopback
//! port with its data in a temporary directory and killed when the [`TestMongo`] drops.
//!
//! Without either, a test skips loudly, or fails when `CI=true`.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const URI_VAR: &str = "CHAT_TEST_MONGODB_URI";

/// A running MongoDB-compatible server; stops the one it started when dropped.
pub struct TestMongo {
    base_uri: String,
    server: Option<(Child, tempfile::TempDir)>,
}

impl TestMongo {
    /// The configured server, or a fresh nx-27017 on a free port; `None` (after a loud
    /// notice) when neither is available outside CI.
    pub fn start(test: &str) -> Result<Option<Self>> {
        if let Ok(uri) = std::env::var(URI_VAR) {
            return Ok(Some(Self { base_uri: uri, server: None }));
        }
        let Some(program) = nx_27017(test)? else { return Ok(None) };
        // The port may be taken between probing and binding; start over a few times.
        let mut last_error = None;
        for _ in 0..3 {
            match start_nx(&program, free_port()?) {
                Ok(server) => return Ok(Some(server)),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("three attempts"))
    }

    /// A fresh nx-27017 on `port` (ignores `CHAT_TEST_MONGODB_URI`); `None` as in
    /// [`TestMongo::start`].
    pub fn start_on(test: &str, port: u16) -> Result<Option<Self>> {
        let Some(program) = nx_27017(test)? else { return Ok(None) };
        start_nx(&program, port).map(Some)
    }

    /// Whether this is a server the test chose the port of (not an external one).
    pub fn is_local(&self) -> bool {
        self.server.is_some()
    }

    /// The URI of database `db` on this server, with short timeouts for tests.
    pub fn uri(&self, db: &str) -> String {
        uri_of(&self.base_uri, db)
    }
}

impl Drop for TestMongo {
    fn drop(&mut self) {
        if let Some((child, _dir)) = &mut self.server {
            // Our own child, by its pid; its data directory goes with `_dir`.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port nothing listens on (at the time of asking).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// `base` (`mongodb://host:port[/...][?query]`) pointed at database `db`.
pub fn uri_of(base: &str, db: &str) -> String {
    let (hosts, query) = base.split_once('?').unwrap_or((base, ""));
    let scheme_end = hosts.find("://").map_or(0, |i| i + 3);
    let hosts = match hosts[scheme_end..].find('/') {
        Some(slash) => &hosts[..scheme_end + slash],
        None => hosts,
    };
    let sep = if query.is_empty() { "" } else { "&" };
    format!("{hosts}/{db}?{query}{sep}serverSelectionTimeoutMS=5000")
}

fn nx_27017(test: &str) -> Result<Option<PathBuf>> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace");
    let program = workspace.join(".venv/bin/nx-27017");
    if program.exists() {
        return Ok(Some(program));
    }
    let why = format!(
        "{test}: no MongoDB: set {URI_VAR} or install nx-27017 into {} (scripts/test.sh does)",
        program.display()
    );
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        bail!("{why}");
    }
    // Straight to stderr: the test harness captures `eprintln!`.
    let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPED {why} !!!!!!!!\n");
    Ok(None)
}

fn start_nx(program: &Path, port: u16) -> Result<TestMongo> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(program)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--log-file")
        .arg(dir.path().join("nx-27017.log"))
        .arg("--pid-file")
        .arg(dir.path().join("nx-27017.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            let base_uri = format!("mongodb://127.0.0.1:{port}");
            return Ok(TestMongo { base_uri, server: Some((child, dir)) });
        }
        if let Some(status) = child.try_wait()? {
            bail!("nx-27017 exited with {status} before listening on {addr}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("nx-27017 did not listen on {addr} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
