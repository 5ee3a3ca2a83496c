//! The Socket.IO service (protocol §6): handshake, event handlers and the reactions to
//! replicated session changes.
//!
//! - `handshake`: the auth middleware and what happens once a socket is connected.
//! - `rooms`: `joinRoom`, `leaveRoom`, and leaving after a disconnect grace period.
//! - `chat`: `chatMessage`.
//! - `history`: `fetchPreviousMessages`.
//! - `receipts`: `markMessagesAsRead` and `messageReaction`.
//! - `notices`: `duplicate_login` / `session_ended` for replaced sessions.
//! - `removals`: `messageDeleted` / `roomDeleted` after an admin's deletion.
//! - `stale_presence`: sockets of an earlier run of this node, cleared at start.
//! - `session_user`: the socket's user and the session re-check before each event.
//! - `render`: the JSON shapes of messages and participants.

mod chat;
mod handshake;
mod history;
pub(crate) mod notices;
mod receipts;
mod removals;
pub(crate) mod render;
mod rooms;
mod session_user;
pub(crate) mod stale_presence;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{ParserConfig, SocketIo};
use tokio::sync::mpsc;

use crate::Node;

/// An event or ack with no arguments (a unit value would go out as one `null`).
pub(crate) const NO_ARGUMENTS: [u8; 0] = [];

/// Engine.IO's largest accepted frame (protocol §1.1); a larger one closes the connection.
/// It binds both transports: the polling body (`max_payload`) and the websocket
/// message and frame, which the library would otherwise accept up to 64 MiB / 16 MiB
/// and buffer whole before any authentication (issue 12: one 12 MB pre-auth frame
/// cost 300 MB of memory).
pub(crate) const MAX_PAYLOAD: usize = 64 * 1024;
/// The protocol carries no binary attachments (files go over REST, §3.6); one is
/// tolerated, bounded by the frame limit, and must arrive promptly.
const MAX_BINARY_ATTACHMENTS: usize = 1;
const BINARY_COMPLETION: Duration = Duration::from_secs(10);

/// The Socket.IO layer and its handle, configured as protocol §1.1 says; each socket
/// buffers at most `socket_buffer` outbound packets (`--socket-buffer`).
pub(crate) fn build(socket_buffer: usize) -> (SocketIoLayer, SocketIo) {
    let parser = ParserConfig::common()
        .max_incoming_binaries(MAX_BINARY_ATTACHMENTS)
        .max_incoming_binary_buf_size(MAX_PAYLOAD)
        .packet_completion_timeout(BINARY_COMPLETION);
    SocketIo::builder()
        .ping_interval(Duration::from_millis(25_000))
        .ping_timeout(Duration::from_millis(60_000))
        .upgrade_timeout(Duration::from_millis(10_000))
        .max_payload(MAX_PAYLOAD as u64)
        .ws_max_message_size(MAX_PAYLOAD)
        .ws_max_frame_size(MAX_PAYLOAD)
        .with_parser(parser)
        .max_buffer_size(socket_buffer)
        .build_layer()
}

/// Install the default namespace's handlers.
pub(crate) fn register(io: &SocketIo, node: Arc<Node>) {
    let auth_node = node.clone();
    let middleware = move |s: SocketRef, TryData(auth): TryData<handshake::ConnectAuth>| {
        let node = auth_node.clone();
        async move {
            handshake::authenticate(&node, &s, auth.ok()).await?;
            // Registered before the CONNECT ack is sent: an event the client emits
            // right after `connect` must find its handler. (The connect handler runs
            // after the ack, on a thread that may be descheduled in between.)
            register_handlers(&node, &s);
            Ok::<(), handshake::Refused>(())
        }
    };
    let connect = move |s: SocketRef| {
        let node = node.clone();
        async move { handshake::connected(&node, &s).await }
    };
    io.ns("/", connect.with(middleware));
}

fn register_handlers(node: &Arc<Node>, s: &SocketRef) {
    let (node, s) = (node.clone(), s.clone());
    on(&s, &node, "joinRoom", rooms::join);
    on(&s, &node, "leaveRoom", rooms::leave);
    chat_queue(&s, &node);
    on(&s, &node, "fetchPreviousMessages", history::fetch);
    s.extensions.insert(receipts::ReadMarksRefused::default());
    on(&s, &node, "markMessagesAsRead", receipts::mark_read);
    on(&s, &node, "messageReaction", receipts::react);
    // `ping` acts on nothing, so it needs no session re-check.
    s.on("ping", |ack: AckSender| async move {
        let _ = ack.send(&NO_ARGUMENTS);
    });
    let disconnect_node = node.clone();
    s.on_disconnect(move |s: SocketRef| {
        // Dropping the queue's sender ends the socket's chat worker.
        s.extensions.remove::<ChatQueue>();
        let node = disconnect_node.clone();
        async move { rooms::disconnected(node, s).await }
    });
}

