//! `joinRoom`, `leaveRoom` and disconnects (protocol §6.5.1, §6.5.2).
//!
//! A user is "in" a room for the socket layer while one of their sockets is in it in
//! the replicated presence state. A disconnected socket stays in presence for a grace
//! period, so a page reload re-joins its rooms silently instead of producing leave and
//! enter messages (improvement over the existing backend, protocol §10.12); after the
//! grace, rooms no other socket of the user is in are left as with `leaveRoom`.

use std::sync::Arc;
use std::time::Duration;

use chat_raft::messages::{MessageKind, NewMessage, StoredMessage};
use chat_raft::{Command, Outcome};
use serde_json::{json, Value};
use socketioxide::extract::SocketRef;

use super::render;
use super::session_user::{presence_ref, user_of, SocketUser};
use crate::auth::now_ms;
use crate::fanout::Target;
use crate::rest::ids::object_id;
use crate::Node;

/// Messages sent with `joinRoomSuccess`.
const JOIN_HISTORY: usize = 30;

fn join_error(s: &SocketRef, message: &str) {
    let _ = s.emit("joinRoomError", &json!({ "message": message }));
}

/// The per-user join/leave limit (issue 12: every join and leave is a Raft write and a
/// room-wide broadcast); shared with `POST /api/rooms/:id/join`. The refusal carries
/// `RATE_LIMIT_EXCEEDED` and `retryAfter` as `chatMessage`'s does.
async fn membership_refusal(node: &Node, user: &SocketUser) -> Option<Value> {
    let limit = node.rate_limits.membership.check(&user.user_id, now_ms()).await;
    if limit.allowed {
        return None;
    }
    node.metrics.limit_hit(crate::metrics::Limit::Membership);
    let message = "채팅방 입장/퇴장 횟수 제한을 초과했습니다. 잠시 후 다시 시도해주세요.";
    Some(super::rate_limit_exceeded(message, limit.retry_after_s))
}

pub(super) async fn join(node: Arc<Node>, s: SocketRef, data: Option<Value>) {
    let Some(user) = user_of(&s) else { return join_error(&s, "Unauthorized") };
    if let Some(refusal) = membership_refusal(&node, &user).await {
        let _ = s.emit("joinRoomError", &refusal);
        return;
    }
    let Some(room_id) = data.as_ref().and_then(Value::as_str).map(str::to_owned) else {
        return join_error(&s, "채팅방을 찾을 수 없습니다.");
    };
    let me = presence_ref(&node, &s);
    let lookup = node.cluster.read(|state| {
        let room = state.rooms.get(&room_id).cloned();
        let user_exists = state.users.contains(&user.user_id);
        let already_in = state
            .presence
            .sockets_of_user(&user.user_id)
            .filter_map(|sock| state.presence.socket(sock))
            .any(|info| info.rooms.contains(&room_id));
        (room, user_exists, already_in)
    });
    let (room, user_exists, already_in) = match lookup.await {
        Ok(found) => found,
        Err(_) => return join_error(&s, "채팅방 입장에 실패했습니다."),
    };
    if !user_exists {
        return join_error(&s, "User not found");
    }
    let Some(room) = room else { return join_error(&s, "채팅방을 찾을 수 없습니다.") };
    // A password room is entered over the socket only by its participants (who gave
    // the password through REST join): protocol §10.11.
    if room.has_password() && !room.is_participant(&user.user_id) {
        return join_error(&s, "비밀번호가 일치하지 않습니다.");
    }
    let command = Command::JoinRoom {
        room_id: room_id.clone(),
        user_id: user.user_id.clone(),
        socket: Some(me),
        password_hash: room.password_hash.clone(),
    };
    match node.cluster.propose(command).await {
        Ok(Outcome::RoomJoined { .. }) => {}
        Ok(Outcome::WrongRoomPassword) => return join_error(&s, "비밀번호가 일치하지 않습니다."),
        Ok(_) | Err(_) => return join_error(&s, "채팅방 입장에 실패했습니다."),
    }
    s.join(room_id.clone());
    if already_in {
        let _ = s.emit("joinRoomSuccess", &json!({ "roomId": room_id }));
        return;
    }
    let system = match post_system(&node, &room_id, format!("{}님이 입장하였습니다.", user.name)).await {
        Ok(system) => system,
        Err(message) => return join_error(&s, &message),
    };
    let page = match node.messages.history(&room_id, None, JOIN_HISTORY).await {
        Ok(page) => page,
        Err(_) => return join_error(&s, "채팅방 입장에 실패했습니다."),
    };
    mark_page_read(&node, &user, &page.messages);
    let participants = node.cluster.read_local(|state| render::participants(state, &room_id));
    let success = json!({
        "roomId": room_id,
        "participants": participants,
        "messages": render::history(&node, &page.messages),
        "hasMore": page.has_more,
        "activeStreams": [],
    });
    let _ = s.emit("joinRoomSuccess", &success);
    node.fanout.emit_message(&node, &system).await;
    node.fanout.emit(&node, Target::Room(room_id), "participantsUpdate", Value::Array(participants)).await;
}

