//! Kill (SIGKILL) the node a Socket.IO client is connected to: the client reconnects
//! to another node's address without logging in again, re-joins its room, and
//! `fetchPreviousMessages` returns every message that had been acknowledged.
//! The client is the real socket.io-client, driven by
//! `tests/conformance/failover/kill_node.mjs`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat_tests::{NodeSpec, TestCluster};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_survives_the_death_of_its_node() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if !root.join("tests/conformance/node_modules/socket.io-client").exists() {
        bail!("run `npm ci --prefix tests/conformance` first (socket.io-client is missing)");
    }
    let mut cluster = TestCluster::start(NodeSpec::voters(3).with_edges(1).with_args(&["--bcrypt-cost", "4"])).await?;
    let victim = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let nodes: Vec<serde_json::Value> = cluster
        .ids()
        .into_iter()
        .map(|id| serde_json::json!({ "id": id, "public": format!("http://{}", cluster.node(id).addr.public) }))
        .collect();
    let banned = root.join("tests/data/banned_words_10k.txt");
    let mut script = tokio::process::Command::new("node")
        .arg("tests/conformance/failover/kill_node.mjs")
        .arg(victim.to_string())
        .current_dir(&root)
        .env("CHAT_NODES", serde_json::to_string(&nodes)?)
        .env("CHAT_EDGE_ID", "4")
        .env("CHAT_BANNED_WORDS", banned)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("run node")?;
    let mut stdin = script.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(script.stdout.take().context("stdout")?).lines();
    let mut result = None;
    let run = async {
        while let Some(line) = lines.next_line().await? {
            println!("{line}");
            if line.starts_with("KILL ") {
                cluster.kill(victim);
                stdin.write_all(b"KILLED\n").await?;
            } else if let Some(json) = line.strip_prefix("RESULT ") {
                result = Some(json.to_owned());
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(120), run).await.context("the failover script timed out")??;
    let status = script.wait().await?;
    assert!(status.success(), "the failover script failed: {status}");
    println!("killed node {victim} (the leader); client result: {}", result.context("no RESULT line")?);
    Ok(())
}
