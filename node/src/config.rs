//! Command-line and environment configuration of a node, validated once at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chat_raft::{NodeId, RaftSettings};
use clap::{Parser, ValueEnum};

use crate::Error;

/// The role a node is started for. Membership decides what it does in Raft; the role
/// is what the operator intended, shown in logs and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Votes in Raft (3 or 5 per cluster) and serves clients.
    Voter,
    /// A Raft learner: replicates, serves clients, never votes.
    Edge,
}

/// Where AI replies (protocol §6.8) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AiProviderKind {
    /// Built in: a deterministic reply streamed in a few chunks, no network.
    Offline,
    /// An OpenAI-compatible `POST {url}/chat/completions` with `stream: true`.
    Openai,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line (timestamp, level, target, fields, spans), for log
    /// shippers such as the CloudWatch agent.
    Json,
}

/// chat-node: one member of the Raft-replicated chat cluster.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-node", version, about)]
pub struct Config {
    /// This node's id in the cluster (1 or more, unique, never reused).
    #[arg(long, env = "CHAT_NODE_ID")]
    pub id: NodeId,

    /// What this node is started as.
    #[arg(long, env = "CHAT_ROLE", value_enum, default_value = "voter")]
    pub role: Role,

    /// Public listener (clients, via the load balancer): REST, Socket.IO, health.
    #[arg(long, env = "CHAT_PUBLIC_ADDR", default_value = "0.0.0.0:5001")]
    pub public_addr: SocketAddr,

    /// Cluster listener (other nodes and operators only): Raft, forwarding, admin,
    /// `/metrics`. Loopback unless given: a node that other machines must reach is
    /// started with its private address (or 0.0.0.0 behind a firewall) on purpose.
    #[arg(long, env = "CHAT_CLUSTER_ADDR", default_value = "127.0.0.1:7001")]
    pub cluster_addr: SocketAddr,

    /// Browser origins (`scheme://host[:port]`, comma-separated) whose pages may read
    /// REST and Socket.IO polling answers cross-origin. Empty: any origin (protocol
    /// §1.2; the node sets no cookies, so credentials carry nothing). Same-origin pages
    /// such as the console need no entry.
    #[arg(long, env = "CHAT_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Also serve `GET /metrics` on the public listener, without any secret. Off by
    /// default: it is served on the cluster listener, behind the cluster secret.
    #[arg(long, env = "CHAT_PUBLIC_METRICS", default_value_t = false)]
    pub public_metrics: bool,

    /// Host name or IP other nodes use to reach this one, when the listen address is
    /// a wildcard (0.0.0.0). Defaults to 127.0.0.1 in that case.
    #[arg(long, env = "CHAT_ADVERTISE_HOST")]
    pub advertise_host: Option<String>,

    /// Directory for the Raft log, snapshots and other node data.
    #[arg(long, env = "CHAT_DATA_DIR")]
    pub data_dir: PathBuf,

    /// Page cache of each of the node's sled databases (Raft log, embedded messages),
    /// in MiB. sled's own default (1 GiB each) lets a busy node's memory grow far past
    /// what it reads back.
    #[arg(long, env = "CHAT_SLED_CACHE_MB", default_value_t = chat_storage::sled_db::DEFAULT_CACHE_BYTES >> 20)]
    pub sled_cache_mb: u64,

    /// Threads of the runtime that carries client sockets and REST; 0 = one per core.
    /// Nodes that share a machine (`chatctl local up`) do better with fewer: every
    /// idle worker is woken for new work, and on a shared core those wake-ups cost
    /// more than the parallelism gains (README "Performance").
    #[arg(long, env = "CHAT_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,

    /// With the embedded store, each node announces users' messages, read receipts and
    /// reactions to its own sockets as it applies them, instead of the writer sending
    /// them to every node after all applied (`node/src/fanout/applied.rs`). Off by
    /// default: a member can then see an event from its own node before another node
    /// applied it, and a history read there in that moment (within about a heartbeat)
    /// lacks it, which the read guarantee of architecture §3.1 does not allow.
    #[arg(long, env = "CHAT_ANNOUNCE_ON_APPLY", default_value_t = false)]
    pub announce_on_apply: bool,

