//! One simulated chat user of the drill's load, behaving like the web client: connect
//! (to its home node, else the next one in rotation), `joinRoom` every room, then send
//! small messages one at a time and wait for each to come back. When the connection
//! breaks (or its node is drained) it reconnects with the same token and session,
//! joins its rooms again and reads what it missed with `fetchPreviousMessages`.
//! Everything is recorded in the [`History`].

use std::collections::BTreeMap;
use std::time::Duration;

use chat_raft::NodeId;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use super::history::{History, Op};
use super::load::{Recovery, Shared};
use crate::client::{ChatSocket, Events, Incoming, Login};

/// How long a connect, a join, an acknowledgement or a history page may take before
/// the connection is taken for dead (a paused or cut-off node never answers).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(4);
/// Pause between rounds of connection attempts when no node accepts.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Most history pages read back in one catch-up.
const MAX_PAGES: usize = 20;

/// A chat user of the load.
pub(super) struct Chatter {
    pub name: String,
    pub login: Login,
    /// Index of the preferred node in `shared.nodes`.
    pub home: usize,
    pub shared: Shared,
    /// Becomes true when the load stops sending (clients keep listening).
    pub stop_sending: watch::Receiver<bool>,
    /// Becomes true when the clients must close and return.
    pub quit: watch::Receiver<bool>,
}

/// A live connection.
struct Conn {
    socket: ChatSocket,
    events: Events,
    node: NodeId,
    number: u64,
}

/// Why a connection ended.
enum Broken {
    Closed(String),
    Quit,
}

impl Chatter {
    fn history(&self) -> &History {
        &self.shared.history
    }

    /// Run until told to quit.
    pub async fn run(mut self) {
        let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
        let mut sent = 0u64;
        let mut connections = 0u64;
        let mut down_since: Option<u64> = None;
        while !*self.quit.borrow() {
            let Some(mut conn) = self.connect(connections + 1).await else { break };
            connections = conn.number;
            self.shared.balancer.attached(conn.node);
            let result = self.session(&mut conn, &mut last_seq, &mut sent, &mut down_since).await;
            self.shared.balancer.detached(conn.node);
            conn.socket.close();
            match result {
                Broken::Quit => break,
                Broken::Closed(reason) => {
                    let op = Op::Disconnected { user: self.login.user_id.clone(), reason: reason.clone() };
                    self.history().observed(&self.name, op, None);
                    down_since = Some(self.history().now_ms());
                    if reason != DRAINED {
                        self.shared.stats.lock().expect("stats").disconnected.insert(self.name.clone());
                    }
                }
            }
        }
    }

