//! Emitting to this node's own sockets, and what happens to a socket that cannot take
//! an event: a slow consumer.
//!
//! Each socket buffers at most `--socket-buffer` outbound packets (1,024 by default). A client that stops
//! reading (a stalled tab, a hostile client) fills it; an emit to it then fails, and
//! before this rule the event was dropped silently while the socket stayed, so its
//! client never knew it missed messages. Now such a socket is disconnected at once
//! (its connection killed, `connections.rs`): its client reconnects and loads history,
//! and the node stops spending memory and work on it. Other sockets are unaffected:
//! a room's event is emitted to each socket on its own, so one full buffer neither
//! blocks nor hides the others.

use axum::extract::ConnectInfo;
use serde_json::value::RawValue;
use serde_json::Value;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError, SocketIo};

use crate::connections::Peer;
use crate::metrics::{Limit, Metrics};

/// Emit `event` to every socket of this node in socket room `room`. The payload is
/// serialized once, not once per socket.
pub(crate) fn emit_to_room(metrics: &Metrics, io: &SocketIo, room: &str, event: &str, payload: &Value) {
    let raw: Box<RawValue> = match serde_json::value::to_raw_value(payload) {
        Ok(raw) => raw,
        Err(e) => return tracing::warn!(room, event, error = %e, "event not serializable"),
    };
    for s in io.to(room.to_owned()).sockets() {
        emit(metrics, &s, event, &raw);
    }
}

/// Emit `event` to one socket; a socket whose buffer is full is disconnected (any other
/// failure means the socket is closing already).
fn emit(metrics: &Metrics, s: &SocketRef, event: &str, payload: &RawValue) {
    if let Err(SendError::Socket(SocketError::InternalChannelFull)) = s.emit(event, payload) {
        disconnect_slow(metrics, s, event);
    }
}

/// Disconnect a socket that could not take an event: out of its rooms at once (no more
/// work for it), then its connection is killed. Counted and logged once per socket.
fn disconnect_slow(metrics: &Metrics, s: &SocketRef, event: &str) {
    s.leave_all();
    let Some(ConnectInfo(peer)) = s.req_parts().extensions.get::<ConnectInfo<Peer>>() else { return };
    if peer.kill.kill() {
        metrics.limit_hit(Limit::SlowConsumer);
        let user = crate::socket::user_id_of(s).unwrap_or_default();
        tracing::warn!(socket = %s.id, user, peer = %peer.addr, event, "slow consumer disconnected: its outbound buffer is full");
    }
}
