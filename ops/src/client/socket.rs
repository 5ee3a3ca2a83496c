//! One Socket.IO connection over an Engine.IO v4 websocket, as socket.io-client opens
//! it with `transports: ['websocket']` and `auth: {token, sessionId}`.
//!
//! The connection is one task: it answers the server's pings, turns EVENT packets into
//! [`Incoming::Event`]s stamped with their arrival time, and sends what [`ChatSocket::emit`]
//! queued. When the server goes quiet for longer than the heartbeat it promised, the
//! connection is declared dead, as socket.io-client does. Buffers are kept small so
//! thousands of connections fit in one process.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::address::{http_base, socket_url};
use super::error::SocketError;
use super::packet::{self, Packet};
use super::rest::Login;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the connection delivers, in arrival order.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A server event: its name, its arguments, and when it arrived.
    Event { name: String, args: Vec<Value>, at: Instant },
    /// The connection ended; nothing follows. `reason` says who ended it.
    Closed { reason: String },
}

/// The receiving side of a connection.
pub type Events = mpsc::UnboundedReceiver<Incoming>;

enum Outgoing {
    Frame(String),
    Close,
}

/// The sending side of a connection. Clones share it; the connection closes when
/// [`ChatSocket::close`] is called or the last clone is dropped.
#[derive(Debug, Clone)]
pub struct ChatSocket {
    outgoing: mpsc::UnboundedSender<Outgoing>,
    frames: Arc<Frames>,
}

/// Event frames emitted and not yet written, and written: a caller that emits faster
/// than the connection writes (a flooding bench socket) sees its backlog and can hold
/// back instead of growing the queue without bound.
#[derive(Debug, Default)]
struct Frames {
    queued: AtomicUsize,
    written: AtomicU64,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outgoing::Frame(text) => write!(f, "Frame({text})"),
            Outgoing::Close => write!(f, "Close"),
        }
    }
}

impl ChatSocket {
    /// Opens the websocket at `addr`, completes the Socket.IO CONNECT with `login`'s
    /// token and session, and returns once the server acknowledged it. Events the
    /// server sends before its acknowledgement (re-joined rooms) are delivered first.
    pub async fn connect(addr: &str, login: &Login, timeout: Duration) -> Result<(ChatSocket, Events), SocketError> {
        let auth = json!({"token": login.token, "sessionId": login.session_id});
        ChatSocket::connect_with_auth(addr, &auth, timeout).await
    }

    /// Like [`ChatSocket::connect`] with any auth payload (tests of refused handshakes).
    pub async fn connect_with_auth(
        addr: &str,
        auth: &Value,
        timeout: Duration,
    ) -> Result<(ChatSocket, Events), SocketError> {
        let base = http_base(addr).map_err(|e| SocketError::Transport { message: e.to_string() })?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let url = socket_url(&base);
        let handshake = handshake(&url, auth, &events_tx);
        let (ws, heartbeat) = tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| SocketError::Timeout { ms: timeout.as_millis() })??;
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let frames = Arc::new(Frames::default());
        tokio::spawn(run(ws, outgoing_rx, events_tx, heartbeat, frames.clone()));
        Ok((ChatSocket { outgoing, frames }, events_rx))
    }

    /// Sends event `name` with `args` (a JSON array of arguments; any other value is
    /// sent as the only argument). Fails only when the connection has ended.
    pub fn emit(&self, name: &str, args: Value) -> Result<(), SocketError> {
        self.frames.queued.fetch_add(1, Ordering::Relaxed);
        self.outgoing.send(Outgoing::Frame(packet::event(name, &args))).map_err(|_| {
            self.frames.queued.fetch_sub(1, Ordering::Relaxed);
            SocketError::Closed
        })
    }

    /// Events emitted that the connection has not written yet.
    pub fn queued(&self) -> usize {
        self.frames.queued.load(Ordering::Relaxed)
    }

    /// Events written to the websocket so far.
    pub fn written(&self) -> u64 {
        self.frames.written.load(Ordering::Relaxed)
    }

    /// Disconnects (Socket.IO DISCONNECT, then a websocket close). Idempotent.
    pub fn close(&self) {
        let _ = self.outgoing.send(Outgoing::Close);
    }

    /// Whether the connection is still running.
    pub fn is_open(&self) -> bool {
        !self.outgoing.is_closed()
    }
}

