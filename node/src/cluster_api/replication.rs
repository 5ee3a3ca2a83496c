//! Writes forwarded by followers and learners, and the applied-index long poll the
//! leader uses to acknowledge a write only once every live node applied it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::Json;
use chat_raft::api::{AppliedIndex, WriteAck};
use chat_raft::Proposal;
use serde::Deserialize;

use super::error::ApiError;
use crate::Node;

/// Upper bound of one long poll, whatever the caller asks.
const MAX_POLL: Duration = Duration::from_secs(5);

/// A batch forwarded by another node. Only the leader commits it; anyone else
/// answers 421 with the leader it knows, and the sender retries there.
pub(super) async fn write(
    State(node): State<Arc<Node>>,
    Json(proposal): Json<Proposal>,
) -> Result<Json<WriteAck>, ApiError> {
    let leader = node.cluster.metrics().current_leader;
    if leader != Some(node.cluster.id()) {
        return Err(chat_raft::Error::NotLeader { leader }.into());
    }
    Ok(Json(node.cluster.commit_as_leader(proposal).await?))
}

#[derive(Deserialize)]
pub(super) struct AppliedQuery {
    min: u64,
    #[serde(default)]
    wait_ms: u64,
}

pub(super) async fn applied(State(node): State<Arc<Node>>, Query(q): Query<AppliedQuery>) -> Json<AppliedIndex> {
    let wait = Duration::from_millis(q.wait_ms).min(MAX_POLL);
    Json(AppliedIndex { applied: node.cluster.wait_applied(q.min, wait).await })
}