    /// Threads of the consensus runtime (Raft, the cluster listener; see
    /// `consensus.rs`).
    #[arg(long, env = "CHAT_CONSENSUS_THREADS", default_value_t = 2)]
    pub consensus_threads: usize,

    /// Shared secret every cluster-listener request must carry.
    #[arg(long, env = "CHAT_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: String,

    /// HS256 key for client JWTs (at least 32 bytes), the same on every node.
    #[arg(long, env = "CHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// bcrypt cost for user and room passwords (4..=31); each step doubles the CPU a
    /// login or registration costs.
    #[arg(long, env = "CHAT_BCRYPT_COST", default_value_t = 10)]
    pub bcrypt_cost: u32,

    /// Raft heartbeat period in milliseconds.
    #[arg(long, env = "CHAT_HEARTBEAT_MS", default_value_t = RaftSettings::default().heartbeat_ms)]
    pub heartbeat_ms: u64,

    /// Minimum election timeout in milliseconds.
    #[arg(long, env = "CHAT_ELECTION_MIN_MS", default_value_t = RaftSettings::default().election_min_ms)]
    pub election_min_ms: u64,

    /// Maximum election timeout in milliseconds.
    #[arg(long, env = "CHAT_ELECTION_MAX_MS", default_value_t = RaftSettings::default().election_max_ms)]
    pub election_max_ms: u64,

    /// Read lease in milliseconds (shorter than the minimum election timeout).
    #[arg(long, env = "CHAT_LEASE_MS", default_value_t = RaftSettings::default().lease_ms)]
    pub lease_ms: u64,

    /// Snapshot the control state every this many log entries.
    #[arg(long, env = "CHAT_SNAPSHOT_EVERY", default_value_t = RaftSettings::default().snapshot_every)]
    pub snapshot_every: u64,

    /// Log entries kept behind a snapshot: a follower lagging by fewer catches up from
    /// the log instead of receiving the whole snapshot.
    #[arg(long, env = "CHAT_SNAPSHOT_KEEP", default_value_t = RaftSettings::default().snapshot_keep)]
    pub snapshot_keep: u64,

    /// Milliseconds a silent member is tolerated before the leader declares it down.
    #[arg(long, env = "CHAT_NODE_DOWN_GRACE_MS", default_value_t = RaftSettings::default().node_down_grace_ms)]
    pub node_down_grace_ms: u64,

    /// Milliseconds a node may be stale (no leader, lagging) before `/api/health`
    /// answers 503. Longer than a normal election, so elections do not empty the pool.
    #[arg(long, env = "CHAT_HEALTH_GRACE_MS", default_value_t = 2_000)]
    pub health_grace_ms: u64,

    /// Log lines on stderr as readable text or as one JSON object per line.
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// On SIGTERM, a leader first hands leadership to an up-to-date voter, waiting up
    /// to this many milliseconds (0: stop without handing over; the others elect a
    /// leader after an election timeout).
    #[arg(long, env = "CHAT_STOP_HANDOVER_MS", default_value_t = 5_000)]
    pub stop_handover_ms: u64,

    /// Also serve Socket.IO (and `/api/health`) on this second address, for clients
    /// configured with separate REST and socket base URLs (protocol §1.1, port 5002).
    #[arg(long, env = "CHAT_SOCKET_ADDR")]
    pub socket_addr: Option<SocketAddr>,

    /// Emails of the first admins (comma-separated, case-insensitive): an account with
    /// such an email is made admin when it registers or logs in (protocol §8.1).
    #[arg(long, env = "CHAT_ADMIN_EMAILS", value_delimiter = ',')]
    pub admin_emails: Vec<String>,

    /// Banned-word list, one word per line (protocol §6.7). Without it the filter is off.
    #[arg(long, env = "CHAT_BANNED_WORDS_FILE")]
    pub banned_words: Option<PathBuf>,

    /// Milliseconds a disconnected socket keeps its rooms, so a page reload re-joins
    /// silently instead of posting leave and enter messages.
    #[arg(long, env = "CHAT_LEAVE_GRACE_MS", default_value_t = 5_000)]
    pub leave_grace_ms: u64,

    /// `GET /api/rooms` requests allowed per client IP in each window (protocol §3.5).
    #[arg(long, env = "CHAT_ROOMS_RATE_LIMIT", default_value_t = 10_000)]
    pub rooms_rate_limit: u64,

