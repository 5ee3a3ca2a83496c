//! `chatctl local restart` and the detached start it shares with `add-node`: start
//! a recorded node with its ports, data, secrets and chatctl's environment, in its
//! own process group so that it outlives the command, and wait until it answers.

use std::path::Path;
use std::time::Duration;

use chat_raft::client::ClusterClient;
use chat_raft::NodeId;
use tokio::time::Instant;

use super::layout::{ClusterLayout, NodeEntry};
use super::process;
use crate::Error;

/// How long a started node may take to answer `/cluster/status`.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// Start node `id` of the cluster in `dir` again. Refused while its recorded process
/// is still running. Returns the entry with its new pid once the node answers.
pub async fn restart(dir: &Path, id: NodeId, node_bin: Option<&Path>, timeout: Duration) -> Result<NodeEntry, Error> {
    let binary = process::find_node_binary(node_bin)?;
    let layout = ClusterLayout::load(dir)?;
    let node = layout.node_in(id, dir)?;
    if let Some(pid) = process::running_pid(node) {
        return Err(Error::AlreadyRunning { id, pid });
    }
    if node.removed {
        tracing::warn!(node = id, "this node was removed from the membership; it will not rejoin by itself");
    }
    start_detached(dir, &binary, &layout, node, timeout).await
}

/// Start `node` detached, record its pid in cluster.json, and wait up to `timeout`
/// until it answers. Fails early if the process exits.
pub(crate) async fn start_detached(
    dir: &Path,
    binary: &Path,
    layout: &ClusterLayout,
    node: &NodeEntry,
    timeout: Duration,
) -> Result<NodeEntry, Error> {
    let mut child = process::spawn_detached(binary, layout, node)?;
    let pid = child.id();
    ClusterLayout::set_pid(dir, node.id, pid)?;
    tracing::info!(node = node.id, pid, log = %node.log_path().display(), "node started");

    let client = ClusterClient::new(layout.secret.clone());
    let deadline = Instant::now() + timeout;
    loop {
        if client.status(&node.cluster).await.is_ok() {
            return Ok(NodeEntry { pid: Some(pid), ..node.clone() });
        }
        let exited =
            child.try_wait().map_err(|source| Error::Process { what: format!("watching node {}", node.id), source })?;
        if let Some(status) = exited {
            return Err(Error::NodeExited { id: node.id, status: status.to_string(), log: node.log_path() });
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: format!(
                    "node {} (pid {pid}, still running) to answer at {}; see {}",
                    node.id,
                    node.cluster,
                    node.log_path().display()
                ),
                after: timeout,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
