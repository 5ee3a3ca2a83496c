//! Durable storage for the chat cluster. This crate owns
//! - the Raft log: the entries, the vote, the committed pointer and the last purged log
//!   id, kept in sled by [`SledLogStore`];
//! - the message plane's store ([`messages`]): the [`MessageStore`] seam, its embedded
//!   implementation replicated through the Raft log into sled ([`EmbeddedMessageStore`]
//!   over [`SledMessages`]), and the conformance suite every implementation passes.
//!
//! The control-plane state machine and its snapshots live in `chat-raft`.

mod error;
mod log_store;
pub mod messages;

pub use error::Error;
pub use log_store::SledLogStore;
pub use messages::{EmbeddedMessageStore, HistoryPage, MessageReactions, MessageStore, SledMessages};
