//! The drill's own small, bounded load: a few chat users per node in shared rooms
//! ([`super::chatter`]), plus users logging in and out from two devices
//! ([`super::churn`]), every operation recorded in the [`History`]. Set up before
//! the fault; stopped after it: clients stop sending, get time to reconnect and catch
//! up, then close.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_raft::NodeId;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::balancer::Balancer;
use super::chatter::Chatter;
use super::churn::Device;
use super::history::History;
use crate::client::{ApiError, ChatApi, Login};
use crate::Error;

/// How big the load is.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Chat users whose home is each node.
    pub users_per_node: usize,
    /// Rooms every chat user is in.
    pub rooms: usize,
    /// Users logging in and out, each from two devices.
    pub churn_users: usize,
    /// Pause between one chat user's messages.
    pub send_every: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { users_per_node: 2, rooms: 2, churn_users: 2, send_every: Duration::from_millis(150) }
    }
}

/// A node clients may connect to.
#[derive(Debug, Clone)]
pub struct NodeTarget {
    pub id: NodeId,
    pub public: String,
}

/// One client's way back after a disconnect (ms since the drill began).
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    pub client: String,
    pub down_ms: u64,
    pub reconnected_ms: u64,
    pub caught_up_ms: u64,
}

/// Counters the clients share.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: u64,
    /// Client-visible failures left after retrying (descriptions).
    pub failed: Vec<String>,
    /// Messages whose acknowledgement never came (the connection broke first).
    pub unacknowledged: Vec<String>,
    /// Requests refused because another login replaced the session (expected).
    pub stale_session_refusals: u64,
    /// Chat clients whose connection broke at least once (drains excluded).
    pub disconnected: BTreeSet<String>,
    pub recoveries: Vec<Recovery>,
}

/// What every client of the load shares.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    pub nodes: Arc<Vec<NodeTarget>>,
    pub rooms: Arc<Vec<String>>,
    /// Start of every load message's content: unique to this drill.
    pub prefix: String,
    pub send_every: Duration,
    pub history: History,
    pub balancer: Balancer,
    pub http: reqwest::Client,
    pub stats: Arc<Mutex<Stats>>,
}

impl Shared {
    pub fn public_of(&self, node: NodeId) -> String {
        self.nodes.iter().find(|n| n.id == node).map(|n| n.public.clone()).unwrap_or_default()
    }

    pub fn count_failed(&self, what: String) {
        tracing::debug!(%what, "request failed");
        self.stats.lock().expect("stats").failed.push(what);
    }

    pub fn count_unacknowledged(&self, nonce: &str) {
        self.stats.lock().expect("stats").unacknowledged.push(nonce.to_owned());
    }
}

/// The running load.
pub struct Load {
    shared: Shared,
    auditor: Login,
    stop_sending: watch::Sender<bool>,
    quit: watch::Sender<bool>,
    clients: JoinSet<()>,
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Load").field("prefix", &self.shared.prefix).finish_non_exhaustive()
    }
}

/// Attempts of a setup call (registration, room creation) before the drill gives up.
const SETUP_ATTEMPTS: usize = 10;
const PASSWORD: &str = "drill-password-1";

