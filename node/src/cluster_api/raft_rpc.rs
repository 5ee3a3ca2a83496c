//! Raft RPCs from peers. The answer body is the JSON of openraft's `Result`, so a
//! Raft-level refusal (e.g. a higher vote) reaches the caller as a remote error.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chat_raft::{NodeId, TypeConfig};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};

use crate::Node;

pub(super) async fn append(
    State(node): State<Arc<Node>>,
    Json(rpc): Json<AppendEntriesRequest<TypeConfig>>,
) -> Json<Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>> {
    Json(node.cluster.handle_append(rpc).await)
}

pub(super) async fn vote(
    State(node): State<Arc<Node>>,
    Json(rpc): Json<VoteRequest<NodeId>>,
) -> Json<Result<VoteResponse<NodeId>, RaftError<NodeId>>> {
    Json(node.cluster.handle_vote(rpc).await)
}

pub(super) async fn snapshot(
    State(node): State<Arc<Node>>,
    Json(rpc): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Json<Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>> {
    Json(node.cluster.handle_snapshot(rpc).await)
}
