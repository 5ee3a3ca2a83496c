//! The one error type of chat-storage. Every variant but [`Error::Cluster`] means "this
//! node's disk or data is broken": nothing a caller could retry elsewhere. A cluster
//! error may be a refusal ("no leader yet", "this node is stale"): see
//! [`Error::is_retryable`].

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// sled could not open, read, write or flush.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A value could not be turned into JSON.
    #[error("cannot encode {what}")]
    Encode { what: &'static str, source: serde_json::Error },
    /// Stored bytes are not the JSON we wrote: the data is corrupt or from another format.
    #[error("cannot decode {what}")]
    Decode { what: &'static str, source: serde_json::Error },
    /// Stored or streamed bytes do not have the layout we write.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Reading or writing a snapshot stream failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The cluster could not commit a message command (no leader, stale, timed out,
    /// shut down...).
    #[error("cluster: {0}")]
    Cluster(#[from] chat_raft::Error),
    /// A message command was committed but its effect is not visible here: the state
    /// machine answered an outcome the command cannot have (no message store wired in),
    /// or this node did not apply the entry in time.
    #[error("message command not applied: {0}")]
    NotApplied(String),
    /// MongoDB refused or failed an operation, or could not be reached (the driver's
    /// error as text: callers never branch on driver types).
    #[error("mongodb: {0}")]
    Mongo(String),
}

impl Error {
    /// Whether the same request may succeed later or on another node.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Cluster(e) if e.is_retryable())
    }
}
