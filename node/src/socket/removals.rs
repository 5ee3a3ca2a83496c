//! What this node's sockets learn when an admin deletes a message or a room (protocol
//! §8.6, §8.7). Every node applies the committed command and tells the sockets it
//! hosts, so no cross-node message is needed and a node that was down catches up with
//! the log instead of missing a broadcast.

use std::collections::BTreeMap;

use serde_json::json;
use socketioxide::SocketIo;

use crate::fanout::user_room;

/// `messageDeleted {messageId, roomId}` to the sockets in the room.
pub(super) async fn message_deleted(io: &SocketIo, message_id: &str, room_id: &str) {
    let event = json!({ "messageId": message_id, "roomId": room_id });
    if let Err(e) = io.to(room_id.to_owned()).emit("messageDeleted", &event).await {
        tracing::debug!(room = %room_id, error = %e, "messageDeleted not delivered");
    }
}

/// `roomDeleted {roomId}` to every socket of the room's members and every socket in
/// the room (each once), which then leaves it: nothing said in the room reaches them
/// any more.
pub(super) fn room_deleted(io: &SocketIo, room_id: &str, members: &[String]) {
    let event = json!({ "roomId": room_id });
    let rooms = std::iter::once(room_id.to_owned()).chain(members.iter().map(|m| user_room(m)));
    let sockets: BTreeMap<_, _> =
        io.to(rooms.collect::<Vec<_>>()).sockets().into_iter().map(|s| (s.id.to_string(), s)).collect();
    for s in sockets.into_values() {
        let _ = s.emit("roomDeleted", &event);
        s.leave(room_id.to_owned());
    }
}
