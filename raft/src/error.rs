//! The one error type of chat-raft.

use crate::types::NodeId;

/// Why a cluster operation failed. "Rejected, go elsewhere" cases (no leader yet,
/// this node is stale) are kept apart from "this node or the network is broken".
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No leader is known right now (an election is running, or a minority partition).
    #[error("no leader is available")]
    NoLeader,
    /// This node has not heard from a leader within its lease, or lags behind it.
    #[error("this node is not caught up with the leader")]
    Stale,
    /// The request was not completed within its deadline.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// The operation must run on the leader, which is `leader`.
    #[error("not the leader; the leader is {leader:?}")]
    NotLeader { leader: Option<NodeId> },
    /// A peer could not be reached or answered with garbage.
    #[error("network: {0}")]
    Network(String),
    /// A peer answered with an error status.
    #[error("peer answered {status}: {message}")]
    Remote { status: u16, message: String },
    /// The request cannot fit in one log entry; it is refused before it is proposed.
    #[error("request too large for one log entry: {bytes} bytes, at most {max}")]
    TooLarge { bytes: usize, max: usize },
    /// The request itself is invalid (unknown node, bad membership change, ...).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Disk or encoding failure in the snapshot store.
    #[error("storage: {0}")]
    Storage(String),
    /// Raft itself failed (fatal error, shut down).
    #[error("raft: {0}")]
    Raft(String),
}

impl Error {
    /// Whether retrying the same request later (possibly elsewhere) can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::NoLeader | Error::Stale | Error::Timeout(_) | Error::NotLeader { .. } | Error::Network(_))
    }
}

impl From<reqwest::Error> for Error {
    /// A peer that answers too slowly is not an unreachable peer: openraft backs off
    /// from unreachable ones for longer than an election timeout.
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Error::Timeout(0)
        } else {
            Error::Network(e.to_string())
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Storage(e.to_string())
    }
}
