//! chat-node: one process of the chat cluster.
//!
//! [`run`] wires a node together: it binds the public listener (clients) and the
//! cluster listener (peers and operators), opens the sled Raft log and the state
//! machine in the data directory, starts the Raft member, serves until `shutdown`
//! resolves, then stops accepting, lets in-flight requests finish (bounded), and shuts
//! Raft down. `main.rs` only parses the configuration and calls it; tests start the
//! same binary.

mod ai;
mod auth;
mod cluster_api;
pub mod config;
mod connections;
mod consensus;
mod console;
mod drain;
mod error;
mod fanout;
mod mentions;
mod metrics;
mod moderation;
mod public;
mod ratelimit;
mod read_marks;
mod rest;
mod socket;
mod stores;
mod upload_expiry;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chat_raft::{Cluster, NodeAddr, StateMachineStore, TypeConfig};
use chat_storage::{
    BlobStore, Cache, CachedMessageStore, DirBlobStore, MessageStore, NoCache, RedisCache, SledLogStore,
};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{Config, LogFormat, Role};
pub use error::Error;

/// How long in-flight requests get to finish once shutdown starts.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// What every request handler of this node can reach.
pub(crate) struct Node {
    pub cluster: Cluster,
    pub config: Config,
    pub fanout: fanout::Fanout,
    /// Signs and verifies client JWTs.
    pub jwt: auth::jwt::JwtKeys,
    /// Session activity seen here and not yet committed.
    pub activity: auth::activity::Activity,
    /// Message history, read receipts and reactions.
    pub messages: Arc<dyn MessageStore>,
    /// Read marks seen here and not yet written (coalesced, `read_marks.rs`).
    pub read_marks: read_marks::ReadMarks,
    /// Bytes of uploaded files and profile images, readable from any node.
    pub blobs: Arc<dyn BlobStore>,
    /// This node's own copies (`<data_dir>/blobs`), which `blobs` fills and which the
    /// cluster listener serves to peers; kept apart so a copy received from a peer is
    /// stored here only, never replicated again.
    pub blob_copies: DirBlobStore,
    /// Uploads in progress here, bounded per user and per node.
    pub upload_slots: rest::UploadSlots,
    /// Rooms' `recentMessageCount`, kept a few seconds (`rest/recent_counts.rs`).
    pub recent_counts: rest::RecentCounts,
    /// MongoDB's connection and readiness, when messages and files are stored there
    /// (`--mongodb-uri`); `/api/health` requires it.
    pub mongo: Option<Arc<stores::Mongo>>,
    /// The banned-word filter; `None` when no list is configured.
    pub banned_words: Option<moderation::BannedWords>,
    pub metrics: Arc<metrics::Metrics>,
    /// The runtime of client work (sockets, REST): handlers on the cluster listener,
    /// which runs on the consensus thread, hand such work back to it.
    pub clients: tokio::runtime::Handle,
    /// Per-node request counters of protocol §6.10.
    pub rate_limits: ratelimit::RateLimits,
    /// AI replies: the provider and the replies being streamed.
    pub ai: ai::Ai,
    /// Whether this node is being drained of its client sockets (operator action).
    pub drain: Arc<drain::Drain>,
}

impl Node {
    /// Whether this node announces users' messages, read receipts and reactions as it
    /// applies them (`--announce-on-apply`, and a store that every node applies), rather
    /// than their writer sending them through the fan-out (`fanout::applied`).
    pub(crate) fn announces_on_apply(&self) -> bool {
        self.config.announce_on_apply && self.messages.applied_everywhere()
    }
}

