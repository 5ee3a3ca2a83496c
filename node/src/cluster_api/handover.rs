//! Planned leadership transfer on the cluster listener: `/admin/transfer-leader`
//! (any node; forwarded to the leader, which runs `Cluster::transfer_leadership`)
//! and `/admin/campaign` (the chosen successor starts its election).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use chat_raft::api::{AdminOk, Handover, TransferRequest};
use chat_raft::Error;

use super::error::ApiError;
use crate::Node;

/// How long the leader may take to hand over (catching the successor up included).
pub(crate) const TRANSFER_DEADLINE: Duration = Duration::from_secs(5);

pub(super) async fn transfer(
    State(node): State<Arc<Node>>,
    Json(req): Json<TransferRequest>,
) -> Result<Json<Handover>, ApiError> {
    match node.cluster.leader_addr() {
        Some((leader, _)) if leader == node.cluster.id() => {
            Ok(Json(node.cluster.transfer_leadership(req.to, TRANSFER_DEADLINE).await?))
        }
        Some((_, addr)) => Ok(Json(node.cluster.client().transfer_leader(&addr, req.to).await?)),
        None => Err(Error::NoLeader.into()),
    }
}

pub(super) async fn campaign(State(node): State<Arc<Node>>) -> Result<Json<AdminOk>, ApiError> {
    node.cluster.campaign().await?;
    Ok(Json(AdminOk { ok: true, message: Some("election started".into()) }))
}