/// Register `handler` for `event`, with the event's first argument (if it parsed as
/// JSON). The handler runs only once the socket's session is re-checked on this
/// replica ([`session_user::live_user`]); an ended session gets `SESSION_EXPIRED`
/// and nothing changes. Every handled event answers an ack request with an empty ack,
/// as the existing backend does.
fn on<F, Fut>(s: &SocketRef, node: &Arc<Node>, event: &'static str, handler: F)
where
    F: Fn(Arc<Node>, SocketRef, Option<Value>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let node = node.clone();
    s.on(event, move |s: SocketRef, TryData(data): TryData<Value>, ack: AckSender| {
        let (node, handler) = (node.clone(), handler.clone());
        async move {
            match session_user::live_user(&node, &s).await {
                Ok(_) => handler(node, s, data.ok()).await,
                Err(refusal) => session_user::refuse(&s, refusal),
            }
            let _ = ack.send(&NO_ARGUMENTS);
        }
    });
}

/// The sending side of a socket's chat queue, kept in the socket's extensions.
#[derive(Clone)]
struct ChatQueue(mpsc::Sender<Value>);

/// `chatMessage`s one socket may have waiting for its worker. A client sending faster
/// than its messages commit gets `RATE_LIMIT_EXCEEDED` for the excess at once, instead
/// of a queue (and memory) that grows with its send rate. Bursts of the existing clients
/// (tens of messages) fit.
pub(crate) const CHAT_QUEUE: usize = 128;

/// `chatMessage`s of one connection are handled one at a time in arrival order
/// (protocol §6.5.3: a client's burst is broadcast in send order). Handler futures
/// run concurrently, so the event is queued synchronously, in the order socketioxide
/// delivers it, and one worker per socket drains the queue. What can be refused without
/// waiting (no payload, content over the size cap, a full queue) is refused on arrival.
fn chat_queue(s: &SocketRef, node: &Arc<Node>) {
    let (tx, mut rx) = mpsc::channel(CHAT_QUEUE);
    s.extensions.insert(ChatQueue(tx));
    let (worker_node, worker_socket) = (node.clone(), s.clone());
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            chat::send(worker_node.clone(), worker_socket.clone(), Some(data)).await;
        }
    });
    let arrival_node = node.clone();
    s.on("chatMessage", move |s: SocketRef, TryData(data): TryData<Value>, ack: AckSender| {
        chat::arrived(&arrival_node, &s, data.ok());
        let _ = ack.send(&NO_ARGUMENTS);
        async {}
    });
}

/// The user id of an authenticated socket.
pub(crate) fn user_id_of(s: &SocketRef) -> Option<String> {
    session_user::user_of(s).map(|u| u.user_id)
}

/// The payload of every per-user rate-limit refusal on a socket (protocol §6.5.3's
/// shape): `RATE_LIMIT_EXCEEDED`, what was limited, and when to try again.
pub(crate) fn rate_limit_exceeded(message: &str, retry_after_s: u64) -> Value {
    json!({ "code": "RATE_LIMIT_EXCEEDED", "message": message, "retryAfter": retry_after_s })
}

/// Whether `limiter` refuses `user_id` now; if so the socket gets
/// `RATE_LIMIT_EXCEEDED` with `message` and the refusal is counted as `limit`, after the
/// emit, so a count seen in /metrics has its `error` queued.
pub(crate) async fn refused_by(
    node: &Node,
    s: &SocketRef,
    limiter: &crate::ratelimit::RateLimiter,
    limit: crate::metrics::Limit,
    user_id: &str,
    message: &str,
) -> bool {
    let decision = limiter.check(user_id, crate::auth::now_ms()).await;
    if !decision.allowed {
        let _ = s.emit("error", &rate_limit_exceeded(message, decision.retry_after_s));
        node.metrics.limit_hit(limit);
    }
    !decision.allowed
}

/// Send `error` to one socket.
pub(crate) fn emit_error(s: &SocketRef, code: Option<&str>, message: &str) {
    let payload = match code {
        Some(code) => json!({ "code": code, "message": message }),
        None => json!({ "message": message }),
    };
    let _ = s.emit("error", &payload);
}
