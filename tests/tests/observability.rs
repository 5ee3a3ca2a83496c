//! What operators watch: `--log-format json` makes every log line a JSON object, and
//! `chatctl status --watch` shows the cluster live, with an ALERT line once a node
//! stops answering, and ends with exit 0 on Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Result};
use chat_tests::local_up::chatctl;
use chat_tests::{NodeSpec, TestCluster};

const CONVERGE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(1).with_args(&["--log-format", "json"])).await?;
    cluster.wait_for_leader(CONVERGE).await?;
    let log = std::fs::read_to_string(cluster.node(1).data_dir.join("node.log"))?;
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "nothing logged");
    let mut started = false;
    for line in &lines {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(event["timestamp"].is_string() && event["level"].is_string(), "{line}");
        started |= event["fields"]["message"] == "node started" && event["fields"]["node"] == 1;
    }
    assert!(started, "no `node started` event with its node field:\n{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_shows_the_cluster_live_and_alerts_on_a_dead_node() -> Result<()> {
    let mut cluster = TestCluster::start(NodeSpec::voters(3)).await?;
    let leader = cluster.wait_for_leader(CONVERGE).await?;
    let victim = cluster.ids().into_iter().find(|id| *id != leader).expect("a follower");
    let mut watch = Command::new(chatctl()?)
        .args(["status", "--watch", "--interval", "200ms", "--cluster"])
        .arg(&cluster.node(leader).addr.cluster)
        .args(["--secret", cluster.secret()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let (tx, lines) = mpsc::channel();
    let stdout = watch.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_line = |what: &str, fits: &dyn Fn(&str) -> bool| -> Result<String> {
        let deadline = std::time::Instant::now() + CONVERGE;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(line) if fits(&line) => return Ok(line),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        bail!("chatctl status --watch never printed {what}")
    };
    wait_line("the leader", &|l| l.contains(&format!("leader: {leader} ")))?;
    wait_line("a ready node", &|l| l.starts_with(&format!("node {victim}: ")) && l.contains("ready true"))?;
    cluster.kill(victim);
    let alert = wait_line("an alert for the dead node", &|l| l.starts_with(&format!("ALERT node {victim} not ready")))?;
    println!("{alert}");

    // Ctrl-C ends the watch, successfully.
    let sent = Command::new("kill").args(["-INT", &watch.id().to_string()]).status()?;
    assert!(sent.success(), "kill -INT failed: {sent}");
    let status = tokio::task::spawn_blocking(move || watch.wait()).await??;
    assert!(status.success(), "chatctl status --watch ended with {status}");
    Ok(())
}
