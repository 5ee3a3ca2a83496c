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

    /// Cluster listener (other nodes and operators only): Raft, forwarding, admin.
    #[arg(long, env = "CHAT_CLUSTER_ADDR", default_value = "0.0.0.0:7001")]
    pub cluster_addr: SocketAddr,

    /// Host name or IP other nodes use to reach this one, when the listen address is
    /// a wildcard (0.0.0.0). Defaults to 127.0.0.1 in that case.
    #[arg(long, env = "CHAT_ADVERTISE_HOST")]
    pub advertise_host: Option<String>,

    /// Directory for the Raft log, snapshots and other node data.
    #[arg(long, env = "CHAT_DATA_DIR")]
    pub data_dir: PathBuf,

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

    /// Milliseconds a silent member is tolerated before the leader declares it down.
    #[arg(long, env = "CHAT_NODE_DOWN_GRACE_MS", default_value_t = RaftSettings::default().node_down_grace_ms)]
    pub node_down_grace_ms: u64,

    /// Milliseconds a node may be stale (no leader, lagging) before `/api/health`
    /// answers 503. Longer than a normal election, so elections do not empty the pool.
    #[arg(long, env = "CHAT_HEALTH_GRACE_MS", default_value_t = 2_000)]
    pub health_grace_ms: u64,

    /// Also serve Socket.IO (and `/api/health`) on this second address, for clients
    /// configured with separate REST and socket base URLs (PROTOCOL 1.1, port 5002).
    #[arg(long, env = "CHAT_SOCKET_ADDR")]
    pub socket_addr: Option<SocketAddr>,

    /// Banned-word list, one word per line (PROTOCOL 6.7). Without it the filter is off.
    #[arg(long, env = "CHAT_BANNED_WORDS_FILE")]
    pub banned_words: Option<PathBuf>,

    /// Milliseconds a disconnected socket keeps its rooms, so a page reload re-joins
    /// silently instead of posting leave and enter messages.
    #[arg(long, env = "CHAT_LEAVE_GRACE_MS", default_value_t = 5_000)]
    pub leave_grace_ms: u64,
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
        if !(4..=31).contains(&self.bcrypt_cost) {
            return Err(Error::Config(format!("--bcrypt-cost must be between 4 and 31 (got {})", self.bcrypt_cost)));
        }
        if self.public_addr.port() != 0 && self.public_addr == self.cluster_addr {
            return Err(Error::Config(format!(
                "--public-addr and --cluster-addr must differ (both {})",
                self.public_addr
            )));
        }
        self.raft_settings().validate().map_err(|e| Error::Config(e.to_string()))
    }

    pub fn raft_settings(&self) -> RaftSettings {
        RaftSettings {
            heartbeat_ms: self.heartbeat_ms,
            election_min_ms: self.election_min_ms,
            election_max_ms: self.election_max_ms,
            lease_ms: self.lease_ms,
            snapshot_every: self.snapshot_every,
            node_down_grace_ms: self.node_down_grace_ms,
            ..RaftSettings::default()
        }
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
