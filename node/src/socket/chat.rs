//! `chatMessage` (protocol §6.5.3): checks in the specified order, store (which assigns
//! the room `seq`), then broadcast to the room on every node, sender included.

use std::sync::Arc;

use chat_raft::messages::{FileRef, MessageKind, NewMessage, StoredMessage};
use chat_raft::state::Sanction;
use chat_raft::{Command, Outcome};
use serde_json::Value;
use socketioxide::extract::SocketRef;

use super::session_user::{live_user, refuse, SessionRefusal};
use crate::auth::now_ms;
use crate::auth::session;
use crate::metrics::{Limit, Rejection};
use crate::rest::ids::object_id;
use crate::rest::room_view::iso_ms;
use crate::Node;

/// Longest accepted message, in characters (protocol §10.19: unbounded before).
pub(crate) const MAX_CONTENT_CHARS: usize = 10_000;

const NO_ACCESS: &str = "채팅방 접근 권한이 없습니다.";

fn message_error(s: &SocketRef, message: &str) {
    super::emit_error(s, Some("MESSAGE_ERROR"), message);
}

/// A muted user may read but not send (protocol §8.3): `MESSAGE_ERROR` with the end
/// time (`mutedUntil`, ISO-8601) and the reason.
fn muted(s: &SocketRef, mute: &Sanction) {
    let until = mute.until.map(iso_ms).unwrap_or_default();
    let payload = serde_json::json!({
        "code": "MESSAGE_ERROR",
        "message": format!("채팅이 제한되었습니다. (해제: {until})"),
        "mutedUntil": mute.until.map(iso_ms),
        "reason": mute.reason,
    });
    let _ = s.emit("error", &payload);
}

/// A `chatMessage` as it arrives, before it is queued: refusals that need no state
/// (no payload, content over [`MAX_CONTENT_CHARS`], the socket's queue full) are
/// answered at once and never take queue space.
pub(super) fn arrived(node: &Node, s: &SocketRef, data: Option<Value>) {
    let Some(data) = data.filter(|d| d.is_object()) else {
        return message_error(s, "메시지 데이터가 없습니다.");
    };
    if content_of(&data).chars().count() > MAX_CONTENT_CHARS {
        node.metrics.reject(Rejection::Invalid);
        node.metrics.limit_hit(Limit::MessageSize);
        return message_error(s, "메시지가 너무 깁니다.");
    }
    let Some(queue) = s.extensions.get::<super::ChatQueue>() else { return };
    if queue.0.try_send(data).is_err() {
        node.metrics.limit_hit(Limit::ChatQueue);
        rate_limited(s, 1);
    }
}

