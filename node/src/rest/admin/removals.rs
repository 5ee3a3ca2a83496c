//! Admin deletion of messages and rooms (protocol §8.6, §8.7), and admins' reading of
//! any room's history, closed rooms included.
//!
//! A message deletion takes two writes: the message store turns the message into its
//! tombstone (through the Raft log in the embedded store, in MongoDB otherwise), then
//! one control command audits it and makes every node tell the room's sockets
//! (`messageDeleted`, `socket/removals.rs`). A retry after a failure between the two
//! finds the tombstone and proposes the second again; the control state audits each
//! message once. A room deletion is one control command.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chat_raft::{Command, Outcome};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{commit, Admin, ACTION_FAILED};
use crate::rest::input::ApiQuery;
use crate::rest::respond::ApiError;
use crate::socket::render;
use crate::Node;

const MESSAGE_NOT_FOUND: &str = "메시지를 찾을 수 없습니다.";
const ROOM_NOT_FOUND: &str = "채팅방을 찾을 수 없습니다.";
/// Default and largest history page, as `fetchPreviousMessages` (protocol §6.5.4).
const DEFAULT_LIMIT: usize = 30;
const MAX_LIMIT: usize = 100;

fn message_not_found() -> ApiError {
    ApiError::coded(StatusCode::NOT_FOUND, "MESSAGE_NOT_FOUND", MESSAGE_NOT_FOUND)
}

fn room_not_found() -> ApiError {
    ApiError::coded(StatusCode::NOT_FOUND, "ROOM_NOT_FOUND", ROOM_NOT_FOUND)
}

fn store_error(e: chat_storage::Error) -> ApiError {
    match e {
        chat_storage::Error::Cluster(e) => ApiError::cluster(e, ACTION_FAILED),
        other => ApiError::internal(ACTION_FAILED, other),
    }
}

/// `DELETE /api/admin/messages/{id}`: 200 with the tombstone as history now shows it;
/// `alreadyDeleted` says whether an earlier deletion made it one.
pub(super) async fn delete_message(
    State(node): State<Arc<Node>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // An unknown id costs no write: refused on this node's (fresh) replica first.
    if node.messages.locate(&id).await.map_err(store_error)?.is_none() {
        return Err(message_not_found());
    }
    let by = admin.stamp();
    let tombstone = node.messages.delete(&id, by.at).await.map_err(store_error)?.ok_or_else(message_not_found)?;
    let room_id = tombstone.room.clone();
    let outcome =
        commit(&node, Command::DeleteMessage { message_id: id.clone(), room_id: room_id.clone(), by }).await?;
    let first = matches!(outcome, Outcome::MessageDeleted { first: true });
    if first {
        tracing::info!(node = node.config.id, admin = %admin.0.user.id, message = %id, room = %room_id, "message deleted");
    }
    let message = if first { "메시지가 삭제되었습니다." } else { "이미 삭제된 메시지입니다." };
    let shown = render::history(&node, std::slice::from_ref(&tombstone)).pop().unwrap_or(Value::Null);
    Ok(Json(json!({ "success": true, "message": message, "alreadyDeleted": !first, "data": shown })).into_response())
}

/// `DELETE /api/admin/rooms/{id}`: the room is closed on every node once answered.
pub(super) async fn delete_room(
    State(node): State<Arc<Node>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let outcome = commit(&node, Command::DeleteRoom { room_id: id.clone(), by: admin.stamp() }).await?;
    let (message, already) = match outcome {
        Outcome::RoomDeleted { members } => {
            let members = members.len();
            tracing::info!(node = node.config.id, admin = %admin.0.user.id, room = %id, members, "room deleted");
            ("채팅방이 삭제되었습니다.", false)
        }
        Outcome::Unchanged => ("이미 삭제된 채팅방입니다.", true),
        Outcome::UnknownRoom => return Err(room_not_found()),
        other => return Err(ApiError::internal(ACTION_FAILED, format!("delete room answered {other:?}"))),
    };
    Ok(Json(json!({ "success": true, "message": message, "alreadyDeleted": already })).into_response())
}

/// `before` (epoch ms, exclusive) and `limit` as sent: strings, so junk becomes our 400.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawPage {
    before: Option<String>,
    limit: Option<String>,
}

/// `GET /api/admin/rooms/{id}/messages?before&limit`: a history page of an open or a
/// closed room, in the `previousMessagesLoaded` shape, with the room's state.
pub(super) async fn room_messages(
    State(node): State<Arc<Node>>,
    _: Admin,
    Path(id): Path<String>,
    ApiQuery(raw): ApiQuery<RawPage>,
) -> Result<Response, ApiError> {
    let before = number(raw.before.as_deref())?.filter(|b| *b > 0);
    let limit = number(raw.limit.as_deref())?.map_or(DEFAULT_LIMIT, |l| (l as usize).clamp(1, MAX_LIMIT));
    let room = node
        .cluster
        .read(|state| match (state.rooms.get(&id), state.rooms.closed(&id)) {
            (Some(room), _) => Some(json!({ "id": room.id, "name": room.name, "deleted": false, "deletedAt": null })),
            (None, Some(closed)) => Some(json!({
                "id": closed.room.id, "name": closed.room.name, "deleted": true,
                "deletedAt": crate::rest::room_view::iso_ms(closed.closed_at),
            })),
            (None, None) => None,
        })
        .await
        .map_err(|e| ApiError::cluster(e, ACTION_FAILED))?
        .ok_or_else(room_not_found)?;
    let page = node.messages.history(&id, before, limit).await.map_err(store_error)?;
    let messages = render::history(&node, &page.messages);
    Ok(Json(json!({ "success": true, "room": room, "messages": messages, "hasMore": page.has_more })).into_response())
}

fn number(value: Option<&str>) -> Result<Option<u64>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ApiError::InvalidRequest),
    }
}