    /// Window of the rooms-list limit, in milliseconds.
    #[arg(long, env = "CHAT_ROOMS_RATE_WINDOW_MS", default_value_t = 30_000)]
    pub rooms_rate_window_ms: u64,

    /// `chatMessage` events allowed per user in each window (protocol §6.10).
    #[arg(long, env = "CHAT_CHAT_RATE_LIMIT", default_value_t = 10_000)]
    pub chat_rate_limit: u64,

    /// Window of the chat-message limit, in milliseconds.
    #[arg(long, env = "CHAT_CHAT_RATE_WINDOW_MS", default_value_t = 60_000)]
    pub chat_rate_window_ms: u64,

    /// Rooms one user may create (`POST /api/rooms`) in each window; each creation is
    /// broadcast to every socket of the cluster.
    #[arg(long, env = "CHAT_ROOM_CREATE_RATE_LIMIT", default_value_t = 60)]
    pub room_create_rate_limit: u64,

    /// Window of the room-creation limit, in milliseconds.
    #[arg(long, env = "CHAT_ROOM_CREATE_RATE_WINDOW_MS", default_value_t = 60_000)]
    pub room_create_rate_window_ms: u64,

    /// `joinRoom` and `leaveRoom` events and `POST /api/rooms/:id/join` calls one user
    /// may make, together, in each window.
    #[arg(long, env = "CHAT_MEMBERSHIP_RATE_LIMIT", default_value_t = 300)]
    pub membership_rate_limit: u64,

    /// Window of the join/leave limit, in milliseconds.
    #[arg(long, env = "CHAT_MEMBERSHIP_RATE_WINDOW_MS", default_value_t = 60_000)]
    pub membership_rate_window_ms: u64,

    /// `markMessagesAsRead` events one user may send in each window, counted per node.
    /// A client marks every message it receives, so this sits far above any room's
    /// message rate (`chatctl bench` marks each delivery at about 2 per second per user).
    #[arg(long, env = "CHAT_READ_MARK_RATE_LIMIT", default_value_t = 60_000)]
    pub read_mark_rate_limit: u64,

    /// Window of the read-mark limit, in milliseconds.
    #[arg(long, env = "CHAT_READ_MARK_RATE_WINDOW_MS", default_value_t = 60_000)]
    pub read_mark_rate_window_ms: u64,

    /// Messages mentioning an AI persona that get an AI reply, per user in each window;
    /// past it the message is still delivered, without a reply.
    #[arg(long, env = "CHAT_AI_MENTION_RATE_LIMIT", default_value_t = 20)]
    pub ai_mention_rate_limit: u64,

    /// Window of the AI-mention limit, in milliseconds.
    #[arg(long, env = "CHAT_AI_MENTION_RATE_WINDOW_MS", default_value_t = 60_000)]
    pub ai_mention_rate_window_ms: u64,

    /// `fetchPreviousMessages` events one user may send in each window, counted per
    /// node. Each one is a read of the replicated state and a page of history; the web
    /// client sends one when its user scrolls to the top.
    #[arg(long, env = "CHAT_HISTORY_RATE_LIMIT", default_value_t = 600)]
    pub history_rate_limit: u64,

    /// Window of the history limit, in milliseconds.
    #[arg(long, env = "CHAT_HISTORY_RATE_WINDOW_MS", default_value_t = 60_000)]
    pub history_rate_window_ms: u64,

    /// `messageReaction` events one user may send in each window (each one is a Raft
    /// write and a room-wide broadcast).
    #[arg(long, env = "CHAT_REACTION_RATE_LIMIT", default_value_t = 300)]
    pub reaction_rate_limit: u64,

    /// Window of the reaction limit, in milliseconds.
    #[arg(long, env = "CHAT_REACTION_RATE_WINDOW_MS", default_value_t = 60_000)]
    pub reaction_rate_window_ms: u64,

    /// Wrong passwords (login, room) one account may give in each failure window;
    /// then every attempt gets 429 until the window ends.
    #[arg(long, env = "CHAT_PASSWORD_FAILURES_PER_ACCOUNT", default_value_t = 10)]
    pub password_failures_per_account: u64,

