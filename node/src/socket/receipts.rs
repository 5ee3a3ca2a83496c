//! `markMessagesAsRead` and `messageReaction` (protocol §6.5.5, §6.5.6). Both are one
//! conditional update in the store (no read-modify-write races) and a broadcast to
//! the message's room on every node. Unlike the existing backend, reactions require
//! membership of the message's room.

use std::sync::Arc;

use serde_json::{json, Value};
use socketioxide::extract::SocketRef;

use super::session_user::user_of;
use crate::auth::now_ms;
use crate::fanout::Target;
use crate::Node;

/// Most ids accepted in one `markMessagesAsRead`.
const MAX_READ_IDS: usize = 500;
/// Longest accepted reaction, in characters (an emoji sequence).
const MAX_EMOJI_CHARS: usize = 16;

fn is_participant(node: &Node, room_id: &str, user_id: &str) -> bool {
    node.cluster.read_local(|state| state.rooms.get(room_id).is_some_and(|r| r.is_participant(user_id)))
}

pub(super) async fn mark_read(node: Arc<Node>, s: SocketRef, data: Option<Value>) {
    let Some(user) = user_of(&s) else { return super::emit_error(&s, None, "Unauthorized") };
    let ids: Vec<String> = data
        .as_ref()
        .and_then(|d| d.get("messageIds"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).take(MAX_READ_IDS).map(str::to_owned).collect())
        .unwrap_or_default();
    let Some(first) = ids.first() else { return };
    let room_id = match node.messages.get(first).await {
        Ok(Some(message)) => message.room,
        Ok(None) => return super::emit_error(&s, None, "Invalid room"),
        Err(_) => return super::emit_error(&s, None, "읽음 상태 업데이트 중 오류가 발생했습니다."),
    };
    if !is_participant(&node, &room_id, &user.user_id) {
        return super::emit_error(&s, None, "Room access denied");
    }
    if let Err(e) = node.messages.mark_read(&user.user_id, &ids, now_ms()).await {
        tracing::warn!(room = %room_id, error = %e, "read marks not stored");
        return super::emit_error(&s, None, "읽음 상태 업데이트 중 오류가 발생했습니다.");
    }
    let payload = json!({ "userId": user.user_id, "messageIds": ids });
    node.fanout.emit(&node, Target::Room(room_id), "messagesRead", payload).await;
}

pub(super) async fn react(node: Arc<Node>, s: SocketRef, data: Option<Value>) {
    let Some(user) = user_of(&s) else { return super::emit_error(&s, None, "Unauthorized") };
    let data = data.unwrap_or(Value::Null);
    let message_id = data.get("messageId").and_then(Value::as_str).unwrap_or("");
    let emoji = data.get("reaction").or_else(|| data.get("emoji")).and_then(Value::as_str).unwrap_or("").trim();
    let add = match data.get("type").and_then(Value::as_str) {
        Some("add") => true,
        Some("remove") => false,
        _ => return super::emit_error(&s, None, "지원하지 않는 리액션 타입입니다."),
    };
    let message = match node.messages.get(message_id).await {
        Ok(Some(message)) => message,
        Ok(None) => return super::emit_error(&s, None, "메시지를 찾을 수 없습니다."),
        Err(_) => return super::emit_error(&s, None, "리액션 처리 중 오류가 발생했습니다."),
    };
    if emoji.is_empty() || emoji.chars().count() > MAX_EMOJI_CHARS {
        return super::emit_error(&s, None, "리액션 처리 중 오류가 발생했습니다.");
    }
    if !is_participant(&node, &message.room, &user.user_id) {
        return super::emit_error(&s, None, "채팅방 접근 권한이 없습니다.");
    }
    match node.messages.react(message_id, emoji, &user.user_id, add).await {
        Ok(Some(updated)) => {
            let payload = json!({ "messageId": message_id, "reactions": updated.reactions });
            node.fanout.emit(&node, Target::Room(updated.room), "messageReactionUpdate", payload).await;
        }
        Ok(None) => super::emit_error(&s, None, "메시지를 찾을 수 없습니다."),
        Err(e) => {
            tracing::warn!(message = message_id, error = %e, "reaction not stored");
            super::emit_error(&s, None, "리액션 처리 중 오류가 발생했습니다.");
        }
    }
}
