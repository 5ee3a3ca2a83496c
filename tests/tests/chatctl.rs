//! The operator CLI against real processes: `chatctl local up` runs a cluster in the
//! foreground, `status --json` reports it, `local stop --kill` and `local restart`
//! drive one node, and SIGINT stops every node and exits 0; `local up --lb --lb-port P`
//! puts HAProxy on P in front of the web console, as `scripts/run-local.sh` does with 8080.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat_tests::local_up::{chatctl, LocalUp};
use chat_tests::wait_until;
use serde_json::Value;

fn status(dir: &Path) -> Option<Value> {
    let out = Command::new(chatctl().ok()?).args(["status", "--json", "--data-dir"]).arg(dir).output().ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

fn pid_alive(pid: i64) -> bool {
    // A reaped or zombie process has no "State: R/S/D" line worth trusting; read it.
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| !s.lines().any(|l| l.starts_with("State:") && l.contains('Z')))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_up_status_restart_and_clean_shutdown() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut up = Command::new(chatctl()?)
        .args(["local", "up", "--nodes", "3", "--edges", "1", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    // `local up` prints "running; ..." once bootstrap is complete.
    let stdout = up.stdout.take().context("stdout")?;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = ready_tx.send(line);
        }
    });
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = ready_rx.recv().await {
            if line.starts_with("running") {
                return Ok(());
            }
        }
        bail!("chatctl local up ended before the cluster was ready")
    })
    .await??;

    let first = wait_until("a leader and four fresh nodes", Duration::from_secs(60), || async {
        let s = status(dir.path())?;
        let nodes = s["nodes"].as_array()?;
        let leader = s["leader"].as_u64()?;
        (nodes.len() == 4 && nodes.iter().all(|n| n["state"] != "unreachable")).then_some((leader, s.clone()))
    })
    .await?;
    let (leader, snapshot) = first;
    let roles: Vec<&str> = snapshot["nodes"].as_array().unwrap().iter().map(|n| n["role"].as_str().unwrap()).collect();
    assert_eq!(roles.iter().filter(|r| **r == "voter").count(), 3);
    assert_eq!(roles.iter().filter(|r| **r == "learner").count(), 1);

    let layout: Value = serde_json::from_slice(&std::fs::read(dir.path().join("cluster.json"))?)?;
    assert!(layout["secret"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(layout["nodes"].as_array().map(Vec::len), Some(4));

    // Kill the leader: a new one appears; restart it: it rejoins.
    let ok = Command::new(chatctl()?)
        .args(["local", "stop", "--kill", "--node", &leader.to_string(), "--data-dir"])
        .arg(dir.path())
        .status()?;
    assert!(ok.success());
    wait_until("a new leader", Duration::from_secs(20), || async {
        let s = status(dir.path())?;
        s["leader"].as_u64().filter(|l| *l != leader)
    })
    .await?;
    let ok = Command::new(chatctl()?)
        .args(["local", "restart", "--node", &leader.to_string(), "--data-dir"])
        .arg(dir.path())
        .status()?;
    assert!(ok.success());
    wait_until("all four nodes reachable again", Duration::from_secs(20), || async {
        let s = status(dir.path())?;
        s["nodes"].as_array()?.iter().all(|n| n["state"] != "unreachable").then_some(())
    })
    .await?;

    // SIGINT: every node listed in cluster.json stops (the restarted one included).
    let layout: Value = serde_json::from_slice(&std::fs::read(dir.path().join("cluster.json"))?)?;
    let pids: Vec<i64> = layout["nodes"].as_array().unwrap().iter().filter_map(|n| n["pid"].as_i64()).collect();
    assert_eq!(pids.len(), 4);
    let sent = Command::new("kill").args(["-INT", &up.id().to_string()]).status()?;
    assert!(sent.success());
    let exit = tokio::task::spawn_blocking(move || up.wait()).await??;
    assert!(exit.success(), "chatctl local up exited with {exit}");
    for pid in pids {
        wait_until(&format!("node pid {pid} to exit"), Duration::from_secs(15), || async {
            (!pid_alive(pid)).then_some(())
        })
        .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_up_puts_haproxy_on_a_fixed_port_in_front_of_the_web_console() -> Result<()> {
    if Command::new("haproxy").arg("-v").stdout(Stdio::null()).status().is_err() {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            bail!("haproxy is not installed (scripts/test.sh installs it)");
        }
        eprintln!("SKIPPED: haproxy is not installed");
        return Ok(());
    }
    let port = free_port_pair()?;
    let up = LocalUp::start(&["--lb", "--lb-port", &port.to_string()], &[]).await?;
    let layout: Value = serde_json::from_slice(&std::fs::read(up.dir().join("cluster.json"))?)?;
    assert_eq!(layout["lb"]["public"], format!("127.0.0.1:{port}"), "--lb-port is the frontend");
    assert_eq!(layout["lb"]["stats"], format!("127.0.0.1:{}", port + 1), "statistics next to it");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let page = http.get(format!("http://127.0.0.1:{port}/")).send().await?;
    assert_eq!(page.status(), 200);
    assert!(page.text().await?.contains("/console/js/main.js"), "the console's page through haproxy");
    let nodes: Value = http.get(format!("http://127.0.0.1:{port}/console/nodes")).send().await?.json().await?;
    assert_eq!(nodes["nodes"].as_array().map(Vec::len), Some(3), "{nodes}");
    Ok(())
}

/// A port P such that P and P+1 are free now.
fn free_port_pair() -> Result<u16> {
    for _ in 0..50 {
        let first = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = first.local_addr()?.port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no two adjacent free ports")
}
