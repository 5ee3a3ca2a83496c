//! `--flood EVENT`: one extra user in the first room that emits one socket event as fast
//! as `--flood-rate` allows for the whole sending phase, never waiting for answers, and
//! reads and discards whatever arrives (a flooder, not a slow consumer), so the run shows
//! what one hostile socket costs everybody else's delivery latency.
//!
//! The flooder records nothing in the run's [`Stats`](super::stats::Stats) and has no
//! ledger: its messages carry no stamp, so members ignore them, and the loss check never
//! sees it. What it did and what it was told is its own [`FloodReport`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::checker::grouped;
use super::options::FloodEvent;
use super::user::{Phase, Shared};
use crate::client::{ApiError, ChatApi, ChatSocket, Events, Incoming, Login};

/// Emitted events the socket has not written yet beyond which the flooder holds back
/// (counted), so a server that stops reading cannot grow the generator's memory.
const MAX_BACKLOG: usize = 1024;
/// How often the flooder wakes to emit what its rate owes; finer than 10 ms buys nothing
/// from the timer, and the events of one wake go out back to back.
const TICK: Duration = Duration::from_millis(10);
/// After a disconnect, the time before the next connection attempt.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);
/// Distinct refusal keys kept; the rest are counted under `other`.
const MAX_REFUSAL_KEYS: usize = 32;
/// Disconnect reasons kept as samples.
const MAX_REASONS: usize = 5;

/// What the flooder did, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FloodReport {
    pub event: String,
    /// Events per second it tried to send (--flood-rate).
    pub rate_per_s: f64,
    /// Events the rate called for while it was flooding.
    pub attempted: u64,
    /// Flood events written to its websocket (its own `joinRoom`s and target message
    /// not counted).
    pub sent: u64,
    /// Events not emitted because the socket had not written the previous ones, or was
    /// closed at the time.
    pub held_back: u64,
    /// Seconds from its first flooded event to the end of the sending phase.
    pub flooding_s: f64,
    /// Server events it received (and discarded).
    pub received: u64,
    /// Refusals by code: `error` / `joinRoomError` events by their `code`, or by their
    /// text when they have none; `session_ended` and `duplicate_login` by name.
    pub refusals: BTreeMap<String, u64>,
    /// Times its socket was closed by the server or the network while flooding.
    pub disconnects: u64,
    pub reconnects: u64,
    pub reconnect_failures: u64,
    /// The first disconnect and reconnect-failure reasons.
    pub disconnect_reasons: Vec<String>,
    /// Why it never started flooding, if it did not.
    pub setup_error: Option<String>,
}

impl FloodReport {
    fn refused(&mut self, key: String) {
        let key = if self.refusals.len() >= MAX_REFUSAL_KEYS && !self.refusals.contains_key(&key) {
            "other".to_string()
        } else {
            key
        };
        *self.refusals.entry(key).or_default() += 1;
    }

    fn reason(&mut self, what: String) {
        if self.disconnect_reasons.len() < MAX_REASONS {
            self.disconnect_reasons.push(what);
        }
    }
}

pub struct Flooder {
    pub event: FloodEvent,
    pub rate: f64,
    pub api: ChatApi,
    pub shared: Arc<Shared>,
}

/// The flooder's connection and what its events need.
struct Target {
    login: Login,
    room_id: String,
    /// A message of the room to mark read or react to.
    message_id: Option<String>,
}

impl Flooder {
    /// Flood until the run leaves [`Phase::Sending`]; then close and report.
    pub async fn run(self, mut phase: watch::Receiver<Phase>) -> FloodReport {
        let mut report =
            FloodReport { event: self.event.name().to_string(), rate_per_s: self.rate, ..FloodReport::default() };
        let setup = tokio::select! {
            setup = self.prepare(&mut report) => setup,
            () = until_sending_ends(&mut phase) => Err("the sending phase ended before the flooder was ready".into()),
        };
        match setup {
            Ok((target, socket, events)) => self.flood(&mut report, target, socket, events, phase).await,
            Err(why) => {
                tracing::warn!(error = %why, "the flooder did not start");
                report.setup_error = Some(why);
            }
        }
        report
    }