/// Small buffers: a chat event is a few hundred bytes, and thousands of sockets share
/// the process's memory.
fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024).write_buffer_size(0).max_message_size(Some(16 << 20))
}

async fn handshake(
    url: &str,
    auth: &Value,
    events: &mpsc::UnboundedSender<Incoming>,
) -> Result<(Ws, Duration), SocketError> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config()), true)
        .await
        .map_err(|e| SocketError::Transport { message: e.to_string() })?;
    let heartbeat = match next_packet(&mut ws).await? {
        Packet::Open { ping_interval, ping_timeout } => ping_interval + ping_timeout,
        other => return Err(SocketError::Protocol { message: format!("expected OPEN, got {other:?}") }),
    };
    send(&mut ws, packet::connect(auth)).await?;
    loop {
        match next_packet(&mut ws).await? {
            Packet::Connected => return Ok((ws, heartbeat)),
            Packet::ConnectError(message) => return Err(SocketError::Refused { message }),
            Packet::Ping => send(&mut ws, packet::PONG.to_string()).await?,
            Packet::Event { name, args } => {
                let _ = events.send(Incoming::Event { name, args, at: Instant::now() });
            }
            Packet::Disconnect => {
                return Err(SocketError::Transport { message: "closed by the server during the handshake".into() })
            }
            Packet::Open { .. } | Packet::Ignored => {}
        }
    }
}

async fn next_packet(ws: &mut Ws) -> Result<Packet, SocketError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return packet::parse(&text).map_err(|message| SocketError::Protocol { message })
            }
            Some(Ok(Message::Close(_))) | None => {
                return Err(SocketError::Transport { message: "closed by the server during the handshake".into() })
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(SocketError::Transport { message: e.to_string() }),
        }
    }
}

async fn send(ws: &mut Ws, text: String) -> Result<(), SocketError> {
    ws.send(Message::text(text)).await.map_err(|e| SocketError::Transport { message: e.to_string() })
}

/// The connection's life after the handshake; always ends with [`Incoming::Closed`].
async fn run(
    mut ws: Ws,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    events: mpsc::UnboundedSender<Incoming>,
    heartbeat: Duration,
    frames: Arc<Frames>,
) {
    let silence = tokio::time::sleep(heartbeat);
    tokio::pin!(silence);
    let reason = loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    silence.as_mut().reset(Instant::now() + heartbeat);
                    match packet::parse(&text) {
                        Ok(Packet::Ping) => {
                            if let Err(e) = send(&mut ws, packet::PONG.to_string()).await {
                                break e.to_string();
                            }
                        }
                        Ok(Packet::Event { name, args }) => {
                            let _ = events.send(Incoming::Event { name, args, at: Instant::now() });
                        }
                        Ok(Packet::Disconnect) => break "disconnected by the server".to_string(),
                        Ok(_) => {}
                        Err(message) => break format!("protocol: {message}"),
                    }
                }
                Some(Ok(Message::Close(_))) | None => break "connection closed by the server".to_string(),
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("websocket: {e}"),
            },
            command = outgoing.recv() => match command {
                Some(Outgoing::Frame(text)) => {
                    let written = send(&mut ws, text).await;
                    frames.queued.fetch_sub(1, Ordering::Relaxed);
                    if let Err(e) = written {
                        break e.to_string();
                    }
                    frames.written.fetch_add(1, Ordering::Relaxed);
                }
                Some(Outgoing::Close) | None => {
                    let _ = send(&mut ws, packet::DISCONNECT.to_string()).await;
                    let _ = ws.close(None).await;
                    break "closed by the client".to_string();
                }
            },
            () = &mut silence => break format!("no ping from the server for {} ms", heartbeat.as_millis()),
        }
    };
    outgoing.close();
    let _ = events.send(Incoming::Closed { reason });
}
