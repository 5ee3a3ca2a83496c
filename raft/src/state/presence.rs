//! Live socket connections, the rooms each socket joined, and the derived
//! `room -> nodes` index that routes cross-node fan-out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::types::NodeId;

/// A socket, named by the node that hosts it and that node's socket id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SocketRef {
    pub node: NodeId,
    pub socket: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketInfo {
    pub user_id: String,
    pub session_id: String,
    pub rooms: BTreeSet<String>,
}

/// Sockets and their rooms. Only `sockets` is serialized; the indexes are derived.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<(SocketRef, SocketInfo)>", into = "Vec<(SocketRef, SocketInfo)>")]
pub struct Presence {
    sockets: BTreeMap<SocketRef, SocketInfo>,
    by_user: BTreeMap<String, BTreeSet<SocketRef>>,
    /// room -> node -> number of that node's sockets in the room.
    room_nodes: BTreeMap<String, BTreeMap<NodeId, usize>>,
}

impl Presence {
    pub fn socket(&self, socket: &SocketRef) -> Option<&SocketInfo> {
        self.sockets.get(socket)
    }

    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Every socket of a user, on any node.
    pub fn sockets_of_user(&self, user_id: &str) -> impl Iterator<Item = &SocketRef> {
        self.by_user.get(user_id).into_iter().flatten()
    }

    /// The nodes hosting at least one socket that joined `room_id`.
    pub fn nodes_in_room(&self, room_id: &str) -> impl Iterator<Item = NodeId> + '_ {
        self.room_nodes.get(room_id).into_iter().flat_map(|nodes| nodes.keys().copied())
    }

    pub fn sockets_on_node(&self, node: NodeId) -> impl Iterator<Item = (&SocketRef, &SocketInfo)> {
        self.sockets.iter().filter(move |(s, _)| s.node == node)
    }

    pub(super) fn connect(&mut self, socket: SocketRef, user_id: String, session_id: String) {
        if let Some(old) = self.sockets.get(&socket) {
            if old.user_id == user_id && old.session_id == session_id {
                return;
            }
            self.disconnect(&socket);
        }
        self.by_user.entry(user_id.clone()).or_default().insert(socket.clone());
        self.sockets.insert(socket, SocketInfo { user_id, session_id, rooms: BTreeSet::new() });
    }

    pub(super) fn disconnect(&mut self, socket: &SocketRef) -> Option<SocketInfo> {
        let info = self.sockets.remove(socket)?;
        if let Some(set) = self.by_user.get_mut(&info.user_id) {
            set.remove(socket);
            if set.is_empty() {
                self.by_user.remove(&info.user_id);
            }
        }
        for room in &info.rooms {
            self.unindex(room, socket.node);
        }
        Some(info)
    }

    pub(super) fn disconnect_user(&mut self, user_id: &str) -> Vec<SocketRef> {
        let sockets: Vec<SocketRef> = self.sockets_of_user(user_id).cloned().collect();
        for socket in &sockets {
            self.disconnect(socket);
        }
        sockets
    }

    pub(super) fn disconnect_node(&mut self, node: NodeId) -> Vec<SocketRef> {
        let sockets: Vec<SocketRef> = self.sockets_on_node(node).map(|(s, _)| s.clone()).collect();
        for socket in &sockets {
            self.disconnect(socket);
        }
        sockets
    }

    /// Add a room to a socket, if the socket is known and belongs to `user_id`.
    pub(super) fn join_room(&mut self, socket: &SocketRef, user_id: &str, room_id: &str) {
        let Some(info) = self.sockets.get_mut(socket) else { return };
        if info.user_id != user_id || !info.rooms.insert(room_id.to_owned()) {
            return;
        }
        *self.room_nodes.entry(room_id.to_owned()).or_default().entry(socket.node).or_default() += 1;
    }

    pub(super) fn leave_room_for_user(&mut self, user_id: &str, room_id: &str) {
        let sockets: Vec<SocketRef> = self.sockets_of_user(user_id).cloned().collect();
        for socket in sockets {
            let removed = self.sockets.get_mut(&socket).is_some_and(|info| info.rooms.remove(room_id));
            if removed {
                self.unindex(room_id, socket.node);
            }
        }
    }

    /// Take a room out of every socket (the room was closed).
    pub(super) fn forget_room(&mut self, room_id: &str) {
        for info in self.sockets.values_mut() {
            info.rooms.remove(room_id);
        }
        self.room_nodes.remove(room_id);
    }

    fn unindex(&mut self, room_id: &str, node: NodeId) {
        let Some(nodes) = self.room_nodes.get_mut(room_id) else { return };
        if let Some(count) = nodes.get_mut(&node) {
            *count -= 1;
            if *count == 0 {
                nodes.remove(&node);
            }
        }
        if nodes.is_empty() {
            self.room_nodes.remove(room_id);
        }
    }
}

impl From<Vec<(SocketRef, SocketInfo)>> for Presence {
    fn from(entries: Vec<(SocketRef, SocketInfo)>) -> Self {
        let mut presence = Presence::default();
        for (socket, info) in entries {
            let rooms = info.rooms.clone();
            presence.connect(socket.clone(), info.user_id.clone(), info.session_id);
            for room in rooms {
                presence.join_room(&socket, &info.user_id, &room);
            }
        }
        presence
    }
}

impl From<Presence> for Vec<(SocketRef, SocketInfo)> {
    fn from(presence: Presence) -> Self {
        presence.sockets.into_iter().collect()
    }
}