    /// Try every node in rotation order until one accepts; `None` once told to quit.
    async fn connect(&mut self, number: u64) -> Option<Conn> {
        let ids: Vec<NodeId> = self.shared.nodes.iter().map(|n| n.id).collect();
        loop {
            for node in self.shared.balancer.rotation(&ids, self.home) {
                if *self.quit.borrow() {
                    return None;
                }
                let addr = self.shared.public_of(node);
                let op = Op::Request {
                    user: self.login.user_id.clone(),
                    session: self.login.session_id.clone(),
                    what: "connect".into(),
                };
                let id = self.history().invoke(&self.name, op.clone());
                match ChatSocket::connect(&addr, &self.login, ANSWER_TIMEOUT).await {
                    Ok((socket, events)) => {
                        self.history().ok(id, &self.name, op);
                        return Some(Conn { socket, events, node, number });
                    }
                    Err(e) => self.history().fail(id, &self.name, op, format!("node {node}: {e}")),
                }
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    async fn session(
        &self,
        conn: &mut Conn,
        last_seq: &mut BTreeMap<String, u64>,
        sent: &mut u64,
        down_since: &mut Option<u64>,
    ) -> Broken {
        let rooms = self.shared.rooms.clone();
        for room in rooms.iter() {
            if let Err(broken) = self.join(conn, room, last_seq).await {
                return broken;
            }
        }
        if let Some(since) = down_since.take() {
            let reconnected_ms = self.history().now_ms();
            for room in rooms.iter() {
                if let Err(broken) = self.catch_up(conn, room, last_seq).await {
                    return broken;
                }
            }
            let recovery = Recovery {
                client: self.name.clone(),
                down_ms: since,
                reconnected_ms,
                caught_up_ms: self.history().now_ms(),
            };
            self.shared.stats.lock().expect("stats").recoveries.push(recovery);
        }
        let mut turn = 0usize;
        loop {
            if *self.quit.borrow() {
                return Broken::Quit;
            }
            if self.shared.balancer.is_draining(conn.node) {
                return Broken::Closed(DRAINED.into());
            }
            if !*self.stop_sending.borrow() {
                turn += 1;
                *sent += 1;
                let room = rooms[turn % rooms.len()].clone();
                let nonce = format!("{}{}-{}", self.shared.prefix, self.name, sent);
                if let Err(broken) = self.send(conn, &room, nonce, last_seq).await {
                    return broken;
                }
            }
            let pause = Instant::now() + self.shared.send_every;
            if let Err(broken) = self.listen_until(conn, pause, last_seq).await {
                return broken;
            }
        }
    }

    async fn join(&self, conn: &mut Conn, room: &str, last_seq: &mut BTreeMap<String, u64>) -> Result<(), Broken> {
        let op = Op::Join {
            user: self.login.user_id.clone(),
            session: self.login.session_id.clone(),
            room: room.to_owned(),
        };
        let id = self.history().invoke(&self.name, op.clone());
        if conn.socket.emit("joinRoom", json!([room])).is_err() {
            self.history().fail(id, &self.name, op, "socket closed");
            return Err(Broken::Closed("socket closed before joinRoom".into()));
        }
        let answer = self
            .wait_for(conn, last_seq, |name, args| match name {
                "joinRoomSuccess" if args["roomId"] == room => Some(Ok(())),
                "joinRoomError" => Some(Err(args["message"].as_str().unwrap_or("joinRoomError").to_owned())),
                _ => None,
            })
            .await;
        match answer {
            Ok(Ok(())) => {
                self.history().ok(id, &self.name, op);
                Ok(())
            }
            Ok(Err(message)) => {
                self.history().fail(id, &self.name, op, message.clone());
                self.shared.count_failed(format!("{}: joinRoom {room}: {message}", self.name));
                Err(Broken::Closed(format!("joinRoomError: {message}")))
            }
            Err(broken) => {
                self.history().fail(id, &self.name, op, "no joinRoomSuccess");
                Err(broken)
            }
        }
    }

    /// Read back, newest first, every message after the newest one this client saw.
    async fn catch_up(&self, conn: &mut Conn, room: &str, last_seq: &mut BTreeMap<String, u64>) -> Result<(), Broken> {
        let seen = last_seq.get(room).copied().unwrap_or(0);
        let mut messages: Vec<(u64, String)> = Vec::new();
        let mut before: Option<u64> = None;
        for _ in 0..MAX_PAGES {
            let mut request = json!({"roomId": room, "limit": 100});
            if let Some(before) = before {
                request["before"] = json!(before);
            }
            if conn.socket.emit("fetchPreviousMessages", json!([request])).is_err() {
                return Err(Broken::Closed("socket closed before fetchPreviousMessages".into()));
            }
            let page = self
                .wait_for(conn, last_seq, |name, args| match name {
                    "previousMessagesLoaded" => Some(Ok(args.clone())),
                    "error" => Some(Err(args["message"].as_str().unwrap_or("error").to_owned())),
                    _ => None,
                })
                .await?;
            let page = match page {
                Ok(page) => page,
                Err(message) => {
                    self.shared.count_failed(format!("{}: fetchPreviousMessages {room}: {message}", self.name));
                    return Err(Broken::Closed(format!("fetchPreviousMessages: {message}")));
                }
            };
            let list = page["messages"].as_array().cloned().unwrap_or_default();
            let oldest = list.first().map(|m| (m["seq"].as_u64().unwrap_or(0), m["timestamp"].as_u64()));
            let mut page_messages: Vec<(u64, String)> = list
                .iter()
                .filter_map(|m| Some((m["seq"].as_u64()?, m["content"].as_str()?.to_owned())))
                .filter(|(_, content)| content.starts_with(&self.shared.prefix))
                .collect();
            page_messages.append(&mut messages);
            messages = page_messages;
            match oldest {
                Some((seq, Some(ts))) if page["hasMore"] == true && seq > seen + 1 => before = Some(ts),
                _ => break,
            }
        }
        if let Some(max) = messages.iter().map(|(seq, _)| *seq).max() {
            let last = last_seq.entry(room.to_owned()).or_default();
            *last = (*last).max(max);
        }
        let op = Op::CatchUp { user: self.login.user_id.clone(), room: room.to_owned(), messages };
        self.history().observed(&self.name, op, None);
        Ok(())
    }

    /// `chatMessage` with `nonce` as content; acknowledged once it comes back.
    async fn send(
        &self,
        conn: &mut Conn,
        room: &str,
        nonce: String,
        last_seq: &mut BTreeMap<String, u64>,
    ) -> Result<(), Broken> {
        let (user, session) = (self.login.user_id.clone(), self.login.session_id.clone());
        let op = |seq| Op::Send {
            user: user.clone(),
            session: session.clone(),
            room: room.to_owned(),
            nonce: nonce.clone(),
            seq,
        };
        let id = self.history().invoke(&self.name, op(None));
        self.shared.stats.lock().expect("stats").sent += 1;
        if conn.socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": nonce}])).is_err() {
            self.history().fail(id, &self.name, op(None), "socket closed");
            self.shared.count_unacknowledged(&nonce);
            return Err(Broken::Closed("socket closed before chatMessage".into()));
        }
        let answer = self
            .wait_for(conn, last_seq, |name, args| match name {
                "message" if args["content"] == nonce.as_str() => Some(Ok(args["seq"].as_u64())),
                "error" => Some(Err(args["message"].as_str().unwrap_or("error").to_owned())),
                _ => None,
            })
            .await;
        match answer {
            Ok(Ok(seq)) => {
                self.history().ok(id, &self.name, op(seq));
                Ok(())
            }
            Ok(Err(message)) => {
                self.history().fail(id, &self.name, op(None), message.clone());
                self.shared.count_failed(format!("{}: chatMessage {nonce}: {message}", self.name));
                Ok(())
            }
            Err(broken) => {
                self.history().fail(id, &self.name, op(None), "no acknowledgement");
                self.shared.count_unacknowledged(&nonce);
                Err(broken)
            }
        }
    }

    /// Handle events until `pick` returns an answer; a silent connection is dead.
    async fn wait_for<T>(
        &self,
        conn: &mut Conn,
        last_seq: &mut BTreeMap<String, u64>,
        mut pick: impl FnMut(&str, &Value) -> Option<T>,
    ) -> Result<T, Broken> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let mut quit = self.quit.clone();
        loop {
            let incoming = tokio::select! {
                incoming = conn.events.recv() => incoming,
                () = tokio::time::sleep_until(deadline) => {
                    return Err(Broken::Closed(format!("no answer within {} ms", ANSWER_TIMEOUT.as_millis())));
                }
                _ = quit.wait_for(|q| *q) => return Err(Broken::Quit),
            };
            let (name, args) = self.record(conn, incoming, last_seq)?;
            if let Some(answer) = pick(&name, &args) {
                return Ok(answer);
            }
        }
    }

    /// Handle events until `until`.
    async fn listen_until(
        &self,
        conn: &mut Conn,
        until: Instant,
        last_seq: &mut BTreeMap<String, u64>,
    ) -> Result<(), Broken> {
        let mut quit = self.quit.clone();
        loop {
            let incoming = tokio::select! {
                incoming = conn.events.recv() => incoming,
                () = tokio::time::sleep_until(until) => return Ok(()),
                _ = quit.wait_for(|q| *q) => return Err(Broken::Quit),
            };
            self.record(conn, incoming, last_seq)?;
        }
    }

    /// Record a load message as received; returns the event's name and first argument.
    fn record(
        &self,
        conn: &Conn,
        incoming: Option<Incoming>,
        last_seq: &mut BTreeMap<String, u64>,
    ) -> Result<(String, Value), Broken> {
        let (name, args, at) = match incoming {
            Some(Incoming::Event { name, args, at }) => (name, args, at),
            Some(Incoming::Closed { reason }) => return Err(Broken::Closed(reason)),
            None => return Err(Broken::Closed("connection task ended".into())),
        };
        let first = args.into_iter().next().unwrap_or(Value::Null);
        if name == "message" {
            let content = first["content"].as_str().unwrap_or_default();
            if let (true, Some(room), Some(seq)) =
                (content.starts_with(&self.shared.prefix), first["room"].as_str(), first["seq"].as_u64())
            {
                let op = Op::Receive {
                    user: self.login.user_id.clone(),
                    room: room.to_owned(),
                    conn: conn.number,
                    nonce: content.to_owned(),
                    seq,
                };
                self.history().observed(&self.name, op, Some(at.into_std()));
                let last = last_seq.entry(room.to_owned()).or_default();
                *last = (*last).max(seq);
            }
        }
        Ok((name, first))
    }
}

/// The disconnect reason of a client that left a drained node.
pub(super) const DRAINED: &str = "node drained";
