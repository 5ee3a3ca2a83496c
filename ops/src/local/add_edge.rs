//! The local half of `chatctl add-node --data-dir`: record a new edge in
//! cluster.json (fresh free ports, `DIR/node-<id>`) and start it detached. Adding it
//! to the membership is [`crate::membership`]'s part.

use std::path::Path;
use std::time::Duration;

use chat_raft::NodeId;

use super::layout::{ClusterLayout, LocalRole, NodeEntry};
use super::restart::start_detached;
use super::{ports, process};
use crate::Error;

/// Record edge `id` in the cluster of `dir` and start it; returns its entry once it
/// answers. Ids are never reused, so an id already in the file is refused.
pub async fn add_edge(dir: &Path, id: NodeId, node_bin: Option<&Path>, timeout: Duration) -> Result<NodeEntry, Error> {
    if id == 0 {
        return Err(Error::Usage("--id must be 1 or more (0 is reserved)".into()));
    }
    let binary = process::find_node_binary(node_bin)?;
    let dir = std::fs::canonicalize(dir).map_err(Error::io(dir))?;
    let addr = ports::free_node_addr()?;
    let layout = ClusterLayout::update(&dir, |layout| {
        if layout.node(id).is_some() {
            return Err(Error::DuplicateNode { id, path: ClusterLayout::path(&dir) });
        }
        layout.nodes.push(NodeEntry {
            id,
            role: LocalRole::Edge,
            pid: None,
            public: addr.public,
            cluster: addr.cluster,
            data_dir: dir.join(format!("node-{id}")),
            removed: false,
        });
        Ok(layout.clone())
    })?;
    let node = layout.node_in(id, &dir)?;
    start_detached(&dir, &binary, &layout, node, timeout).await
}

/// Undo [`add_edge`] after the membership refused the node: stop it and drop its
/// entry, so that the same id can be tried again. Its directory is left for its log.
pub async fn forget_edge(dir: &Path, id: NodeId) {
    let undo = async {
        let layout = ClusterLayout::load(dir)?;
        process::stop(layout.node_in(id, dir)?, process::STOP_GRACE).await?;
        ClusterLayout::update(dir, |layout| {
            layout.nodes.retain(|n| n.id != id);
            Ok(())
        })
    };
    if let Err(e) = undo.await {
        tracing::error!(node = id, error = %e, "could not undo starting the node");
    }
}
