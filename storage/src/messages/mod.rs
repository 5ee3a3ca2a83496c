//! The message plane's storage (architecture §3.2): message bodies, read receipts and
//! reactions, kept out of the control state.
//!
//! - `store.rs`: the [`MessageStore`] trait and its page types;
//! - `embedded.rs`: [`EmbeddedMessageStore`], writes through the Raft log;
//! - `sled_messages.rs`: [`SledMessages`], each node's replica and the state machine's
//!   `MessageApplier`, with its key layout (`layout.rs`), command application
//!   (`apply.rs`), the writes of a group of commands (`writes.rs`) and snapshot
//!   stream (`snapshot.rs`);
//! - `mongo.rs`: [`MongoMessageStore`], the production store in MongoDB, with its
//!   document layout (`mongo_docs.rs`) and per-room seq counters (`mongo_counters.rs`);
//! - [`conformance`]: the checks every implementation must pass.

mod apply;
pub mod conformance;
mod embedded;
mod layout;
mod mongo;
mod mongo_counters;
mod mongo_docs;
mod mongo_read_marks;
mod sled_messages;
mod snapshot;
mod store;
#[cfg(test)]
mod tests;
mod writes;

pub use embedded::EmbeddedMessageStore;
pub use mongo::{MongoMessageStore, DEFAULT_DATABASE};
pub use sled_messages::SledMessages;
pub use store::{clamp_limit, HistoryPage, MessagePlace, MessageReactions, MessageStore, MAX_PAGE};
