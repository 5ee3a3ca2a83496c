//! Failover drills in CI: the real `chatctl drill` binary against a 3-node cluster
//! run by the real `chatctl local up`, each with the drill's own small bounded load.
//! `kill-leader`, `partition-leader` and `rolling-restart` must pass with nothing
//! lost, duplicated, out of order, no single-login violation and no checker error;
//! and a deliberately broken node (`CHAT_UNSAFE_ACK_BEFORE_COMMIT`, which echoes a
//! message to its sender a second before storing it) must make `kill-leader` fail
//! with the lost messages named. Timings are printed, never asserted.
//!
//! The drills run one at a time (a lock), so two clusters never share the 2 cores.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tempfile::TempDir;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn chatctl() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().and_then(Path::parent).context("test path")?.join("chatctl");
    if !bin.exists() {
        bail!("{} not found: build it first (cargo build -p chat-ops -p chat-node)", bin.display());
    }
    Ok(bin)
}

/// A `chatctl local up` cluster in the foreground; SIGINT stops it on drop.
struct LocalUp {
    up: Child,
    dir: TempDir,
}

impl LocalUp {
    /// Three voters; `env` goes to chatctl and from there to every node.
    async fn start(env: &[(&str, &str)]) -> Result<LocalUp> {
        let dir = tempfile::tempdir()?;
        let mut command = Command::new(chatctl()?);
        command
            .args(["local", "up", "--nodes", "3", "--data-dir"])
            .arg(dir.path())
            // bcrypt at cost 10 takes about a second per login in a debug build.
            .env("CHAT_BCRYPT_COST", "4")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut up = command.spawn()?;
        let stdout = up.stdout.take().context("stdout")?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let cluster = LocalUp { up, dir };
        tokio::time::timeout(Duration::from_secs(90), async {
            while let Some(line) = rx.recv().await {
                if line.starts_with("running") {
                    return Ok(());
                }
            }
            bail!("chatctl local up ended before the cluster was ready")
        })
        .await
        .context("chatctl local up: no ready cluster within 90 s")??;
        Ok(cluster)
    }

    /// `chatctl drill SCENARIO` with a small load; its output and JSON report.
    async fn drill(&self, scenario: &str) -> Result<(Output, Value)> {
        let json = self.dir.path().join(format!("{scenario}.json"));
        let mut command = Command::new(chatctl()?);
        command
            .args(["drill", scenario, "--data-dir"])
            .arg(self.dir.path())
            .args(["--users-per-node", "2", "--rooms", "2", "--churn-users", "2"])
            .args(["--warmup", "2s", "--hold", "2s", "--after", "2s", "--settle", "20s"])
            .arg("--json")
            .arg(&json)
            .env("RUST_LOG", "warn,chat_ops=info");
        let output = tokio::task::spawn_blocking(move || command.output()).await??;
        println!("--- chatctl drill {scenario} ({})", output.status);
        println!("{}", String::from_utf8_lossy(&output.stdout));
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        let report = std::fs::read(&json).with_context(|| format!("{} not written", json.display()))?;
        Ok((output, serde_json::from_slice(&report)?))
    }
}

impl Drop for LocalUp {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.up.id().to_string()]).status();
        let _ = self.up.wait();
    }
}

fn number(report: &Value, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("{field} missing from the report: {report}"))
}

/// The guarantees every passing drill must show in its JSON.
fn assert_passed(scenario: &str, output: &Output, report: &Value) {
    assert!(output.status.success(), "drill {scenario} failed: {report}");
    assert_eq!(report["passed"], true, "{report}");
    for field in ["lost", "duplicated", "out_of_order", "single_login_violations", "missed", "participants_diverged"] {
        assert_eq!(number(report, field), 0, "{scenario}: {field} in {report}");
    }
    assert_eq!(report["checker_errors"].as_array().map(Vec::len), Some(0), "{report}");
    // The load really ran and the checker really had something to check.
    assert!(number(report, "acknowledged") > 20, "{scenario}: too few acknowledged messages: {report}");
    assert!(number(report, "messages_sent") >= number(report, "acknowledged"));
    for field in ["leaderless_ms", "write_recovery_ms", "failed_requests"] {
        assert!(report.get(field).is_some(), "{field} missing: {report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_leader_partition_leader_and_rolling_restart_keep_every_guarantee() -> Result<()> {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = LocalUp::start(&[]).await?;
    for scenario in ["kill-leader", "partition-leader", "rolling-restart"] {
        let (output, report) = cluster.drill(scenario).await?;
        assert_passed(scenario, &output, &report);
        println!(
            "{scenario}: leaderless {} ms, write recovery {} ms, clients caught up {} ms, failed requests {}",
            report["leaderless_ms"], report["write_recovery_ms"], report["catch_up_ms"], report["failed_requests"]
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checker_catches_a_node_that_acknowledges_before_storing() -> Result<()> {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = LocalUp::start(&[("CHAT_UNSAFE_ACK_BEFORE_COMMIT", "true")]).await?;
    let (output, report) = cluster.drill("kill-leader").await?;
    assert_eq!(output.status.code(), Some(1), "the drill must fail: {report}");
    assert_eq!(report["passed"], false, "{report}");
    assert!(number(&report, "lost") > 0, "no lost message reported: {report}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let named: Vec<&str> = stdout.lines().filter(|l| l.starts_with("VIOLATION lost: drill-")).collect();
    assert!(!named.is_empty(), "the lost messages are not named:\n{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("guarantee violation"));
    println!("caught: {}", named.join("\n"));
    Ok(())
}
