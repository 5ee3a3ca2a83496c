//! `/admin/drain` on the cluster listener: start or end draining this node of its client
//! sockets (`crate::drain`). Not forwarded: it acts on the node that receives it. The
//! work runs on the client runtime, which owns the sockets.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chat_raft::api::{DrainRequest, DrainState};
use chat_raft::Error;

use super::error::ApiError;
use crate::Node;

pub(super) async fn drain(
    State(node): State<Arc<Node>>,
    Json(req): Json<DrainRequest>,
) -> Result<Json<DrainState>, ApiError> {
    let id = node.cluster.id();
    let task = node.clone();
    let sockets = node
        .clients
        .spawn(async move {
            if req.drain {
                task.drain.start(id).await
            } else {
                task.drain.stop(id);
                task.drain.sockets()
            }
        })
        .await
        .map_err(|e| Error::Raft(format!("drain task failed: {e}")))?;
    Ok(Json(DrainState { node: id, draining: node.drain.is_draining(), sockets }))
}
