//! The operator API: status, bootstrap, membership changes, state reads, fault
//! injection and snapshots. Membership changes sent to a non-leader are forwarded to
//! the leader, so operators can talk to any node.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::Json;
use chat_raft::api::{
    AddLearnerRequest, AdminOk, FaultRequest, InitRequest, NodeRequest, NodeStatus, ProposeRequest, ProposeResponse,
};
use chat_raft::{ClusterState, Error, Request};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::Node;

fn ok(message: impl Into<String>) -> Json<AdminOk> {
    Json(AdminOk { ok: true, message: Some(message.into()) })
}

pub(super) async fn status(State(node): State<Arc<Node>>) -> Json<NodeStatus> {
    Json(node.cluster.status(node.config.health_grace()))
}

pub(super) async fn init(
    State(node): State<Arc<Node>>,
    Json(req): Json<InitRequest>,
) -> Result<Json<AdminOk>, ApiError> {
    if req.voters.is_empty() {
        return Err(Error::Invalid("the voter list is empty".into()).into());
    }
    if req.voters.contains_key(&0) {
        return Err(Error::Invalid("node id 0 is reserved".into()).into());
    }
    let count = req.voters.len();
    node.cluster.initialize(req.voters).await?;
    Ok(ok(format!("initialized with {count} voters")))
}

/// Run a membership change here if this node leads, else forward it to the leader.
async fn on_leader<B, F, Fut>(node: &Node, path: &str, body: &B, change: F) -> Result<Json<AdminOk>, ApiError>
where
    B: Serialize,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    match node.cluster.leader_addr() {
        Some((leader, _)) if leader == node.cluster.id() => {
            change().await?;
            Ok(ok("done"))
        }
        Some((_, addr)) => Ok(Json(forward(node, &addr, path, body).await?)),
        None => Err(Error::NoLeader.into()),
    }
}

async fn forward<B: Serialize, T: DeserializeOwned>(node: &Node, addr: &str, path: &str, body: &B) -> Result<T, Error> {
    node.cluster.client().post(addr, path, body, Duration::from_secs(60)).await
}

pub(super) async fn add_learner(
    State(node): State<Arc<Node>>,
    Json(req): Json<AddLearnerRequest>,
) -> Result<Json<AdminOk>, ApiError> {
    if req.id == 0 {
        return Err(Error::Invalid("node id 0 is reserved".into()).into());
    }
    if node.cluster.voters().contains(&req.id) {
        return Err(Error::Invalid(format!("node {} is already a voter", req.id)).into());
    }
    let cluster = node.cluster.clone();
    let (id, addr) = (req.id, req.addr.clone());
    on_leader(&node, "/admin/add-learner", &req, || async move { cluster.add_learner(id, addr).await }).await
}

pub(super) async fn promote(
    State(node): State<Arc<Node>>,
    Json(req): Json<NodeRequest>,
) -> Result<Json<AdminOk>, ApiError> {
    let cluster = node.cluster.clone();
    on_leader(&node, "/admin/promote", &req, || async move { cluster.promote(req.id).await }).await
}

pub(super) async fn remove(
    State(node): State<Arc<Node>>,
    Json(req): Json<NodeRequest>,
) -> Result<Json<AdminOk>, ApiError> {
    let cluster = node.cluster.clone();
    on_leader(&node, "/admin/remove", &req, || async move { cluster.remove(req.id).await }).await
}

/// Commit one command through this node (forwarded to the leader as any write).
pub(super) async fn propose(
    State(node): State<Arc<Node>>,
    Json(req): Json<ProposeRequest>,
) -> Result<Json<ProposeResponse>, ApiError> {
    let (index, outcome) = node.cluster.propose_request(Request::new(req.command)).await?;
    Ok(Json(ProposeResponse { outcome, index }))
}

#[derive(Deserialize)]
pub(super) struct StateQuery {
    #[serde(default)]
    local: bool,
}

/// The whole control state: a client-grade (fresh) read unless `?local=true`.
pub(super) async fn state(
    State(node): State<Arc<Node>>,
    Query(q): Query<StateQuery>,
) -> Result<Json<ClusterState>, ApiError> {
    if q.local {
        return Ok(Json(node.cluster.read_local(Clone::clone)));
    }
    Ok(Json(node.cluster.read(Clone::clone).await?))
}

pub(super) async fn fault(State(node): State<Arc<Node>>, Json(req): Json<FaultRequest>) -> Json<AdminOk> {
    node.cluster.contact().set_isolated(req.isolated, req.clients);
    tracing::warn!(node = node.cluster.id(), isolated = req.isolated, clients = req.clients, "fault injection changed");
    if req.isolated && req.clients {
        // Cut off from clients too: the public listeners now refuse every request
        // (`public::refuse_when_cut_off`), and the open sockets are closed.
        node.fanout.disconnect_all().await;
    }
    ok(if req.isolated { "isolated" } else { "healed" })
}

/// Build a snapshot now and answer once it covers everything applied so far.
pub(super) async fn snapshot(State(node): State<Arc<Node>>) -> Result<Json<AdminOk>, ApiError> {
    let target = node.cluster.state_machine().applied_index();
    node.cluster.raft().trigger().snapshot().await.map_err(|e| Error::Raft(e.to_string()))?;
    let mut metrics = node.cluster.raft().metrics();
    let waited = tokio::time::timeout(
        Duration::from_secs(20),
        metrics.wait_for(|m| m.snapshot.is_some_and(|s| s.index >= target)),
    )
    .await;
    match waited {
        Ok(Ok(_)) => Ok(ok(format!("snapshot at or after index {target}"))),
        _ => Err(Error::Timeout(20_000).into()),
    }
}