/// Store a system message in a room.
async fn post_system(node: &Node, room_id: &str, content: String) -> Result<StoredMessage, String> {
    let message = NewMessage {
        id: object_id(now_ms()),
        room: room_id.to_owned(),
        sender: None,
        kind: MessageKind::System,
        content,
        file: None,
        ai_type: None,
        mentions: Vec::new(),
        metadata: Default::default(),
        at: now_ms(),
    };
    let stored = node.messages.append(message).await.map_err(|e| {
        tracing::warn!(room = room_id, error = %e, "system message not stored");
        "채팅방 입장에 실패했습니다.".to_owned()
    })?;
    Ok(stored)
}

/// Loading history marks it read by the loader (protocol §6.5.4): the loader's
/// watermark rises to the page's newest message, unless every message of the page
/// already lists the loader among its readers. Coalesced like every read mark, with
/// no `messagesRead` broadcast (the existing backend sends none either).
pub(super) fn mark_page_read(node: &Arc<Node>, user: &SocketUser, messages: &[chat_raft::messages::StoredMessage]) {
    let unread = messages
        .iter()
        .filter(|m| m.kind != MessageKind::System && !m.readers.iter().any(|r| r.user_id == user.user_id));
    let Some(newest) = unread.map(|m| m.seq).max() else { return };
    let room = messages[0].room.clone();
    let mark = chat_raft::messages::ReadMark { room, user_id: user.user_id.clone(), seq: newest, at: now_ms() };
    node.read_marks.add(mark, Vec::new(), None);
}

pub(super) async fn leave(node: Arc<Node>, s: SocketRef, data: Option<Value>) {
    let Some(user) = user_of(&s) else { return super::emit_error(&s, None, "Unauthorized") };
    let Some(room_id) = data.as_ref().and_then(Value::as_str).map(str::to_owned) else { return };
    if let Some(refusal) = membership_refusal(&node, &user).await {
        let _ = s.emit("error", &refusal);
        return;
    }
    let me = presence_ref(&node, &s);
    let in_room =
        node.cluster.read_local(|state| state.presence.socket(&me).is_some_and(|i| i.rooms.contains(&room_id)));
    if !in_room {
        return;
    }
    s.leave(room_id.clone());
    if let Err(e) = leave_room(&node, &user, &room_id).await {
        tracing::warn!(room = %room_id, error = %e, "leave failed");
        super::emit_error(&s, None, "채팅방 퇴장 중 오류가 발생했습니다.");
    }
}

/// Remove the user from the room and tell the remaining members.
async fn leave_room(node: &Node, user: &SocketUser, room_id: &str) -> Result<(), chat_raft::Error> {
    let command = Command::LeaveRoom { room_id: room_id.to_owned(), user_id: user.user_id.clone() };
    if node.cluster.propose(command).await? != (Outcome::RoomLeft { removed: true }) {
        return Ok(());
    }
    if let Ok(system) = post_system(node, room_id, format!("{}님이 퇴장하였습니다.", user.name)).await {
        node.fanout.emit_message(node, &system).await;
    }
    let participants = node.cluster.read_local(|state| render::participants(state, room_id));
    let target = Target::Room(room_id.to_owned());
    if !participants.is_empty() {
        node.fanout.emit(node, target.clone(), "participantsUpdate", Value::Array(participants)).await;
    }
    let left = json!({ "userId": user.user_id, "userName": user.name });
    node.fanout.emit(node, target, "userLeft", left).await;
    Ok(())
}

/// After the grace period, forget the socket and leave the rooms no other socket of
/// the user is in.
pub(super) async fn disconnected(node: Arc<Node>, s: SocketRef) {
    let Some(user) = user_of(&s) else { return };
    node.metrics.sockets_connected.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    let me = presence_ref(&node, &s);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(node.config.leave_grace_ms)).await;
        forget(&node, me, &user).await;
    });
}

/// Remove `me` from the replicated presence and leave the rooms no other socket of
/// `user` is in, as `leaveRoom` would.
pub(super) async fn forget(node: &Node, me: chat_raft::state::SocketRef, user: &SocketUser) {
    let rooms = match node.cluster.propose(Command::DisconnectSocket { socket: me }).await {
        Ok(Outcome::SocketDisconnected { rooms }) => rooms,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(user = %user.user_id, error = %e, "socket disconnect not recorded");
            return;
        }
    };
    for room_id in rooms {
        let still_there = node.cluster.read_local(|state| {
            state
                .presence
                .sockets_of_user(&user.user_id)
                .filter_map(|sock| state.presence.socket(sock))
                .any(|info| info.rooms.contains(&room_id))
        });
        if !still_there {
            if let Err(e) = leave_room(node, user, &room_id).await {
                tracing::warn!(room = %room_id, error = %e, "leave after disconnect failed");
            }
        }
    }
}