/// Handle one `chatMessage`; called by the socket's chat worker, one at a time.
pub(super) async fn send(node: Arc<Node>, s: SocketRef, data: Option<Value>) {
    let Some(data) = data.filter(|d| d.is_object()) else {
        return message_error(&s, "메시지 데이터가 없습니다.");
    };
    let (user, record) = match live_user(&node, &s).await {
        Ok(live) => live,
        Err(SessionRefusal::Unavailable) => return message_error(&s, "메시지 전송 중 오류가 발생했습니다."),
        Err(expired) => return refuse(&s, expired),
    };
    if let Some(mute) = record.mute_at(now_ms()) {
        node.metrics.reject(Rejection::Muted);
        return muted(&s, mute);
    }
    let limit = node.rate_limits.chat.check(&user.user_id, now_ms()).await;
    if !limit.allowed {
        node.metrics.limit_hit(Limit::ChatRate);
        return rate_limited(&s, limit.retry_after_s);
    }
    let room_id = data.get("room").and_then(Value::as_str).unwrap_or("").trim().to_owned();
    if room_id.is_empty() {
        return message_error(&s, "채팅방 정보가 없습니다.");
    }
    let member =
        node.cluster.read_local(|state| state.rooms.get(&room_id).is_some_and(|r| r.is_participant(&user.user_id)));
    if !member {
        node.metrics.reject(Rejection::Access);
        return message_error(&s, NO_ACCESS);
    }
    let kind = data.get("type").and_then(Value::as_str).unwrap_or("text");
    let content = content_of(&data);
    if node.banned_words.as_ref().is_some_and(|words| words.matches(&content)) {
        node.metrics.reject(Rejection::BannedWord);
        return super::emit_error(&s, Some("MESSAGE_REJECTED"), "금칙어가 포함된 메시지는 전송할 수 없습니다.");
    }
    // Before a file is attached to the room: a refused message grants no access.
    if content.chars().count() > MAX_CONTENT_CHARS {
        node.metrics.reject(Rejection::Invalid);
        node.metrics.limit_hit(Limit::MessageSize);
        return message_error(&s, "메시지가 너무 깁니다.");
    }
    let (kind, file) = match kind {
        "text" if content.is_empty() => return,
        "text" => (MessageKind::Text, None),
        "file" => match attach_file(&node, &data, &room_id, &user.user_id).await {
            Ok(file) => (MessageKind::File, Some(file)),
            Err(refusal) => return message_error(&s, refusal),
        },
        other => return message_error(&s, &format!("Unsupported message type: {other}")),
    };
    let message = NewMessage {
        id: object_id(now_ms()),
        room: room_id.clone(),
        sender: Some(user.user_id.clone()),
        kind,
        mentions: ai_mentions(&content),
        content,
        metadata: file.as_ref().map(file_metadata).unwrap_or_default(),
        file,
        ai_type: None,
        at: now_ms(),
    };
    if node.config.unsafe_ack_before_commit {
        unsafe_early_ack(&s, &message).await;
    }
    let began = std::time::Instant::now();
    let id = message.id.clone();
    if node.announces_on_apply() {
        node.fanout.hold(&id);
    }
    let stored = node.messages.append(message).await;
    node.metrics.store_latency.observe(began.elapsed());
    let stored = match stored {
        Ok(stored) => {
            node.metrics.messages_accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            stored
        }
        Err(e) => {
            node.fanout.release(&id);
            node.metrics.reject(Rejection::StoreFailed);
            tracing::warn!(room = %room_id, user = %user.user_id, error = %e, "message not stored");
            return message_error(&s, "메시지 전송 중 오류가 발생했습니다.");
        }
    };
    node.fanout.emit_message(&node, &stored).await;
    if ai_reply_allowed(&node, &s, &user.user_id, &stored).await {
        crate::ai::start_replies(&node, &stored).await;
    }
    crate::mentions::notify(&node, &stored, &user.user_id).await;
    session::record_activity(&node, &user.user_id, &user.session_id);
}

/// TEST ONLY (`--unsafe-ack-before-commit`, see config.rs): acknowledge the message
/// to its sender before it is stored, then hold it back for a second, as a write-behind
/// buffer would. The drill test kills the node meanwhile and expects the loss reported.
async fn unsafe_early_ack(s: &SocketRef, message: &NewMessage) {
    let early = serde_json::json!({
        "_id": message.id, "room": message.room, "content": message.content,
        "type": "text", "timestamp": message.at,
    });
    let _ = s.emit("message", &early);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

/// Checks 9 and 10 of protocol §6.5.3 for a file message: `fileData._id` names a chat
/// upload of the sender. The room is attached to the file before the message is
/// stored, so every participant who sees the message can already download the file.
async fn attach_file(node: &Node, data: &Value, room_id: &str, user_id: &str) -> Result<FileRef, &'static str> {
    const NOT_FOUND: &str = "파일을 찾을 수 없거나 접근 권한이 없습니다.";
    let Some(file_id) = data.get("fileData").and_then(|f| f.get("_id")).and_then(Value::as_str) else {
        return Err("파일 데이터가 올바르지 않습니다.");
    };
    let record = node.cluster.read_local(|state| state.files.get(file_id).cloned());
    let Some(record) = record.filter(|f| f.user == user_id && !f.is_profile_image()) else {
        node.metrics.reject(Rejection::Access);
        return Err(NOT_FOUND);
    };
    let command = Command::AttachFile { file_id: record.id.clone(), room_id: room_id.to_owned() };
    match node.cluster.propose(command).await {
        Ok(Outcome::FileAttached { .. }) => {}
        Ok(Outcome::UnknownFile) => return Err(NOT_FOUND),
        Ok(Outcome::UnknownRoom) => return Err(NO_ACCESS),
        Ok(other) => {
            tracing::warn!(file = %record.id, room = %room_id, outcome = ?other, "file not attached");
            return Err("메시지 전송 중 오류가 발생했습니다.");
        }
        Err(e) => {
            tracing::warn!(file = %record.id, room = %room_id, error = %e, "file not attached");
            return Err("메시지 전송 중 오류가 발생했습니다.");
        }
    }
    Ok(FileRef {
        id: record.id,
        filename: record.filename,
        originalname: record.originalname,
        mimetype: record.mimetype,
        size: record.size,
        user: record.user,
        upload_date: record.upload_date,
    })
}

