//! Whole-system tests of nodes started with non-default options, which the shared
//! conformance cluster cannot use without breaking other tests: small rate limits
//! (`tests/conformance/options/small_limits.mjs`) and an AI provider that cannot be
//! reached (`tests/conformance/options/ai_unreachable.mjs`). Each starts its own small
//! cluster (a voter and an edge) and runs one script with `node --test`, the real npm
//! `socket.io-client` included.

use std::time::Duration;

use anyhow::Result;
use chat_tests::{protocol_suite, NodeSpec, TestCluster};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Start a voter and an edge with `args`, run `script` against them, assert it passed.
async fn run_script(args: &[&str], script: &str) -> Result<()> {
    protocol_suite::check_prerequisites()?;
    let cluster =
        TestCluster::start(NodeSpec::voters(1).with_edges(1).with_args(&[&["--bcrypt-cost", "4"], args].concat()))
            .await?;
    protocol_suite::run_node_tests(&cluster, script, None, SCRIPT_TIMEOUT).await?;
    drop(cluster);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_rate_limits_are_refused_as_specified() -> Result<()> {
    let window = "3600000";
    // small_limits.mjs sets `X-Forwarded-For` as the client address.
    let args = [
        "--trusted-proxy-hops",
        "1",
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