    /// Wrong passwords (login, room) one client address may give in each failure window.
    #[arg(long, env = "CHAT_PASSWORD_FAILURES_PER_ADDRESS", default_value_t = 100)]
    pub password_failures_per_address: u64,

    /// Window of the wrong-password limits, in milliseconds.
    #[arg(long, env = "CHAT_PASSWORD_FAILURE_WINDOW_MS", default_value_t = 900_000)]
    pub password_failure_window_ms: u64,

    /// Sockets one user may have connected at once, cluster-wide (counted in the
    /// replicated presence, which keeps a closed socket for `--leave-grace-ms`).
    #[arg(long, env = "CHAT_MAX_SOCKETS_PER_USER", default_value_t = 10)]
    pub max_sockets_per_user: usize,

    /// Outbound packets (events, pings) one socket may have waiting to be written; a
    /// socket whose client falls this far behind is a slow consumer and is
    /// disconnected. Enough for bursts to a client on a slow link (a join loads up to 30
    /// messages at once, a busy room delivers tens per second).
    #[arg(long, env = "CHAT_SOCKET_BUFFER", default_value_t = 1024)]
    pub socket_buffer: usize,
    /// Uploads (chat files, profile images) one user may have in progress at once on
    /// a node; the next gets 429 until one of them ends.
    #[arg(long, env = "CHAT_MAX_UPLOADS_PER_USER", default_value_t = 2)]
    pub max_uploads_per_user: usize,

    /// Uploads in progress at once on a node, all users together; the next gets 429.
    #[arg(long, env = "CHAT_MAX_UPLOADS_PER_NODE", default_value_t = 8)]
    pub max_uploads_per_node: usize,

    /// Bytes of uploads (chat files and profile images still recorded) one user may
    /// store, in MiB, counted cluster-wide; an upload that would exceed it gets 413.
    /// Give every node the same value.
    #[arg(long, env = "CHAT_UPLOAD_QUOTA_MB", default_value_t = 1024)]
    pub upload_quota_mb: u64,

    /// Milliseconds an upload may stay unreferenced by any message: then its record and
    /// every copy are deleted (profile images excepted). At least 1000; keep it well
    /// above the time an upload and its message take.
    #[arg(long, env = "CHAT_UPLOAD_GRACE_MS", default_value_t = 3_600_000)]
    pub upload_grace_ms: u64,

    /// Reverse proxies in front of the node that append to `X-Forwarded-For`. The
    /// client address (rate-limit key, `duplicate_login`'s `ipAddress`) is the N-th
    /// entry from the right of the peer address and that header; 0 ignores the header.
    #[arg(long, env = "CHAT_TRUSTED_PROXY_HOPS", default_value_t = 0)]
    pub trusted_proxy_hops: usize,

    /// Where AI replies to `@wayneAI` / `@consultingAI` come from.
    #[arg(long, env = "CHAT_AI_PROVIDER", value_enum, default_value = "offline")]
    pub ai_provider: AiProviderKind,

    /// Base URL of the OpenAI-compatible API (`{url}/chat/completions`).
    #[arg(long, env = "CHAT_AI_URL", default_value = "https://api.openai.com/v1")]
    pub ai_url: String,

    /// API key of the OpenAI-compatible provider (required with `--ai-provider openai`).
    #[arg(long, env = "CHAT_AI_API_KEY", hide_env_values = true)]
    pub ai_api_key: Option<String>,

    /// Model the OpenAI-compatible provider is asked for.
    #[arg(long, env = "CHAT_AI_MODEL", default_value = "gpt-4.1-mini")]
    pub ai_model: String,

    /// Sampling temperature sent to the OpenAI-compatible provider (0 to 2).
    #[arg(long, env = "CHAT_AI_TEMPERATURE", default_value_t = 0.7)]
    pub ai_temperature: f32,

    /// MongoDB connection string (`mongodb://host:port/<database>`, database default
    /// `chat`): messages and files are stored there, shared by every node, instead of
    /// embedded. Give every node the same URI. Not ready until MongoDB answers.
    #[arg(long, env = "CHAT_MONGODB_URI", hide_env_values = true)]
    pub mongodb_uri: Option<String>,

