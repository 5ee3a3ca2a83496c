//! The cluster dashboard's operator actions (protocol §12), for admins only:
//!
//! - `POST /api/console/cluster/transfer-leader {to?}`: hand leadership to voter `to`, or
//!   to the most up-to-date other voter; proxied to this node's own cluster listener
//!   (`/admin/transfer-leader`, which forwards it to the leader).
//! - `POST /api/console/cluster/drain {node, drain?}`: start (`drain` true, the default)
//!   or end draining member `node` of its client sockets (`/admin/drain` on that
//!   member's cluster listener; `crate::drain` says what draining does).
//!
//! The cluster secret stays on the server: the browser only ever sends its admin token.
//! Failures are never 503, which the console would retry on another node: an operator
//! action is done once, and its outcome is shown as it is.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chat_raft::{Error, NodeId};
use serde::Deserialize;
use serde_json::{json, Value};

use super::cluster_view::require_admin;
use super::input::ApiJson;
use super::respond::ApiError;
use crate::auth::AuthUser;
use crate::Node;

const UNKNOWN_NODE: &str = "클러스터에 없는 노드입니다.";

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/console/cluster/transfer-leader", post(transfer_leader))
        .route("/api/console/cluster/drain", post(drain))
}

#[derive(Deserialize)]
struct TransferBody {
    to: Option<NodeId>,
}

async fn transfer_leader(
    State(node): State<Arc<Node>>,
    user: AuthUser,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&user)?;
    let members = node.cluster.members();
    if let Some(to) = body.to.filter(|to| !members.contains_key(to)) {
        return Err(unknown_node(to));
    }
    let own = members.get(&node.cluster.id()).ok_or_else(|| refused(Error::Invalid(UNKNOWN_NODE.into())))?;
    let handover = node.cluster.client().transfer_leader(&own.cluster, body.to).await.map_err(refused)?;
    tracing::info!(admin = %user.user.id, from = handover.from, to = handover.to, took_ms = handover.took_ms, "leadership transferred from the console");
    Ok(Json(json!({ "success": true, "data": handover })))
}

#[derive(Deserialize)]
struct DrainBody {
    node: Option<NodeId>,
    drain: Option<bool>,
}

async fn drain(
    State(node): State<Arc<Node>>,
    user: AuthUser,
    ApiJson(body): ApiJson<DrainBody>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&user)?;
    let Some(target) = body.node else {
        let error = super::respond::FieldError { field: "node", message: "노드를 지정해주세요." };
        return Err(ApiError::Validation { errors: vec![error], auth: false });
    };
    let member = node.cluster.members().remove(&target).ok_or_else(|| unknown_node(target))?;
    let drain = body.drain.unwrap_or(true);
    let state = node.cluster.client().drain(&member.cluster, drain).await.map_err(refused)?;
    tracing::info!(admin = %user.user.id, node = target, draining = state.draining, sockets = state.sockets, "drain changed from the console");
    Ok(Json(json!({ "success": true, "data": state })))
}

fn unknown_node(id: NodeId) -> ApiError {
    ApiError::coded(StatusCode::NOT_FOUND, "NODE_NOT_FOUND", UNKNOWN_NODE).with_field("node", json!(id))
}

/// The cluster's refusal, with its reason for the operator: a bad choice is 400, no
/// leader 409, a timeout 504, anything else 502.
fn refused(e: Error) -> ApiError {
    let (status, code) = match &e {
        Error::Invalid(_) => (StatusCode::BAD_REQUEST, "INVALID_NODE"),
        Error::NoLeader | Error::NotLeader { .. } | Error::Stale => (StatusCode::CONFLICT, "NO_LEADER"),
        Error::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "TIMEOUT"),
        _ => (StatusCode::BAD_GATEWAY, "CLUSTER_ERROR"),
    };
    let message = match e {
        Error::Invalid(reason) => reason,
        other => other.to_string(),
    };
    ApiError::coded(status, code, message)
}