    /// Log in, wait for the first room, join it over REST and the socket, and for the
    /// events that name a message, send one and learn its id.
    async fn prepare(&self, report: &mut FloodReport) -> Result<(Target, ChatSocket, Events), String> {
        let shared = &self.shared;
        let name = format!("{} flood", shared.prefix);
        let email = format!("{}-flood@bench.local", shared.prefix);
        let login = match self.api.register(&name, &email, &shared.password).await {
            Ok(login) => login,
            Err(e) if e.status() == Some(409) => {
                self.api.login(&email, &shared.password).await.map_err(|e: ApiError| e.to_string())?
            }
            Err(e) => return Err(e.to_string()),
        };
        let room_id = loop {
            match shared.rooms.first().and_then(|cell| cell.get()) {
                Some(id) => break id.clone(),
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        self.api.join_room(&login, &room_id, None).await.map_err(|e| e.to_string())?;
        let (socket, mut events) = ChatSocket::connect(self.api.base(), &login, shared.timeout)
            .await
            .map_err(|e| format!("socket connect: {e}"))?;
        let mut target = Target { login, room_id, message_id: None };
        let _ = socket.emit("joinRoom", json!([target.room_id]));
        self.answer(report, &mut events, |name, first| {
            (name == "joinRoomSuccess" && first["roomId"] == target.room_id.as_str()).then_some(())
        })
        .await
        .ok_or("no joinRoomSuccess")?;
        if matches!(self.event, FloodEvent::MarkMessagesAsRead | FloodEvent::MessageReaction) {
            let content = "f-0";
            let _ = socket.emit("chatMessage", json!([{"room": target.room_id, "type": "text", "content": content}]));
            let id = self
                .answer(report, &mut events, |name, first| {
                    let own = name == "message" && first["content"] == content;
                    own.then(|| first["_id"].as_str().map(str::to_string)).flatten()
                })
                .await
                .ok_or("no echo of the flooder's target message")?;
            target.message_id = Some(id);
        }
        Ok((target, socket, events))
    }

    /// Read events until `wanted` picks one, within the run's --timeout; refusals on
    /// the way are counted.
    async fn answer<T>(
        &self,
        report: &mut FloodReport,
        events: &mut Events,
        mut wanted: impl FnMut(&str, &Value) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + self.shared.timeout;
        loop {
            let incoming = tokio::time::timeout_at(deadline, events.recv()).await.ok()??;
            let Incoming::Event { name, args, .. } = incoming else { return None };
            let first = args.into_iter().next().unwrap_or(Value::Null);
            if let Some(found) = wanted(&name, &first) {
                return Some(found);
            }
            on_event(report, &name, &first);
        }
    }

    async fn flood(
        &self,
        report: &mut FloodReport,
        target: Target,
        socket: ChatSocket,
        mut events: Events,
        mut phase: watch::Receiver<Phase>,
    ) {
        let began = Instant::now();
        // Frames written that were not flood events: the set-up's, then each rejoin.
        let mut overhead = socket.written();
        let mut socket = Some(socket);
        let mut reconnect_at: Option<Instant> = None;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut n: u64 = 0;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let due = (self.rate * began.elapsed().as_secs_f64()) as u64;
                    while report.attempted < due {
                        report.attempted += 1;
                        match &socket {
                            Some(s) if s.queued() < MAX_BACKLOG => {
                                n += 1;
                                if s.emit(self.event.name(), self.payload(&target, n)).is_err() {
                                    report.held_back += 1;
                                }
                            }
                            _ => report.held_back += 1,
                        }
                    }
                }
                incoming = events.recv(), if socket.is_some() => match incoming {
                    Some(Incoming::Event { name, args, .. }) => {
                        on_event(report, &name, args.first().unwrap_or(&Value::Null));
                    }
                    Some(Incoming::Closed { reason }) => {
                        closed(report, socket.take(), reason);
                        reconnect_at = Some(Instant::now() + RECONNECT_EVERY);
                    }
                    None => {
                        closed(report, socket.take(), "the connection ended".into());
                        reconnect_at = Some(Instant::now() + RECONNECT_EVERY);
                    }
                },
                () = sleep_until(reconnect_at) => {
                    reconnect_at = None;
                    match ChatSocket::connect(self.api.base(), &target.login, self.shared.timeout).await {
                        Ok((s, e)) => {
                            report.reconnects += 1;
                            if s.emit("joinRoom", json!([target.room_id])).is_ok() {
                                overhead += 1;
                            }
                            socket = Some(s);
                            events = e;
                        }
                        Err(e) => {
                            report.reconnect_failures += 1;
                            report.reason(format!("reconnect: {e}"));
                            reconnect_at = Some(Instant::now() + RECONNECT_EVERY);
                        }
                    }
                }
                () = until_sending_ends(&mut phase) => break,
            }
        }
        report.flooding_s = (began.elapsed().as_secs_f64() * 10.0).round() / 10.0;
        if let Some(s) = socket.take() {
            report.sent += s.written();
            s.close();
        }
        report.sent = report.sent.saturating_sub(overhead);
    }

    /// Event number `n`'s arguments. Chat messages carry `f-<n>` (no stamp, so members
    /// skip them; no run of four letters or digits, so the banned-word filter passes them).
    fn payload(&self, target: &Target, n: u64) -> Value {
        let room = &target.room_id;
        let message = target.message_id.as_deref().unwrap_or("");
        match self.event {
            FloodEvent::ChatMessage => json!([{"room": room, "type": "text", "content": format!("f-{}", grouped(n))}]),
            FloodEvent::MarkMessagesAsRead => json!([{"messageIds": [message], "roomId": room}]),
            FloodEvent::MessageReaction => {
                let kind = if n % 2 == 1 { "add" } else { "remove" };
                json!([{"messageId": message, "reaction": "👍", "type": kind}])
            }
            FloodEvent::JoinRoom => json!([room]),
            FloodEvent::FetchPreviousMessages => json!([{"roomId": room, "limit": 30}]),
        }
    }
}

/// The socket was closed under the flooder: count it and what it had written.
fn closed(report: &mut FloodReport, socket: Option<ChatSocket>, reason: String) {
    report.disconnects += 1;
    report.reason(reason);
    if let Some(s) = socket {
        report.sent += s.written();
    }
}

/// Count one received event; refusals by code.
fn on_event(report: &mut FloodReport, name: &str, first: &Value) {
    report.received += 1;
    match name {
        "error" | "joinRoomError" => {
            let key = match (first["code"].as_str(), first["message"].as_str()) {
                (Some(code), _) => code.to_string(),
                (None, Some(text)) => format!("{name}: {}", text.chars().take(60).collect::<String>()),
                (None, None) => format!("{name}: {}", first.to_string().chars().take(60).collect::<String>()),
            };
            report.refused(key);
        }
        "session_ended" | "duplicate_login" => report.refused(name.to_string()),
        _ => {}
    }
}

/// Resolves once the run has left [`Phase::Sending`] (or its sender is gone).
async fn until_sending_ends(phase: &mut watch::Receiver<Phase>) {
    while *phase.borrow_and_update() == Phase::Sending {
        if phase.changed().await.is_err() {
            return;
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
