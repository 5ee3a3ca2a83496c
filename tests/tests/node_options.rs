//! Whole-system tests of nodes started with non-default options, which the shared
//! conformance cluster cannot use without breaking other tests: small rate limits
//! (`tests/conformance/options/small_limits.mjs`) and an AI provider that cannot be
//! reached (`tests/conformance/options/ai_unreachable.mjs`). Each starts its own small
//! cluster (a voter and an edge) and runs one script with `node --test`, the real npm
//! `socket.io-client` included.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat_tests::{NodeSpec, TestCluster};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn workspace_root() -> Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().context("workspace root")
}

/// Start a voter and an edge with `args`, run `script` against them, assert it passed.
async fn run_script(args: &[&str], script: &str) -> Result<()> {
    let root = workspace_root()?;
    if !root.join("tests/conformance/node_modules/socket.io-client").exists() {
        bail!("run `npm ci --prefix tests/conformance` first (socket.io-client is missing)");
    }
    let cluster =
        TestCluster::start(NodeSpec::voters(1).with_edges(1).with_args(&[&["--bcrypt-cost", "4"], args].concat()))
            .await?;
    let nodes: Vec<serde_json::Value> = cluster
        .ids()
        .into_iter()
        .map(|id| serde_json::json!({ "id": id, "public": format!("http://{}", cluster.node(id).addr.public) }))
        .collect();
    let edge = cluster.ids().into_iter().find(|id| cluster.node(*id).edge).context("the cluster has an edge")?;
    let mut child = tokio::process::Command::new("node")
        .args(["--test", script])
        .current_dir(&root)
        .env("CHAT_NODES", serde_json::to_string(&nodes)?)
        .env("CHAT_EDGE_ID", edge.to_string())
        .env_remove("NODE_TEST_CONTEXT")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("start `node --test`")?;
    let status = match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait()).await {
        Ok(status) => status.context("wait for `node --test`")?,
        Err(_) => {
            let _ = child.kill().await;
            panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}");
        }
    };
    // A panic while the cluster is alive makes its Drop print the node logs.
    assert!(status.success(), "{script} failed ({status}); see its output above");
    drop(cluster);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_rate_limits_are_refused_as_specified() -> Result<()> {
    let window = "3600000";
    let args = [
        "--rooms-rate-limit",
        "5",
        "--rooms-rate-window-ms",
        window,
        "--chat-rate-limit",
        "5",
        "--chat-rate-window-ms",
        window,
    ];
    run_script(&args, "tests/conformance/options/small_limits.mjs").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_ai_provider_ends_replies_with_ai_message_error() -> Result<()> {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1", closed.local_addr()?);
    drop(closed);
    let args = ["--ai-provider", "openai", "--ai-url", &url, "--ai-api-key", "test-key"];
    run_script(&args, "tests/conformance/options/ai_unreachable.mjs").await
}