/// `metadata` of a file message (protocol §5.3).
fn file_metadata(file: &FileRef) -> serde_json::Map<String, Value> {
    let mut metadata = serde_json::Map::new();
    metadata.insert("fileType".into(), Value::from(file.mimetype.clone()));
    metadata.insert("fileSize".into(), Value::from(file.size));
    metadata.insert("originalName".into(), Value::from(file.originalname.clone()));
    metadata
}

/// Whether a stored message mentioning an AI persona may start AI replies: each reply
/// is a call to the AI provider, so they are limited per user (issue 12). Past the
/// limit the message stays delivered, and the sender is told there is no reply.
async fn ai_reply_allowed(node: &Node, s: &SocketRef, user_id: &str, stored: &StoredMessage) -> bool {
    if stored.mentions.is_empty() {
        return true;
    }
    let message = "AI 호출 횟수 제한을 초과했습니다. 메시지는 전송되었지만 AI 응답은 없습니다.";
    !super::refused_by(node, s, &node.rate_limits.ai_mentions, Limit::AiMentionRate, user_id, message).await
}

/// Check 4 of protocol §6.5.3: the per-user message limit.
fn rate_limited(s: &SocketRef, retry_after_s: u64) {
    let message = "메시지 전송 횟수 제한을 초과했습니다. 잠시 후 다시 시도해주세요.";
    let _ = s.emit("error", &super::rate_limit_exceeded(message, retry_after_s));
}

/// Trimmed `content`, or the legacy `msg` field when content is blank.
fn content_of(data: &Value) -> String {
    let content = data.get("content").and_then(Value::as_str).unwrap_or("").trim();
    if !content.is_empty() {
        return content.to_owned();
    }
    data.get("msg").and_then(Value::as_str).unwrap_or("").trim().to_owned()
}

/// AI personas mentioned, in order of first appearance (stored, never emitted).
fn ai_mentions(content: &str) -> Vec<String> {
    let mut found: Vec<(usize, &str)> = ["wayneAI", "consultingAI"]
        .into_iter()
        .filter_map(|name| {
            content
                .match_indices(&format!("@{name}"))
                .find(|(at, m)| {
                    let next = content[at + m.len()..].chars().next();
                    !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
                })
                .map(|(at, _)| (at, name))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, name)| name.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_falls_back_to_msg() {
        assert_eq!(content_of(&json!({"content": "  hi  "})), "hi");
        assert_eq!(content_of(&json!({"content": "   ", "msg": " legacy "})), "legacy");
        assert_eq!(content_of(&json!({"room": "r"})), "");
    }

    #[test]
    fn ai_mentions_are_distinct_and_ordered() {
        assert_eq!(ai_mentions("@consultingAI and @wayneAI and @wayneAI"), vec!["consultingAI", "wayneAI"]);
        assert!(ai_mentions("@wayneAIx is not a mention").is_empty());
        assert!(ai_mentions("plain text").is_empty());
    }
}
