//! Kill (SIGKILL) the node a Socket.IO client is connected to: the client reconnects
//! to another node's address without logging in again, re-joins its room, and
//! `fetchPreviousMessages` returns every message that had been acknowledged.
//! The client is the real socket.io-client, driven by
//! `tests/conformance/failover/kill_node.mjs`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat_tests::node_script::NodeScript;
use chat_tests::{NodeSpec, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_survives_the_death_of_its_node() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if !root.join("tests/conformance/node_modules/socket.io-client").exists() {
        bail!("run `npm ci --prefix tests/conformance` first (socket.io-client is missing)");
    }
    let mut cluster = TestCluster::start(NodeSpec::voters(3).with_edges(1).with_args(&["--bcrypt-cost", "4"])).await?;
    let victim = cluster.wait_for_leader(Duration::from_secs(20)).await?;
    let banned = root.join("tests/data/banned_words_10k.txt");
    let env = [("CHAT_EDGE_ID", "4".to_owned()), ("CHAT_BANNED_WORDS", banned.display().to_string())];
    let mut script =
        NodeScript::spawn(&root, &["tests/conformance/failover/kill_node.mjs", &victim.to_string()], &cluster, &env)?;
    let mut result = None;
    let run = async {
        while let Some(line) = script.next_line().await? {
            if line.starts_with("KILL ") {
                cluster.kill(victim);
                script.answer("KILLED").await?;
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
