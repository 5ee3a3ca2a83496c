//! The record of a drill: every client operation as an `invoke` entry and, with the
//! same id, an `ok` or `fail` entry, each stamped with milliseconds since the drill
//! began. Clients append to one shared [`History`]; the checker reads the entries
//! once the drill is over.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Where an operation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Invoke,
    Ok,
    Fail,
}

/// What a client did. `user` and `session` name the login an operation used, so the
/// single-login check can see which session was accepted when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `POST /api/auth/login`; the `ok` entry carries the session it opened.
    Login { user: String, session: Option<String> },
    /// `POST /api/auth/logout`.
    Logout { user: String, session: String },
    /// Any other request made with a session: a REST call or a socket connect.
    Request { user: String, session: String, what: String },
    /// The client's socket was closed (by the server, the network, or a drain).
    Disconnected { user: String, reason: String },
    /// `joinRoom`; `ok` once `joinRoomSuccess` arrived.
    Join { user: String, session: String, room: String },
    /// `chatMessage` with a unique `nonce` as its content; `ok` once the sender got its
    /// own message back (the acknowledgement clients rely on), with its `seq`.
    Send { user: String, session: String, room: String, nonce: String, seq: Option<u64> },
    /// A `message` event of a room arrived on connection `conn` of this client
    /// (recorded as a single `ok` entry).
    Receive { user: String, room: String, conn: u64, nonce: String, seq: u64 },
    /// Missed messages read back with `fetchPreviousMessages` after a reconnect
    /// (a single `ok` entry): `(seq, content)` pairs.
    CatchUp { user: String, room: String, messages: Vec<(u64, String)> },
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Pairs an `invoke` with its `ok` or `fail`.
    pub id: u64,
    /// Milliseconds since the drill began.
    pub at_ms: u64,
    /// The simulated client (a browser tab), e.g. `chat-3` or `churn-1a`.
    pub client: String,
    pub phase: Phase,
    #[serde(flatten)]
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The shared, append-only record. Cloning shares it.
#[derive(Debug, Clone)]
pub struct History {
    start: Instant,
    inner: Arc<Mutex<Log>>,
}

#[derive(Debug, Default)]
struct Log {
    next_id: u64,
    entries: Vec<Entry>,
}

impl History {
    /// A history whose clock starts at `start` (the probes use the same origin).
    pub fn new(start: Instant) -> Self {
        Self { start, inner: Arc::default() }
    }

    /// Milliseconds since the drill began.
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Milliseconds since the drill began at `at`.
    pub fn ms_of(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_millis() as u64
    }

    /// Record the start of an operation; returns its id for [`History::ok`] / [`History::fail`].
    pub fn invoke(&self, client: &str, op: Op) -> u64 {
        let mut log = self.inner.lock().expect("history lock");
        log.next_id += 1;
        let id = log.next_id;
        let at_ms = self.now_ms();
        log.entries.push(Entry { id, at_ms, client: client.to_owned(), phase: Phase::Invoke, op, error: None });
        id
    }

    /// The operation `id` succeeded; `op` may carry what the answer told (a session, a seq).
    pub fn ok(&self, id: u64, client: &str, op: Op) {
        self.push(id, client, Phase::Ok, op, None, None);
    }

    /// The operation `id` failed with `error`.
    pub fn fail(&self, id: u64, client: &str, op: Op, error: impl Into<String>) {
        self.push(id, client, Phase::Fail, op, Some(error.into()), None);
    }

    /// An observation that has no invoke (a received message, a disconnect, a catch-up),
    /// stamped at `at` (when it arrived), or now.
    pub fn observed(&self, client: &str, op: Op, at: Option<Instant>) -> u64 {
        let id = {
            let mut log = self.inner.lock().expect("history lock");
            log.next_id += 1;
            log.next_id
        };
        self.push(id, client, Phase::Ok, op, None, at);
        id
    }

    fn push(&self, id: u64, client: &str, phase: Phase, op: Op, error: Option<String>, at: Option<Instant>) {
        let at_ms = at.map_or_else(|| self.now_ms(), |at| self.ms_of(at));
        let entry = Entry { id, at_ms, client: client.to_owned(), phase, op, error };
        self.inner.lock().expect("history lock").entries.push(entry);
    }

    /// Every entry so far, in the order they were recorded.
    pub fn entries(&self) -> Vec<Entry> {
        self.inner.lock().expect("history lock").entries.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_and_completion_share_an_id_and_serialize_flat() {
        let history = History::new(Instant::now());
        let op = Op::Login { user: "u1".into(), session: None };
        let id = history.invoke("c1", op);
        history.ok(id, "c1", Op::Login { user: "u1".into(), session: Some("s1".into()) });
        let entries = history.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].id, entries[0].phase), (id, Phase::Invoke));
        assert_eq!((entries[1].id, entries[1].phase), (id, Phase::Ok));
        let json = serde_json::to_value(&entries[1]).unwrap();
        assert_eq!(json["op"], "login");
        assert_eq!(json["session"], "s1");
        assert_eq!(json["phase"], "ok");
        let back: Entry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entries[1]);
    }
}
