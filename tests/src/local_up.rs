//! `chatctl local up` run the way an operator runs it: the real binary in the
//! foreground, ready once it prints `running`, stopped with SIGINT (by its pid) when
//! dropped. The tests of chatctl's own commands (`bench`, `drill`) start their cluster
//! this way rather than through [`TestCluster`](crate::TestCluster).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use tempfile::TempDir;

/// How long `local up` may take to build and bootstrap its cluster.
const READY_WITHIN: Duration = Duration::from_secs(90);

/// The `chatctl` binary next to the running test's directory (`target/<profile>/`).
pub fn chatctl() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().and_then(Path::parent).context("test path")?.join("chatctl");
    ensure!(bin.exists(), "{} not found: build it first (cargo build -p chat-ops -p chat-node)", bin.display());
    Ok(bin)
}

/// A running `chatctl local up` and its data directory (removed on drop).
#[derive(Debug)]
pub struct LocalUp {
    child: Child,
    dir: TempDir,
}

impl LocalUp {
    /// `chatctl local up --nodes 3 --data-dir <temporary>` plus `args` (e.g. `--lb`),
    /// with `env` set for chatctl and so for every node. Passwords are hashed at bcrypt
    /// cost 4: at the default 10 a debug build spends about a second per login.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Result<LocalUp> {
        let args: Vec<&str> = ["--nodes", "3"].into_iter().chain(args.iter().copied()).collect();
        Self::start_in(tempfile::tempdir()?, &args, env).await
    }

    /// `chatctl local up --data-dir <dir>` plus `args`: resumes the cluster `dir`
    /// holds (one laid out by `chatctl restore`, say), or creates one there.
    pub async fn start_in(dir: TempDir, args: &[&str], env: &[(&str, &str)]) -> Result<LocalUp> {
        let mut command = Command::new(chatctl()?);
        command
            .args(["local", "up", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .env("CHAT_BCRYPT_COST", "4")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let up = LocalUp { child, dir };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        tokio::time::timeout(READY_WITHIN, async {
            while let Some(line) = rx.recv().await {
                if line.starts_with("running") {
                    return Ok(());
                }
            }
            bail!("chatctl local up ended before the cluster was ready")
        })
        .await
        .with_context(|| format!("chatctl local up: no ready cluster within {READY_WITHIN:?}"))??;
        Ok(up)
    }

    /// The cluster directory (`cluster.json`, `node-<id>/node.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for LocalUp {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}