    /// Redis (`redis://host:port[/db]`) for the recent-messages cache and cluster-wide
    /// rate limits. Without it (and without `--redis-sentinels`) the node runs embedded:
    /// history from the store, limits per node.
    #[arg(long, env = "CHAT_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Redis Sentinel addresses (`host:port`, comma-separated): Redis is the master they
    /// name `--redis-master`. Takes precedence over `--redis-url`.
    #[arg(long, env = "CHAT_REDIS_SENTINELS", value_delimiter = ',')]
    pub redis_sentinels: Vec<String>,

    /// The master's name at the Sentinels.
    #[arg(long, env = "CHAT_REDIS_MASTER", default_value = "mymaster")]
    pub redis_master: String,

    /// TEST ONLY — a deliberately broken build for `chatctl drill`'s own test: echo
    /// every chat message to its sender (the acknowledgement clients rely on) *before*
    /// it is stored, and store it a second later. A node killed in between loses
    /// acknowledged messages, which the drill's checker must report. Off by default,
    /// hidden from `--help`; never set it anywhere else.
    #[arg(long, env = "CHAT_UNSAFE_ACK_BEFORE_COMMIT", hide = true)]
    pub unsafe_ack_before_commit: bool,
}

/// `http://host[:port]` or `https://…`, as browsers send it in `Origin`.
fn is_origin(value: &str) -> bool {
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
    rest.is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#', ' ', '*']) && host.is_ascii())
}

