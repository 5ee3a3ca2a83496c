//! The one error type of chat-node.

/// Why a node failed to start or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("storage: {0}")]
    Storage(String),
    #[error("raft: {0}")]
    Raft(#[from] chat_raft::Error),
    #[error("consensus runtime: {0}")]
    Consensus(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
