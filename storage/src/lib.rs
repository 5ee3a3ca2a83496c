//! Durable storage for the chat cluster. This crate owns
//! - the Raft log: the entries, the vote, the committed pointer and the last purged log
//!   id, kept in sled by [`SledLogStore`];
//! - the message plane's store ([`messages`]): the [`MessageStore`] seam, its embedded
//!   implementation replicated through the Raft log into sled ([`EmbeddedMessageStore`]
//!   over [`SledMessages`]), the production one in MongoDB ([`MongoMessageStore`]), and
//!   the conformance suite every implementation passes;
//! - the file plane's store ([`blobs`]): the [`BlobStore`] seam, a directory per node
//!   ([`DirBlobStore`]), the embedded store that copies every blob to two nodes
//!   ([`EmbeddedBlobStore`]), the production one in MongoDB's GridFS layout
//!   ([`GridFsBlobStore`]), and its conformance suite.
//!
//! - [`sled_db`]: how those sled databases are opened (a bounded page cache).
//!
//! The control-plane state machine and its snapshots live in `chat-raft`.

pub mod blobs;
pub mod cache;
mod error;
mod log_store;
mod log_tail;
pub mod messages;
pub mod sled_db;

pub use blobs::{BlobError, BlobName, BlobStore, DirBlobStore, EmbeddedBlobStore, GridFsBlobStore};
pub use cache::{Cache, CachedMessageStore, NoCache, RedisCache, RedisTarget};
pub use error::Error;
pub use log_store::SledLogStore;
pub use messages::{
    EmbeddedMessageStore, HistoryPage, MessagePlace, MessageReactions, MessageStore, MongoMessageStore, SledMessages,
};
