//! The JSON shapes of protocol §7: messages as broadcast live and as loaded from
//! history, and participant lists (UserResponse).

use std::collections::HashMap;

use chat_raft::messages::{FileRef, MessageKind, StoredMessage};
use chat_raft::state::User;
use chat_raft::ClusterState;
use serde_json::{json, Map, Value};

use crate::Node;

/// Display data of the users that sent some messages, by user id.
pub(crate) type Senders = HashMap<String, User>;

/// Look up the senders of `messages` on the local replica, in one read.
pub(crate) fn senders(node: &Node, messages: &[StoredMessage]) -> Senders {
    node.cluster.read_local(|state| {
        messages
            .iter()
            .filter_map(|m| m.sender.as_deref())
            .filter_map(|id| state.users.get(id))
            .map(|u| (u.id.clone(), u.clone()))
            .collect()
    })
}

/// UserResponse: `{id, name, email, profileImage}`.
pub(crate) fn user_response(user: &User) -> Value {
    json!({ "id": user.id, "name": user.name, "email": user.email, "profileImage": user.profile_image })
}

/// The current participants of a room as UserResponse objects (unknown ids skipped).
pub(crate) fn participants(state: &ClusterState, room_id: &str) -> Vec<Value> {
    state
        .rooms
        .get(room_id)
        .map(|room| room.participants.iter().filter_map(|id| state.users.get(id)).map(user_response).collect())
        .unwrap_or_default()
}

fn kind_name(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Text => "text",
        MessageKind::File => "file",
        MessageKind::System => "system",
        MessageKind::Ai => "ai",
    }
}

fn sender_of(message: &StoredMessage, users: &Senders) -> Option<Value> {
    let id = message.sender.as_deref()?;
    Some(match users.get(id) {
        Some(user) => user_response(user),
        // The sender deleted their account: keep the shape clients render.
        None => json!({ "id": id, "name": "", "email": "", "profileImage": "" }),
    })
}

fn base(message: &StoredMessage) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("_id".into(), json!(message.id));
    out.insert("room".into(), json!(message.room));
    out.insert("content".into(), json!(message.content));
    out.insert("type".into(), json!(kind_name(message.kind)));
    out.insert("timestamp".into(), json!(message.timestamp));
    out.insert("seq".into(), json!(message.seq));
    out.insert("reactions".into(), json!(message.reactions));
    out.insert("metadata".into(), Value::Object(message.metadata.clone()));
    if let Some(ai_type) = &message.ai_type {
        out.insert("aiType".into(), json!(ai_type));
    }
    // Only tombstones carry these (protocol §8.6).
    if let Some(at) = message.deleted_at {
        out.insert("deleted".into(), json!(true));
        out.insert("deletedAt".into(), json!(at));
    }
    out
}

/// The `file` object of a message; live broadcasts also name the uploader and date.
fn file_json(file: &FileRef, live: bool) -> Value {
    let mut out = json!({
        "_id": file.id, "filename": file.filename, "originalname": file.originalname,
        "mimetype": file.mimetype, "size": file.size,
    });
    if live {
        out["user"] = json!(file.user);
        out["uploadDate"] = json!(file.upload_date);
    }
    out
}

/// Fields shared by the live and the history shape.
fn with_sender_and_file(message: &StoredMessage, users: &Senders, live: bool) -> Map<String, Value> {
    let mut out = base(message);
    if let Some(sender) = sender_of(message, users) {
        out.insert("sender".into(), sender);
    }
    if let Some(file) = &message.file {
        out.insert("file".into(), file_json(file, live));
    }
    out
}

/// One message as the `message` event carries it, its sender looked up on the local
/// replica.
pub(crate) fn live_one(node: &Node, message: &StoredMessage) -> Value {
    live_message(message, &senders(node, std::slice::from_ref(message)))
}

/// A message as broadcast by the `message` event (protocol §7.1, §7.2).
pub(crate) fn live_message(message: &StoredMessage, users: &Senders) -> Value {
    let mut out = with_sender_and_file(message, users, true);
    if message.kind == MessageKind::System {
        out.insert("readers".into(), json!([]));
    }
    Value::Object(out)
}

/// A message as loaded from history (protocol §7.3): readers always present, `file`
/// without uploader and date.
pub(crate) fn history_message(message: &StoredMessage, users: &Senders) -> Value {
    let mut out = with_sender_and_file(message, users, false);
    let readers: Vec<Value> =
        message.readers.iter().map(|r| json!({ "userId": r.user_id, "readAt": r.read_at })).collect();
    out.insert("readers".into(), Value::Array(readers));
    Value::Object(out)
}

/// Render a page of history, looking senders up once.
pub(crate) fn history(node: &Node, messages: &[StoredMessage]) -> Vec<Value> {
    let users = senders(node, messages);
    messages.iter().map(|m| history_message(m, &users)).collect()
}
