//! The wire-protocol conformance suite (`tests/conformance/*.test.mjs`, docs/protocol.md) as a
//! function: the real npm `socket.io-client` 4.x and Node's fetch against a running
//! [`TestCluster`], whatever its stores. The tests in `tests/conformance.rs` (embedded)
//! and `tests/conformance_mongo.rs` (MongoDB) start the cluster and call [`run`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{NodeSpec, TestCluster};

/// A bound on the whole Node run; it normally takes well under 2 minutes.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

/// Disconnected sockets leave their rooms after this grace; the suite checks it.
pub const LEAVE_GRACE_MS: &str = "1000";

pub fn workspace_root() -> Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().context("workspace root")
}

/// The 10k-word list of protocol §6.7, kept in the repository at `tests/data/`.
pub fn banned_words() -> Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/banned_words_10k.txt");
    let path = path.canonicalize().with_context(|| format!("banned-word list not found at {}", path.display()))?;
    path.to_str().map(str::to_owned).context("banned-word path is not UTF-8")
}

/// Fail (never skip, in CI or not) when the suite's npm packages or Node are missing.
pub fn check_prerequisites() -> Result<()> {
    let suite = workspace_root()?.join("tests/conformance");
    if !suite.join("node_modules").is_dir() {
        bail!(
            "{}/node_modules is missing: run `npm ci --prefix tests/conformance` first \
             (scripts/test.sh does){}",
            suite.display(),
            if std::env::var("CI").as_deref() == Ok("true") { " [CI=true: the suite cannot be skipped]" } else { "" }
        );
    }
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .context("`node` not found: the conformance suite needs Node 20 or newer on PATH")?;
    let version = String::from_utf8_lossy(&version.stdout);
    let major: u32 = version.trim().trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 20 {
        bail!("the conformance suite needs Node 20 or newer, found {}", version.trim());
    }
    Ok(())
}

/// `CHAT_NODES` for the suite: `[{"id":1,"public":"http://127.0.0.1:PORT"}, ...]`.
fn nodes_json(cluster: &TestCluster) -> String {
    let nodes: Vec<serde_json::Value> = cluster
        .ids()
        .into_iter()
        .map(|id| serde_json::json!({ "id": id, "public": format!("http://{}", cluster.node(id).addr.public) }))
        .collect();
    serde_json::Value::Array(nodes).to_string()
}

/// The suite's cluster: 3 voters and an edge with the options the suite relies on,
/// plus `extra` (the stores under test).
pub fn spec(banned: &str, extra: &[&str]) -> NodeSpec {
    // The suite gives each test its own client address with `X-Forwarded-For: <ip>,
    // <proxy>` or `<ip>`: two trusted hops read back to `<ip>` in both forms.
    let base = [
        "--bcrypt-cost",
        "4",
        "--banned-words",
        banned,
        "--leave-grace-ms",
        LEAVE_GRACE_MS,
        "--trusted-proxy-hops",
        "2",
    ];
    NodeSpec::voters(3).with_edges(1).with_args(&[&base[..], extra].concat())
}

/// Run the suite against `cluster` (which has an edge and was started with `banned` as
/// `--banned-words` and [`LEAVE_GRACE_MS`], see [`spec`]); panics, so the cluster's Drop
/// prints the node logs, when the suite fails.
pub async fn run(cluster: &TestCluster, banned: &str) -> Result<()> {
    run_node_tests(cluster, "tests/conformance/", Some(banned), SUITE_TIMEOUT).await
}

/// Run `node --test <target>` (a file or folder of the workspace) against `cluster`,
/// one test file at a time, within `timeout`; panics, so the cluster's Drop prints the
/// node logs, when it fails.
pub async fn run_node_tests(
    cluster: &TestCluster,
    target: &str,
    banned: Option<&str>,
    timeout: Duration,
) -> Result<()> {
    let root = workspace_root()?;
    let edge = cluster.ids().into_iter().find(|id| cluster.node(*id).edge).context("the cluster has an edge")?;
    let nodes = nodes_json(cluster);
    eprintln!("{target}: CHAT_NODES={nodes} CHAT_EDGE_ID={edge}");

    let started = Instant::now();
    // Output is inherited, so it streams whatever cargo's capture setting is.
    let mut command = tokio::process::Command::new("node");
    command
        .args(["--test", "--test-concurrency=1", target])
        .current_dir(&root)
        .env("CHAT_NODES", &nodes)
        .env("CHAT_EDGE_ID", edge.to_string())
        .env_remove("NODE_TEST_CONTEXT")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(banned) = banned {
        command.env("CHAT_BANNED_WORDS", banned);
    }
    let mut child = command.spawn().context("start `node --test`")?;
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status.context("wait for `node --test`")?,
        Err(_) => {
            let _ = child.kill().await;
            panic!("{target} did not finish within {timeout:?}");
        }
    };
    eprintln!("{target}: node --test finished in {:.1?} with {status}", started.elapsed());
    assert!(status.success(), "{target} failed ({status}); see its output above");
    Ok(())
}
