//! `markMessagesAsRead` and `messageReaction` (protocol §6.5.5, §6.5.6). A read mark
//! raises the member's watermark in the room, coalesced with the node's other marks
//! and broadcast as `messagesRead` once stored (`read_marks.rs`); a reaction is one
//! conditional update in the store and a broadcast to the message's room on every
//! node. Unlike the existing backend, reactions require membership of the message's
//! room.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chat_raft::messages::{reaction_cap_reached, ReadMark, DELETED_CONTENT, MAX_REACTIONS_PER_MESSAGE};
use serde_json::{json, Value};
use socketioxide::extract::SocketRef;

use super::session_user::user_of;
use crate::auth::now_ms;
use crate::fanout::Target;
use crate::metrics::Limit;
use crate::ratelimit::Decision;
use crate::Node;

/// Most ids accepted in one `markMessagesAsRead`.
const MAX_READ_IDS: usize = 500;
/// Longest accepted reaction, in characters (an emoji sequence).
const MAX_EMOJI_CHARS: usize = 16;

/// The end (epoch ms) of the last rate-limit window in which this socket was told its
/// read marks are refused, kept in the socket's extensions: a client marking every
/// delivered message would otherwise get one `error` per message while refused.
#[derive(Clone, Default)]
pub(super) struct ReadMarksRefused(Arc<AtomicU64>);

/// Drop a read mark over the per-user limit, telling the socket once per window.
fn refuse_read_mark(node: &Node, s: &SocketRef, limit: &Decision) {
    // Counted after the emit, so a count seen in /metrics has its `error` queued.
    let told = s.extensions.get::<ReadMarksRefused>();
    if told.is_some_and(|told| told.0.swap(limit.reset_at, Ordering::Relaxed) != limit.reset_at) {
        emit_read_mark_refusal(s, limit);
    }
    node.metrics.limit_hit(Limit::ReadMarkRate);
}

fn emit_read_mark_refusal(s: &SocketRef, limit: &Decision) {
    let message = "읽음 처리 횟수 제한을 초과했습니다. 잠시 후 다시 시도해주세요.";
    let _ = s.emit("error", &super::rate_limit_exceeded(message, limit.retry_after_s));
}

fn is_participant(node: &Node, room_id: &str, user_id: &str) -> bool {
    node.cluster.read_local(|state| state.rooms.get(room_id).is_some_and(|r| r.is_participant(user_id)))
}

/// Marks the rooms of the listed messages read up to the newest listed message of
/// each (a watermark, `read_marks.rs`). The first id decides the errors, as in the
/// existing backend; ids of other rooms count only where the user is a participant,
/// so a mixed list never marks anything in a room the user does not belong to.
pub(super) async fn mark_read(node: Arc<Node>, s: SocketRef, data: Option<Value>) {
    let Some(user) = user_of(&s) else { return super::emit_error(&s, None, "Unauthorized") };
    let limit = node.rate_limits.read_marks.check(&user.user_id, now_ms()).await;
    if !limit.allowed {
        return refuse_read_mark(&node, &s, &limit);
    }
    let mut seen = HashSet::new();
    let ids: Vec<String> = data
        .as_ref()
        .and_then(|d| d.get("messageIds"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).filter(|id| seen.insert(*id)).take(MAX_READ_IDS))
        .map(|ids| ids.map(str::to_owned).collect())
        .unwrap_or_default();
    // (room, highest seq, ids) in the order the rooms first appear.
    let mut rooms: Vec<(String, u64, Vec<String>)> = Vec::new();
    // Rooms found not to be the user's: membership is checked once per distinct room,
    // not per id (this runs for every delivered message under load).
    let mut denied: Vec<String> = Vec::new();
    for (i, id) in ids.into_iter().enumerate() {
        let message = match node.messages.locate(&id).await {
            Ok(Some(message)) => message,
            Ok(None) if i == 0 => return super::emit_error(&s, None, "Invalid room"),
            Ok(None) => continue,
            Err(_) => return super::emit_error(&s, None, crate::read_marks::STORE_FAILED),
        };
        let known = rooms.iter().any(|(room, ..)| *room == message.room);
        if !known && (denied.contains(&message.room) || !is_participant(&node, &message.room, &user.user_id)) {
            denied.push(message.room);
            if i == 0 {
                return super::emit_error(&s, None, "Room access denied");
            }
            continue;
        }
        match rooms.iter_mut().find(|(room, ..)| *room == message.room) {
            Some((_, seq, ids)) => {
                *seq = (*seq).max(message.seq);
                ids.push(id);
            }
            None => rooms.push((message.room, message.seq, vec![id])),
        }
    }
    let at = now_ms();
    for (room, seq, ids) in rooms {
        let mark = ReadMark { room, user_id: user.user_id.clone(), seq, at };
        node.read_marks.add(mark, ids, Some(s.clone()));
    }
}

pub(super) async fn react(node: Arc<Node>, s: SocketRef, data: Option<Value>) {
    let Some(user) = user_of(&s) else { return super::emit_error(&s, None, "Unauthorized") };
    let message = "리액션 횟수 제한을 초과했습니다. 잠시 후 다시 시도해주세요.";
    if super::refused_by(&node, &s, &node.rate_limits.reactions, Limit::ReactionRate, &user.user_id, message).await {
        return;
    }
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
    if message.deleted_at.is_some() {
        // A tombstone has no reactions (protocol §8.6).
        return super::emit_error(&s, Some("MESSAGE_DELETED"), DELETED_CONTENT);
    }
    if add && reaction_cap_reached(&message.reactions, emoji) {
        node.metrics.limit_hit(Limit::Reactions);
        let text = format!("메시지당 리액션은 {MAX_REACTIONS_PER_MESSAGE}종류까지 가능합니다.");
        return super::emit_error(&s, Some("REACTION_LIMIT"), &text);
    }
    match node.messages.react(message_id, emoji, &user.user_id, add).await {
        // Every node announces it as it applies the change (fanout::applied).
        Ok(Some(_)) if node.announces_on_apply() => {}
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