impl Config {
    pub fn validate(&self) -> Result<(), Error> {
        if self.id == 0 {
            return Err(Error::Config("--id must be 1 or more (0 is reserved)".into()));
        }
        if self.cluster_secret.len() < 16 {
            return Err(Error::Config("--cluster-secret must be at least 16 characters".into()));
        }
        if let Some(jwt) = &self.jwt_secret {
            if jwt.len() < 32 {
                return Err(Error::Config("--jwt-secret must be at least 32 bytes (HS256 key)".into()));
            }
        }
        if self.worker_threads > 256 {
            return Err(Error::Config(format!(
                "--worker-threads must be between 0 (one per core) and 256 (got {})",
                self.worker_threads
            )));
        }
        if !(1..=16).contains(&self.consensus_threads) {
            return Err(Error::Config(format!(
                "--consensus-threads must be between 1 and 16 (got {})",
                self.consensus_threads
            )));
        }
        if !(1..=65_536).contains(&self.sled_cache_mb) {
            return Err(Error::Config(format!(
                "--sled-cache-mb must be between 1 and 65536 (got {})",
                self.sled_cache_mb
            )));
        }
        if !(4..=31).contains(&self.bcrypt_cost) {
            return Err(Error::Config(format!("--bcrypt-cost must be between 4 and 31 (got {})", self.bcrypt_cost)));
        }
        if self.public_addr.port() != 0 && self.public_addr == self.cluster_addr {
            return Err(Error::Config(format!(
                "--public-addr and --cluster-addr must differ (both {})",
                self.public_addr
            )));
        }
        if let Some(bad) = self.cors_origins.iter().find(|o| !is_origin(o)) {
            return Err(Error::Config(format!(
                "--cors-origins: '{bad}' is not an origin (scheme://host[:port], no path, no spaces)"
            )));
        }
        if let Some(uri) = &self.mongodb_uri {
            if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
                // The value may hold a password: name the flag, not the value.
                return Err(Error::Config("--mongodb-uri must start with mongodb:// or mongodb+srv://".into()));
            }
        }
        if let Some(bad) =
            self.admin_emails.iter().map(|e| e.trim()).find(|e| !e.is_empty() && !crate::rest::is_email(e))
        {
            return Err(Error::Config(format!("--admin-emails: '{bad}' is not an email address")));
        }
        self.validate_limits()?;
        self.validate_ai()?;
        self.redis_target().map_or(Ok(()), |target| {
            chat_storage::RedisCache::new(target, "")
                .map(drop)
                .map_err(|e| Error::Config(format!("bad Redis configuration (--redis-url / --redis-sentinels): {e}")))
        })?;
        self.raft_settings().validate().map_err(|e| Error::Config(e.to_string()))
    }

    /// `--upload-quota-mb` in bytes.
    pub fn upload_quota_bytes(&self) -> u64 {
        self.upload_quota_mb.saturating_mul(1024 * 1024)
    }

    /// Whether `email` (lowercased, as stored) is one of `--admin-emails`.
    pub fn is_admin_email(&self, email: &str) -> bool {
        self.admin_emails.iter().any(|e| e.trim().eq_ignore_ascii_case(email))
    }

    /// Where Redis is, when configured.
    pub fn redis_target(&self) -> Option<chat_storage::RedisTarget> {
        let sentinels: Vec<String> =
            self.redis_sentinels.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        if !sentinels.is_empty() {
            return Some(chat_storage::RedisTarget::Sentinel { sentinels, master: self.redis_master.clone() });
        }
        self.redis_url.clone().map(chat_storage::RedisTarget::Url)
    }

    fn validate_limits(&self) -> Result<(), Error> {
        let limits = [
            ("--rooms-rate-limit", self.rooms_rate_limit),
            ("--rooms-rate-window-ms", self.rooms_rate_window_ms),
            ("--chat-rate-limit", self.chat_rate_limit),
            ("--chat-rate-window-ms", self.chat_rate_window_ms),
            ("--room-create-rate-limit", self.room_create_rate_limit),
            ("--room-create-rate-window-ms", self.room_create_rate_window_ms),
            ("--membership-rate-limit", self.membership_rate_limit),
            ("--membership-rate-window-ms", self.membership_rate_window_ms),
            ("--read-mark-rate-limit", self.read_mark_rate_limit),
            ("--read-mark-rate-window-ms", self.read_mark_rate_window_ms),
            ("--ai-mention-rate-limit", self.ai_mention_rate_limit),
            ("--ai-mention-rate-window-ms", self.ai_mention_rate_window_ms),
            ("--history-rate-limit", self.history_rate_limit),
            ("--history-rate-window-ms", self.history_rate_window_ms),
            ("--reaction-rate-limit", self.reaction_rate_limit),
            ("--reaction-rate-window-ms", self.reaction_rate_window_ms),
            ("--password-failures-per-account", self.password_failures_per_account),
            ("--password-failures-per-address", self.password_failures_per_address),
            ("--password-failure-window-ms", self.password_failure_window_ms),
            ("--max-sockets-per-user", self.max_sockets_per_user as u64),
            ("--socket-buffer", self.socket_buffer as u64),
            ("--max-uploads-per-user", self.max_uploads_per_user as u64),
            ("--max-uploads-per-node", self.max_uploads_per_node as u64),
            ("--upload-quota-mb", self.upload_quota_mb),
        ];
        if let Some((flag, _)) = limits.into_iter().find(|(_, value)| *value == 0) {
            return Err(Error::Config(format!("{flag} must be 1 or more (got 0)")));
        }
        if self.upload_grace_ms < 1_000 {
            return Err(Error::Config(format!(
                "--upload-grace-ms must be 1000 or more (got {})",
                self.upload_grace_ms
            )));
        }
        Ok(())
    }

    fn validate_ai(&self) -> Result<(), Error> {
        if !(0.0..=2.0).contains(&self.ai_temperature) {
            return Err(Error::Config(format!(
                "--ai-temperature must be between 0 and 2 (got {})",
                self.ai_temperature
            )));
        }
        if self.ai_provider != AiProviderKind::Openai {
            return Ok(());
        }
        if !(self.ai_url.starts_with("http://") || self.ai_url.starts_with("https://")) {
            return Err(Error::Config(format!("--ai-url must be an http:// or https:// URL (got {:?})", self.ai_url)));
        }
        if self.ai_api_key.as_deref().is_none_or(|key| key.trim().is_empty()) {
            return Err(Error::Config("--ai-provider openai needs --ai-api-key (CHAT_AI_API_KEY)".into()));
        }
        if self.ai_model.trim().is_empty() {
            return Err(Error::Config("--ai-model must not be empty".into()));
        }
        Ok(())
    }

    /// `--sled-cache-mb` in bytes.
    pub fn sled_cache_bytes(&self) -> u64 {
        self.sled_cache_mb << 20
    }

    pub fn raft_settings(&self) -> RaftSettings {
        RaftSettings {
            heartbeat_ms: self.heartbeat_ms,
            election_min_ms: self.election_min_ms,
            election_max_ms: self.election_max_ms,
            lease_ms: self.lease_ms,
            snapshot_every: self.snapshot_every,
            snapshot_keep: self.snapshot_keep,
            node_down_grace_ms: self.node_down_grace_ms,
            ..RaftSettings::default()
        }
    }

    /// How long a stopping leader may take to hand over; `None` when disabled.
    pub fn stop_handover(&self) -> Option<Duration> {
        (self.stop_handover_ms > 0).then(|| Duration::from_millis(self.stop_handover_ms))
    }

    pub fn health_grace(&self) -> Duration {
        Duration::from_millis(self.health_grace_ms)
    }

    /// The address others should use for a bound listener.
    pub fn advertised(&self, bound: SocketAddr) -> String {
        if !bound.ip().is_unspecified() {
            return bound.to_string();
        }
        let host = self.advertise_host.clone().unwrap_or_else(|| "127.0.0.1".into());
        format!("{host}:{}", bound.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[&str]) -> Result<Config, String> {
        let base = ["chat-node", "--id", "1", "--data-dir", "/tmp/x", "--cluster-secret", "0123456789abcdef"];
        let config = Config::try_parse_from(base.iter().chain(extra)).map_err(|e| e.to_string())?;
        config.validate().map(|_| config).map_err(|e| e.to_string())
    }

    #[test]
    fn limits_and_ai_default_to_the_contract_and_offline() {
        let c = config(&[]).unwrap();
        assert_eq!((c.rooms_rate_limit, c.rooms_rate_window_ms), (10_000, 30_000));
        assert_eq!((c.chat_rate_limit, c.chat_rate_window_ms), (10_000, 60_000));
        assert_eq!(
            (c.ai_provider, c.ai_model.as_str(), c.ai_temperature),
            (AiProviderKind::Offline, "gpt-4.1-mini", 0.7)
        );
    }

    #[test]
    fn bad_limits_and_ai_settings_are_refused_by_name() {
        assert!(config(&["--chat-rate-limit", "0"]).unwrap_err().contains("--chat-rate-limit"));
        assert!(config(&["--rooms-rate-window-ms", "0"]).unwrap_err().contains("--rooms-rate-window-ms"));
        assert!(config(&["--max-sockets-per-user", "0"]).unwrap_err().contains("--max-sockets-per-user"));
        assert!(config(&["--max-uploads-per-user", "0"]).unwrap_err().contains("--max-uploads-per-user"));
        assert!(config(&["--upload-quota-mb", "0"]).unwrap_err().contains("--upload-quota-mb"));
        assert!(config(&["--upload-grace-ms", "999"]).unwrap_err().contains("--upload-grace-ms"));
        assert!(config(&["--password-failure-window-ms", "0"]).unwrap_err().contains("--password-failure-window-ms"));
        assert!(config(&["--ai-provider", "openai"]).unwrap_err().contains("--ai-api-key"));
        assert!(config(&["--ai-provider", "openai", "--ai-api-key", "k", "--ai-url", "ftp://x"])
            .unwrap_err()
            .contains("--ai-url"));
        assert!(config(&["--ai-temperature", "3"]).unwrap_err().contains("--ai-temperature"));
        assert!(config(&["--mongodb-uri", "http://x"]).unwrap_err().contains("--mongodb-uri"));
        assert!(config(&["--mongodb-uri", "mongodb://127.0.0.1:27017/chat"]).is_ok());
        assert!(config(&["--ai-provider", "openai", "--ai-api-key", "k", "--ai-url", "http://127.0.0.1:9/v1"]).is_ok());
    }

    #[test]
    fn the_cluster_listener_is_private_and_cors_origins_are_checked() {
        let c = config(&[]).unwrap();
        assert_eq!(c.cluster_addr, "127.0.0.1:7001".parse().unwrap());
        assert!(c.cors_origins.is_empty() && !c.public_metrics);
        let c = config(&["--cors-origins", "https://chat.example.com,http://127.0.0.1:3000"]).unwrap();
        assert_eq!(c.cors_origins, ["https://chat.example.com", "http://127.0.0.1:3000"]);
        for bad in ["chat.example.com", "https://chat.example.com/", "https://*.example.com", "https://", "ftp://x"] {
            assert!(config(&["--cors-origins", bad]).unwrap_err().contains("--cors-origins"), "{bad}");
        }
    }
}