/// Run a node until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir)?;
    let public = bind(config.public_addr).await?;
    let cluster_listener = bind(config.cluster_addr).await?;
    let socket_listener = match config.socket_addr {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let addr = NodeAddr {
        public: config.advertised(public.local_addr()?),
        cluster: config.advertised(cluster_listener.local_addr()?),
    };
    let socket_public = match &socket_listener {
        Some(listener) => Some(config.advertised(listener.local_addr()?)),
        None => None,
    };
    write_listening(&config.data_dir, &addr, socket_public.as_deref())?;

    let log_store = chat_storage::sled_db::open(&config.data_dir.join("raft-log"), config.sled_cache_bytes())
        .and_then(|db| SledLogStore::<TypeConfig>::from_db(&db))
        .map_err(|e| Error::Storage(e.to_string()))?;
    let plan = stores::Plan::from_config(&config)?;
    let state_machine = StateMachineStore::open_with(&config.data_dir.join("state"), plan.applier())?;
    let consensus = consensus::Consensus::start(config.consensus_threads)?;
    let (id, raft_addr, secret, settings) =
        (config.id, addr.clone(), config.cluster_secret.clone(), config.raft_settings());
    let cluster = consensus
        .run(async move { Cluster::start(id, raft_addr, &secret, settings, log_store, state_machine).await })
        .await??;
    tracing::info!(node = config.id, role = ?config.role, public = %addr.public, cluster = %addr.cluster, "node started");

    let jwt = auth::jwt::JwtKeys::from_config(config.jwt_secret.as_deref());
    let banned_words = load_banned_words(&config)?;
    let blob_copies = DirBlobStore::open(&config.data_dir.join("blobs"))?;
    let stores::Stores { messages, blobs, mongo } = plan.build(&cluster, &blob_copies, &config.cluster_secret);
    let (io_layer, io) = socket::build(config.socket_buffer);
    let metrics = Arc::new(metrics::Metrics::default());
    let (messages, shared) = redis_cache(&config, messages)?;
    let rate_limits = ratelimit::RateLimits::from_config(&config, shared);
    let upload_slots = rest::UploadSlots::from_config(&config);
    let ai = ai::Ai::from_config(&config);
    let node = Arc::new(Node {
        cluster: cluster.clone(),
        // A client of its own: its connections are driven by the client runtime, not by
        // the consensus thread that drives Raft's.
        fanout: fanout::Fanout::new(
            io.clone(),
            chat_raft::client::ClusterClient::for_node(config.cluster_secret.clone(), config.id),
            metrics.clone(),
        ),
        metrics,
        clients: tokio::runtime::Handle::current(),
        config,
        jwt,
        activity: auth::activity::Activity::default(),
        messages,
        read_marks: read_marks::ReadMarks::default(),
        blobs,
        blob_copies,
        upload_slots,
        recent_counts: Default::default(),
        mongo,
        banned_words,
        rate_limits,
        ai,
        drain: Arc::new(drain::Drain::new(io.clone())),
    });
    // Before any socket can connect: what the log holds now was written before them.
    let logged_at_start = cluster.raft().metrics().borrow().last_log_index.unwrap_or(0);
    socket::register(&io, node.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let activity = tokio::spawn(auth::activity::run(node.clone(), stop_rx.clone()));
    let read_marks = tokio::spawn(read_marks::run(node.clone(), stop_rx.clone()));
    let notices = tokio::spawn(socket::notices::run(node.clone(), io.clone(), stop_rx.clone()));
    let announcer = node
        .announces_on_apply()
        .then(|| tokio::spawn(fanout::applied::run(node.clone(), logged_at_start, stop_rx.clone())));
    let stale_presence = tokio::spawn(socket::stale_presence::clear(node.clone(), io.clone(), stop_rx.clone()));
    let upload_expiry = tokio::spawn(upload_expiry::run(node.clone(), stop_rx.clone()));
    let mongo = node.mongo.clone().map(|mongo| tokio::spawn(mongo.run(stop_rx.clone())));
    // The cluster listener is served by the consensus thread (a listener belongs to
    // the runtime that registers it, hence the round trip through std).
    let cluster_std = cluster_listener.into_std()?;
    let cluster_router = cluster_api::router(node.clone());
    let cluster_stop = stop_rx.clone();
    let mut servers = vec![
        tokio::spawn(serve(public, public::router(node.clone(), io_layer.clone()), stop_rx.clone())),
        consensus.handle().spawn(async move {
            match TcpListener::from_std(cluster_std) {
                Ok(listener) => serve(listener, cluster_router, cluster_stop).await,
                Err(e) => tracing::error!(error = %e, "cluster listener failed"),
            }
        }),
    ];
    if let Some(listener) = socket_listener {
        tracing::info!(addr = %listener.local_addr()?, "Socket.IO listener");
        servers.push(tokio::spawn(serve(listener, public::socket_router(node.clone(), io_layer), stop_rx)));
    }

    shutdown.await;
    tracing::info!(node = node.config.id, "shutting down");
    // Before anything stops: a leader that leaves spares the cluster an election, and
    // no stopping node campaigns once its listeners close (raft `cluster/rejoin.rs`).
    hand_over_leadership(&consensus, &cluster, node.config.stop_handover()).await;
    cluster.stop_campaigning();
    let _ = stop_tx.send(true);
    // Close client sockets first, so their disconnects are handled while Raft runs.
    io.disconnect().await.ok();
    let drained = tokio::time::timeout(DRAIN_DEADLINE, futures::future::join_all(servers)).await;
    if drained.is_err() {
        tracing::warn!("in-flight requests did not finish within {DRAIN_DEADLINE:?}");
    }
    // Commits the last session activity, so it must finish before Raft stops.
    let _ = activity.await;
    let _ = read_marks.await;
    let _ = stale_presence.await;
    let _ = upload_expiry.await;
    notices.abort();
    if let Some(announcer) = announcer {
        announcer.abort();
    }
    if let Some(mongo) = mongo {
        let _ = mongo.await;
    }
    node.ai.shutdown().await;
    node.fanout.stop();
    cluster.shutdown().await;
    consensus.stop();
    tracing::info!(node = node.config.id, "stopped");
    Ok(())
}

/// On a planned stop of the leader, hand leadership to an up-to-date voter (the
/// others would otherwise notice the silence only after an election timeout).
async fn hand_over_leadership(consensus: &consensus::Consensus, cluster: &Cluster, within: Option<Duration>) {
    let Some(within) = within else { return };
    if cluster.raft().metrics().borrow().current_leader != Some(cluster.id()) {
        return;
    }
    let leader = cluster.clone();
    // On the consensus thread, whose runtime drives the cluster client's connections.
    match consensus.run(async move { leader.transfer_leadership(None, within).await }).await {
        Ok(Ok(handover)) => tracing::info!(to = handover.to, took_ms = handover.took_ms, "handed leadership over"),
        Ok(Err(e)) => tracing::warn!(error = %e, "could not hand leadership over; stopping anyway"),
        Err(e) => tracing::warn!(error = %e, "could not hand leadership over; stopping anyway"),
    }
}

/// The message store as the node uses it, and the rate limits' shared counters.
type CachedStores = (Arc<dyn MessageStore>, Arc<dyn Cache>);

/// With Redis configured: the store behind the recent-messages cache, and the shared
/// rate-limit counters. Without: the store as it is, and no shared counters.
fn redis_cache(config: &Config, messages: Arc<dyn MessageStore>) -> Result<CachedStores, Error> {
    let Some(target) = config.redis_target() else {
        return Ok((messages, Arc::new(NoCache)));
    };
    // Not the URL itself: it may carry a password.
    let sentinel = matches!(target, chat_storage::RedisTarget::Sentinel { .. });
    tracing::info!(sentinel, "redis cache and cluster-wide rate limits on");
    let cache: Arc<dyn Cache> =
        Arc::new(RedisCache::new(target, "chat:").map_err(|e| Error::Config(format!("redis: {e}")))?);
    Ok((Arc::new(CachedMessageStore::new(messages, cache.clone())), cache))
}

fn load_banned_words(config: &Config) -> Result<Option<moderation::BannedWords>, Error> {
    match &config.banned_words {
        Some(path) => {
            let words = moderation::BannedWords::load(path)?;
            tracing::info!(words = words.len(), file = %path.display(), "banned-word filter on");
            Ok(Some(words))
        }
        None => {
            tracing::warn!("banned-word filter off: no --banned-words / CHAT_BANNED_WORDS_FILE given");
            Ok(None)
        }
    }
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })
}

async fn serve(listener: TcpListener, router: axum::Router, mut stop: watch::Receiver<bool>) {
    let router = router.layer(axum::middleware::map_request(connections::peer_addr));
    let listener = connections::KillableListener(listener);
    let result = axum::serve(listener, router.into_make_service_with_connect_info::<connections::Peer>())
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "listener failed");
    }
}

/// Record the bound addresses (a port of 0 means "pick one"), for operators and tests.
fn write_listening(dir: &Path, addr: &NodeAddr, socket: Option<&str>) -> Result<(), Error> {
    let body = serde_json::json!({ "public": addr.public, "cluster": addr.cluster, "socket": socket });
    let tmp = dir.join("listening.json.tmp");
    std::fs::write(&tmp, body.to_string())?;
    std::fs::rename(tmp, dir.join("listening.json"))?;
    Ok(())
}
