//! Stopping local nodes by the pids in cluster.json: one node (`chatctl local
//! stop`), every node (end of `local up`), or every node at once with SIGKILL (a
//! dropped [`super::LocalCluster`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chat_raft::NodeId;

use super::layout::{ClusterLayout, LocalRole, NodeEntry};
use super::process::{self, Stopped, STOP_GRACE};
use crate::Error;

/// Stop node `id` of the cluster in `dir`: SIGTERM and up to [`STOP_GRACE`] to exit
/// (then SIGKILL), or SIGKILL at once with `kill`. [`Error::NotRunning`] if it is not
/// running.
pub async fn stop_node(dir: &Path, id: NodeId, kill: bool) -> Result<(NodeEntry, Stopped), Error> {
    let layout = ClusterLayout::load(dir)?;
    let node = layout.node_in(id, dir)?.clone();
    let grace = if kill { Duration::ZERO } else { STOP_GRACE };
    match process::stop(&node, grace).await? {
        Stopped::NotRunning => Err(Error::NotRunning { id }),
        stopped => Ok((node, stopped)),
    }
}

/// Stop every running node listed in cluster.json, removed ones included: edges
/// first (nothing depends on them), then voters; each group in parallel.
pub async fn stop_all(dir: &Path) -> Result<Vec<(NodeId, Stopped)>, Error> {
    stop_all_with(dir, &BTreeMap::new()).await
}

/// [`stop_all`], where `children` maps node ids to pids of the caller's own
/// unreaped children: those are the nodes for sure, whatever their command line.
pub(crate) async fn stop_all_with(dir: &Path, children: &Children) -> Result<Vec<(NodeId, Stopped)>, Error> {
    let layout = ClusterLayout::load(dir)?;
    let mut stopped = Vec::new();
    for voters in [false, true] {
        let group = layout.nodes.iter().filter(|n| (n.role == LocalRole::Voter) == voters);
        let results = futures::future::join_all(group.map(|n| async move {
            let result = match pid_of(n, children) {
                Some(pid) => process::stop_pid(n, pid, STOP_GRACE).await,
                None => Ok(Stopped::NotRunning),
            };
            match &result {
                Ok(Stopped::NotRunning) => {}
                Ok(how) => tracing::info!(node = n.id, ?how, "node stopped"),
                Err(e) => tracing::error!(node = n.id, error = %e, "could not stop node"),
            }
            result.map(|how| (n.id, how))
        }))
        .await;
        for result in results {
            stopped.push(result?);
        }
    }
    Ok(stopped)
}

/// Node ids to pids of processes the caller spawned and has not reaped yet.
pub(crate) type Children = BTreeMap<NodeId, u32>;

/// The process to stop for `node`: the caller's own child if it has one (certain,
/// even before its pid reached the file), else the recorded pid if that still runs it.
fn pid_of(node: &NodeEntry, children: &Children) -> Option<u32> {
    children.get(&node.id).copied().or_else(|| process::running_pid(node))
}

/// SIGKILL every running node of `dir` without waiting: for drop paths, where
/// nothing can be awaited. Best effort; errors are logged.
pub(crate) fn kill_all_now(dir: &Path, children: &Children) {
    let layout = match ClusterLayout::load(dir) {
        Ok(layout) => layout,
        Err(e) => return tracing::error!(error = %e, "cannot read the cluster file to kill its nodes"),
    };
    for node in &layout.nodes {
        let Some(pid) = pid_of(node, children) else { continue };
        if let Err(e) = process::kill_pid_now(node, pid) {
            tracing::error!(node = node.id, error = %e, "could not kill node");
        }
    }
}
