//! One simulated user's life, as the web client lives it: register (or log in when the
//! e-mail exists), list rooms, create or join its room over REST, connect the socket,
//! `joinRoom`, `fetchPreviousMessages`, then send stamped `chatMessage`s at its rate
//! and mark every message it receives read, until the run says stop; then close.
//!
//! One task per user (plus the client's one task per socket); it sleeps between
//! events and timer ticks, never polls.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::{watch, OnceCell, OwnedSemaphorePermit};
use tokio::time::{Instant, MissedTickBehavior};

use super::checker::{Delivery, Sent, Stamp, UserLedger};
use super::stats::Stats;
use crate::client::{ApiError, ChatApi, ChatSocket, Events, Incoming, Login, SocketError};

/// Where the run is; users follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Sending,
    /// Sending has stopped; late deliveries still count.
    Draining,
    Closing,
}

/// What every user of a run shares.
#[derive(Debug)]
pub struct Shared {
    pub stats: Arc<Stats>,
    /// Room ids by room number, created by whichever member gets there first.
    pub rooms: Vec<OnceCell<String>>,
    pub run: u64,
    pub prefix: String,
    pub password: String,
    pub rate: f64,
    pub mark_read: bool,
    pub timeout: Duration,
}

/// One user of the run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub user: u32,
    pub room: u32,
    pub api: ChatApi,
}

// Endpoint labels as `chat_ops::client` names them, kept static for the counters.
const REGISTER: &str = "POST /api/auth/register";
const LOGIN: &str = "POST /api/auth/login";
const LIST_ROOMS: &str = "GET /api/rooms";
const CREATE_ROOM: &str = "POST /api/rooms";
const JOIN_ROOM: &str = "POST /api/rooms/{id}/join";

/// Live the user's life; the ledger is what the loss check needs.
pub async fn live(
    plan: Plan,
    shared: Arc<Shared>,
    setup: OwnedSemaphorePermit,
    phase: watch::Receiver<Phase>,
) -> UserLedger {
    let stats = shared.stats.clone();
    let began = Instant::now();
    stats.users_active.fetch_add(1, Ordering::Relaxed);
    let mut ledger = UserLedger { user: plan.user, room: plan.room, ..UserLedger::default() };
    match prepare(&plan, &shared).await {
        Ok((room_id, socket, events)) => {
            let mut life =
                Life { shared: &shared, stats: &stats, ledger: &mut ledger, socket, room_id, in_room: false };
            life.run(events, setup, phase).await;
        }
        Err(what) => {
            drop(setup);
            stats.user_failed();
            stats.sample(|| format!("user {}: {what}", plan.user));
        }
    }
    stats.session(began.elapsed());
    stats.users_active.fetch_sub(1, Ordering::Relaxed);
    ledger
}

/// Time one REST call and count it under `endpoint`. `expected` statuses are answers
/// the client plans for (409 on register of an existing user), not failures.
async fn timed<T>(
    stats: &Stats,
    endpoint: &'static str,
    expected: &[u16],
    call: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let started = Instant::now();
    let result = call.await;
    let ok = match &result {
        Ok(_) => true,
        Err(e) => e.status().is_some_and(|s| expected.contains(&s)),
    };
    stats.request(endpoint, started.elapsed(), ok);
    result
}

/// REST part and socket connect. Errors are already counted; the text is a sample.
async fn prepare(plan: &Plan, shared: &Shared) -> Result<(String, ChatSocket, Events), String> {
    let stats = &shared.stats;
    let api = &plan.api;
    let name = format!("{} {}", shared.prefix, plan.user);
    let email = format!("{}-{}@bench.local", shared.prefix, plan.user);
    let me = match timed(stats, REGISTER, &[409], api.register(&name, &email, &shared.password)).await {
        Ok(me) => me,
        Err(e) if e.status() == Some(409) => {
            timed(stats, LOGIN, &[], api.login(&email, &shared.password)).await.map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    timed(stats, LIST_ROOMS, &[], api.rooms(&me, 0, 10)).await.map_err(|e| e.to_string())?;
    let room_id = room(plan, shared, &me).await?;
    let connected = ChatSocket::connect(api.base(), &me, shared.timeout).await;
    stats.connection(connected.is_ok());
    let (socket, events) = connected.map_err(|e: SocketError| format!("socket connect: {e}"))?;
    Ok((room_id, socket, events))
}

/// The user's room: created by the first member to get there, joined by the others.
async fn room(plan: &Plan, shared: &Shared, me: &Login) -> Result<String, String> {
    let stats = &shared.stats;
    let mut created = false;
    let cell = &shared.rooms[plan.room as usize];
    let id = cell
        .get_or_try_init(|| async {
            let name = format!("{} room {}", shared.prefix, plan.room);
            let room = timed(stats, CREATE_ROOM, &[], plan.api.create_room(me, &name, None)).await;
            created = true;
            room.map(|r| r.id).map_err(|e| e.to_string())
        })
        .await?
        .clone();
    if !created {
        timed(stats, JOIN_ROOM, &[], plan.api.join_room(me, &id, None)).await.map_err(|e| e.to_string())?;
    }
    Ok(id)
}

/// Where a connected user is in its setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Joining,
    LoadingHistory,
    Chatting,
}

struct Life<'a> {
    shared: &'a Shared,
    stats: &'a Stats,
    ledger: &'a mut UserLedger,
    socket: ChatSocket,
    room_id: String,
    in_room: bool,
}

