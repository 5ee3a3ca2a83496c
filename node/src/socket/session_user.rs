//! What a socket knows about its user, stored in the socket's extensions by the
//! handshake.

use chat_raft::state::SocketRef as PresenceSocket;
use socketioxide::extract::SocketRef;

use crate::Node;

#[derive(Debug, Clone)]
pub(crate) struct SocketUser {
    pub user_id: String,
    pub session_id: String,
    pub name: String,
}

pub(crate) fn user_of(s: &SocketRef) -> Option<SocketUser> {
    s.extensions.get::<SocketUser>()
}

/// This socket's name in the replicated presence state.
pub(crate) fn presence_ref(node: &Node, s: &SocketRef) -> PresenceSocket {
    PresenceSocket { node: node.cluster.id(), socket: s.id.to_string() }
}
