//! `fetchPreviousMessages` (protocol §6.5.4): pages back by the millisecond `before`
//! cursor. Timestamps are strictly increasing per room, so paging is exact.

use std::sync::Arc;

use serde_json::{json, Value};
use socketioxide::extract::SocketRef;

use super::render;
use super::session_user::user_of;
use crate::metrics::Limit;
use crate::Node;

const DEFAULT_LIMIT: i64 = 30;
/// Largest page (protocol §10.10: unbounded before).
const MAX_LIMIT: i64 = 100;

pub(super) async fn fetch(node: Arc<Node>, s: SocketRef, data: Option<Value>) {
    let Some(user) = user_of(&s) else {
        return super::emit_error(&s, Some("UNAUTHORIZED"), "인증이 필요합니다.");
    };
    let message = "이전 메시지 요청 횟수 제한을 초과했습니다. 잠시 후 다시 시도해주세요.";
    if super::refused_by(&node, &s, &node.rate_limits.history, Limit::HistoryRate, &user.user_id, message).await {
        return;
    }
    let data = data.unwrap_or(Value::Null);
    let room_id = data.get("roomId").and_then(Value::as_str).unwrap_or("").to_owned();
    let limit = data.get("limit").and_then(Value::as_i64).filter(|l| *l > 0).unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let before = data.get("before").and_then(Value::as_f64).filter(|b| *b > 0.0).map(|b| b as u64);
    let member = node.cluster.read(|state| state.rooms.get(&room_id).is_some_and(|r| r.is_participant(&user.user_id)));
    match member.await {
        Ok(true) => {}
        Ok(false) => return super::emit_error(&s, Some("LOAD_ERROR"), "채팅방 접근 권한이 없습니다."),
        Err(_) => return super::emit_error(&s, Some("LOAD_ERROR"), "이전 메시지를 불러오는 중 오류가 발생했습니다."),
    }
    let _ = s.emit("messageLoadStart", &super::NO_ARGUMENTS);
    match node.messages.history(&room_id, before, limit as usize).await {
        Ok(page) => {
            super::rooms::mark_page_read(&node, &user, &page.messages);
            let messages = render::history(&node, &page.messages);
            let _ = s.emit("previousMessagesLoaded", &json!({ "messages": messages, "hasMore": page.has_more }));
        }
        Err(e) => {
            tracing::warn!(room = %room_id, error = %e, "history load failed");
            super::emit_error(&s, Some("LOAD_ERROR"), "이전 메시지를 불러오는 중 오류가 발생했습니다.");
        }
    }
}
