//! `GET /api/rooms/{roomId}/presence` (protocol §3.5, ours): which of a room's participants
//! are online, i.e. hold at least one socket on any node according to the replicated
//! presence state. The web console marks them in its participant list. Like the room
//! detail it needs a token but no membership.
//!
//! Read from the local replica without waiting for freshness: presence is a hint that
//! changes every second, and the list must stay available during an election.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::ids;
use super::respond::ApiError;
use crate::auth::AuthUser;
use crate::Node;

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new().route("/api/rooms/{room_id}/presence", get(presence))
}

async fn presence(
    State(node): State<Arc<Node>>,
    _: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::refused(StatusCode::NOT_FOUND, "채팅방을 찾을 수 없습니다.");
    let room_id = path.ok().map(|Path(id)| id).filter(|id| ids::is_object_id(id)).ok_or_else(not_found)?;
    let online = node.cluster.read_local(|s| {
        s.rooms.get(&room_id).map(|room| {
            room.participants
                .iter()
                .filter(|user| s.presence.sockets_of_user(user).next().is_some())
                .cloned()
                .collect::<Vec<String>>()
        })
    });
    let online = online.ok_or_else(not_found)?;
    Ok(Json(json!({ "success": true, "data": { "roomId": room_id, "online": online } })))
}