impl Life<'_> {
    async fn run(&mut self, mut events: Events, setup: OwnedSemaphorePermit, mut phase: watch::Receiver<Phase>) {
        let mut setup = Some(setup);
        let mut stage = Stage::Joining;
        let _ = self.socket.emit("joinRoom", json!([self.room_id]));
        let mut deadline = Some(Instant::now() + self.shared.timeout);
        let period = Duration::from_secs_f64(1.0 / self.shared.rate);
        let first = Instant::now() + period.mul_f64(rand::thread_rng().gen_range(0.0..1.0));
        let mut ticker = tokio::time::interval_at(first, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut closing = false;
        loop {
            if !closing && *phase.borrow_and_update() == Phase::Closing {
                closing = true;
                self.socket.close();
            }
            let sending = stage == Stage::Chatting && *phase.borrow() == Phase::Sending;
            tokio::select! {
                incoming = events.recv() => match incoming {
                    Some(Incoming::Event { name, args, at }) => {
                        if let Some(next) = self.on_event(stage, &name, args, at.into_std()) {
                            stage = next;
                            deadline = match stage {
                                Stage::LoadingHistory => Some(Instant::now() + self.shared.timeout),
                                _ => None,
                            };
                            if stage == Stage::Chatting {
                                setup.take();
                            }
                        }
                    }
                    Some(Incoming::Closed { reason }) => {
                        if !closing {
                            self.stats.disconnect();
                            self.stats.sample(|| format!("user {}: socket closed: {reason}", self.ledger.user));
                            self.ledger.connected_to_end = false;
                        }
                        break;
                    }
                    None => break,
                },
                _ = ticker.tick(), if sending => self.send(),
                () = sleep_until(deadline) => {
                    let what = if stage == Stage::Joining { "joinRoomSuccess" } else { "previousMessagesLoaded" };
                    self.stats.server_error(|| format!("user {}: no {what} within {:?}", self.ledger.user, self.shared.timeout));
                    self.stats.user_failed();
                    self.ledger.connected_to_end = false;
                    break;
                }
                changed = phase.changed(), if !closing => {
                    if changed.is_err() || *phase.borrow() == Phase::Closing {
                        closing = true;
                        self.socket.close();
                    }
                }
            }
        }
        if self.in_room {
            self.stats.users_in_room.fetch_sub(1, Ordering::Relaxed);
        }
        self.socket.close();
    }

    /// Handle one event; returns the next stage when this event completes one.
    fn on_event(&mut self, stage: Stage, name: &str, mut args: Vec<Value>, at: std::time::Instant) -> Option<Stage> {
        let first = if args.is_empty() { Value::Null } else { args.swap_remove(0) };
        match name {
            "message" => {
                self.on_message(&first, at);
                None
            }
            "joinRoomSuccess" if stage == Stage::Joining && first["roomId"] == self.room_id.as_str() => {
                self.ledger.joined_us = Some(self.stats.at_us(at));
                self.ledger.connected_to_end = true;
                self.in_room = true;
                self.stats.users_in_room.fetch_add(1, Ordering::Relaxed);
                let _ = self.socket.emit("fetchPreviousMessages", json!([{"roomId": self.room_id, "limit": 30}]));
                Some(Stage::LoadingHistory)
            }
            "previousMessagesLoaded" if stage == Stage::LoadingHistory => Some(Stage::Chatting),
            "error" | "joinRoomError" | "session_ended" | "duplicate_login" => {
                self.stats.server_error(|| format!("user {}: {name} {first}", self.ledger.user));
                None
            }
            _ => None,
        }
    }

    fn on_message(&mut self, message: &Value, at: std::time::Instant) {
        let Some(stamp) = message["content"].as_str().and_then(Stamp::parse) else { return };
        if stamp.run != self.shared.run {
            return;
        }
        let latency = self.stats.at_us(at).saturating_sub(stamp.sent_us);
        if stamp.sender == self.ledger.user {
            if let Some(sent) = self.ledger.sent.get_mut(stamp.seq.wrapping_sub(1) as usize) {
                if !sent.acked {
                    sent.acked = true;
                    self.stats.acked(latency);
                }
            }
            return;
        }
        match self.ledger.seen.entry(stamp.sender).or_default().record(stamp.seq) {
            Delivery::Duplicate => return self.stats.duplicated(),
            Delivery::OutOfOrder => self.stats.out_of_order(),
            Delivery::InOrder => {}
        }
        self.stats.delivered(latency, self.ledger.room == 0);
        if self.shared.mark_read {
            if let Some(id) = message["_id"].as_str() {
                let _ = self.socket.emit("markMessagesAsRead", json!([{"messageIds": [id], "roomId": self.room_id}]));
                self.stats.read_marked();
            }
        }
    }

    fn send(&mut self) {
        let sent_us = self.stats.now_us();
        let seq = self.ledger.sent.len() as u32 + 1;
        let stamp = Stamp { run: self.shared.run, sender: self.ledger.user, seq, sent_us };
        let payload = json!([{"room": self.room_id, "type": "text", "content": stamp.content()}]);
        if self.socket.emit("chatMessage", payload).is_ok() {
            self.ledger.sent.push(Sent { sent_us, acked: false });
            self.stats.sent();
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