impl Load {
    /// Register the users, create the rooms, start every client, and return once every
    /// chat user has joined every room.
    pub async fn start(
        opts: &LoadOptions,
        nodes: Vec<NodeTarget>,
        history: History,
        balancer: Balancer,
    ) -> Result<Load, Error> {
        if nodes.is_empty() || opts.rooms == 0 {
            return Err(Error::Usage("the load needs at least one node and one room".into()));
        }
        let run = format!("{:08x}", rand::random::<u32>());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| Error::Usage(format!("cannot build an HTTP client: {e}")))?;
        let apis: Vec<ChatApi> =
            nodes.iter().map(|n| ChatApi::with_client(&n.public, http.clone())).collect::<Result<_, _>>()?;
        let api = |i: usize| &apis[i % apis.len()];
        let auditor =
            setup(|| async { api(0).register("drill auditor", &email(&run, "auditor"), PASSWORD).await }).await?;
        let mut rooms = Vec::new();
        for r in 0..opts.rooms {
            let name = format!("drill {run} room {r}");
            let room = setup(|| async { api(r).create_room(&auditor, &name, None).await }).await?;
            rooms.push(room.id);
        }
        let shared = Shared {
            nodes: Arc::new(nodes.clone()),
            rooms: Arc::new(rooms),
            prefix: format!("drill-{run}-"),
            send_every: opts.send_every,
            history,
            balancer,
            http: http.clone(),
            stats: Arc::default(),
        };
        let (stop_sending, stop_rx) = watch::channel(false);
        let (quit, quit_rx) = watch::channel(false);
        let mut clients = JoinSet::new();
        for (home, node) in nodes.iter().enumerate() {
            for u in 0..opts.users_per_node {
                let name = format!("chat-{}-{u}", node.id);
                let login = setup(|| async { api(home).register(&name, &email(&run, &name), PASSWORD).await }).await?;
                let chatter = Chatter {
                    name,
                    login,
                    home,
                    shared: shared.clone(),
                    stop_sending: stop_rx.clone(),
                    quit: quit_rx.clone(),
                };
                clients.spawn(chatter.run());
            }
        }
        for c in 0..opts.churn_users {
            let name = format!("churn-{c}");
            let address = email(&run, &name);
            let user = setup(|| async { api(c).register(&name, &address, PASSWORD).await }).await?;
            for (device, offset) in [("a", 0), ("b", 1)] {
                let device = Device {
                    name: format!("{name}{device}"),
                    user_id: user.user_id.clone(),
                    email: address.clone(),
                    password: PASSWORD.into(),
                    home: c + offset,
                    shared: shared.clone(),
                    stop: stop_rx.clone(),
                };
                clients.spawn(device.run());
            }
        }
        let load = Load { shared, auditor, stop_sending, quit, clients };
        load.wait_joined(opts).await?;
        Ok(load)
    }

    /// Until every chat user joined every room once (bounded).
    async fn wait_joined(&self, opts: &LoadOptions) -> Result<(), Error> {
        let expected = self.shared.nodes.len() * opts.users_per_node * opts.rooms;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let joined: BTreeSet<(String, String)> = self
                .shared
                .history
                .entries()
                .into_iter()
                .filter(|e| e.phase == super::history::Phase::Ok)
                .filter_map(|e| match e.op {
                    super::history::Op::Join { room, .. } => Some((e.client, room)),
                    _ => None,
                })
                .collect();
            if joined.len() >= expected {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("the load's chat users to join their rooms ({} of {expected})", joined.len()),
                    after: Duration::from_secs(60),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stop sending, and give disconnected clients up to `settle` to come back and
    /// catch up (and deliveries a moment to land). Clients stay connected.
    pub async fn settle(&self, settle: Duration) {
        let _ = self.stop_sending.send(true);
        let deadline = Instant::now() + settle;
        // Every chat client connected again (the balancer counts them), then a moment
        // for the last deliveries to land.
        loop {
            let connected: usize = self.shared.nodes.iter().map(|n| self.shared.balancer.clients_on(n.id)).sum();
            if connected >= self.chat_clients() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1).min(settle)).await;
    }

    /// The load's rooms.
    pub fn rooms(&self) -> &[String] {
        &self.shared.rooms
    }

    /// Close every client and hand back the counters. Closed sockets leave their rooms
    /// after the node's leave grace, so participants must be read before this.
    pub async fn close(mut self) -> LoadResult {
        let _ = self.quit.send(true);
        while self.clients.join_next().await.is_some() {}
        let stats = std::mem::take(&mut *self.shared.stats.lock().expect("stats"));
        LoadResult { stats, shared: self.shared, auditor: self.auditor }
    }

    fn chat_clients(&self) -> usize {
        let entries = self.shared.history.entries();
        let names: BTreeSet<&str> = entries
            .iter()
            .filter(|e| matches!(e.op, super::history::Op::Join { .. }))
            .map(|e| e.client.as_str())
            .collect();
        names.len()
    }
}

/// The load after it stopped: its counters, and what the read-back needs.
#[derive(Debug)]
pub struct LoadResult {
    pub stats: Stats,
    pub(super) shared: Shared,
    pub(super) auditor: Login,
}

impl LoadResult {
    pub fn rooms(&self) -> &[String] {
        &self.shared.rooms
    }

    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }
}

fn email(run: &str, name: &str) -> String {
    format!("{name}-{run}@drill.local")
}

/// A setup call, retried while the cluster settles.
async fn setup<T, F, Fut>(call: F) -> Result<T, Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut last = String::new();
    for _ in 0..SETUP_ATTEMPTS {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_retryable() => last = e.to_string(),
            Err(e) => return Err(Error::Usage(format!("setting up the drill's load: {e}"))),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(Error::Usage(format!("setting up the drill's load: {last}")))
}
