//! Durable storage for the chat cluster. This crate owns the Raft log: the entries, the
//! vote, the committed pointer and the last purged log id, kept in sled by
//! [`SledLogStore`]. The state machine and its snapshots live in `chat-raft`.

mod error;
mod log_store;

pub use error::Error;
pub use log_store::SledLogStore;
