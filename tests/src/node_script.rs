//! A Node.js script (the real socket.io-client, or Playwright driving chromium) run
//! against a [`TestCluster`] over a line protocol: the script gets the nodes' public
//! addresses in `CHAT_NODES`, asks for faults on stdout (`KILL <id>`, ...), reads the
//! test's answer on stdin, and ends with one `RESULT <json>` line.

use std::path::Path;
use std::process::{ExitStatus, Stdio};

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::TestCluster;

/// A running script and both ends of its line protocol.
pub struct NodeScript {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodeScript {
    /// Start `node <script> <args>` (`command` = script, then its arguments) in `root`
    /// with `CHAT_NODES` (every node's id and public URL) and `env`; its stderr goes to
    /// the test's.
    pub fn spawn(root: &Path, command: &[&str], cluster: &TestCluster, env: &[(&str, String)]) -> Result<Self> {
        let nodes: Vec<serde_json::Value> = cluster
            .ids()
            .into_iter()
            .map(|id| serde_json::json!({ "id": id, "public": format!("http://{}", cluster.node(id).addr.public) }))
            .collect();
        let mut child = tokio::process::Command::new("node")
            .args(command)
            .current_dir(root)
            .env("CHAT_NODES", serde_json::to_string(&nodes)?)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("run node {}", command.join(" ")))?;
        let stdin = child.stdin.take().context("stdin")?;
        let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        Ok(Self { child, stdin, lines })
    }

    /// The script's next line (also printed), `None` once it closed stdout.
    pub async fn next_line(&mut self) -> Result<Option<String>> {
        let line = self.lines.next_line().await?;
        if let Some(line) = &line {
            println!("{line}");
        }
        Ok(line)
    }

    /// Answer the script's last request with one line.
    pub async fn answer(&mut self, reply: &str) -> Result<()> {
        self.stdin.write_all(format!("{reply}\n").as_bytes()).await?;
        Ok(())
    }

    /// Wait for the script to exit.
    pub async fn wait(mut self) -> Result<ExitStatus> {
        Ok(self.child.wait().await?)
    }
}
