//! What a socket knows about its user, stored in the socket's extensions by the
//! handshake, and the per-socket lock that keeps one connection's messages in order.

use std::sync::Arc;

use chat_raft::state::SocketRef as PresenceSocket;
use socketioxide::extract::SocketRef;

use crate::Node;

#[derive(Debug, Clone)]
pub(crate) struct SocketUser {
    pub user_id: String,
    pub session_id: String,
    pub name: String,
}

/// Held while a `chatMessage` is processed: a client's messages are broadcast in the
/// order it sent them (PROTOCOL 6.5.3), although handlers run concurrently.
#[derive(Debug, Clone, Default)]
pub(crate) struct SendLock(pub Arc<tokio::sync::Mutex<()>>);

pub(crate) fn user_of(s: &SocketRef) -> Option<SocketUser> {
    s.extensions.get::<SocketUser>()
}

/// This socket's name in the replicated presence state.
pub(crate) fn presence_ref(node: &Node, s: &SocketRef) -> PresenceSocket {
    PresenceSocket { node: node.cluster.id(), socket: s.id.to_string() }
}
