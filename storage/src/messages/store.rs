//! The [`MessageStore`] seam: what the node needs from message history, read receipts
//! and reactions, whichever database holds them (the embedded Raft-replicated sled
//! store, or MongoDB). Every implementation must pass [`super::conformance`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use chat_raft::command::Millis;
use chat_raft::messages::{NewMessage, ReadMark, ReadNotice, StoredMessage};

use crate::Error;

/// The most messages one page read returns; larger limits are clamped to it
/// (protocol §10.10: the existing backend's unbounded `limit`).
pub const MAX_PAGE: usize = 100;

/// Clamp a caller's page size into `1..=MAX_PAGE`. Zero is raised to one rather than
/// refused: a page read is never an error because of its size.
pub fn clamp_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE)
}

/// One page of a room's history, as `previousMessagesLoaded` sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// Ascending by timestamp (and therefore by `seq`).
    pub messages: Vec<StoredMessage>,
    /// Whether older messages exist than the first one of `messages`.
    pub has_more: bool,
}

/// Where a message sits: its room and its `seq` there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePlace {
    pub room: String,
    pub seq: u64,
}

/// A message's reactions after a change, with its room (for the broadcast).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageReactions {
    pub room: String,
    /// emoji -> user ids, in the order they reacted; no emoji maps to an empty list.
    pub reactions: BTreeMap<String, Vec<String>>,
}

/// The message plane's store. Object safe (`Arc<dyn MessageStore>`).
///
/// Ids and rooms come from clients: an unknown or malformed one reads as absent
/// (`None`, empty), never as an error. Errors mean the store could not do its job.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Store a message; the store assigns the room's next `seq` and the final timestamp
    /// (`max(at, previous in room + 1)`). Appending an id that already exists changes
    /// nothing and returns the stored message.
    async fn append(&self, message: NewMessage) -> Result<StoredMessage, Error>;

    /// Whether every node applies this store's writes itself (the embedded store: they
    /// are commands in the Raft log). Then each node can announce new messages, read
    /// marks and reactions to its own sockets as it applies them, and nothing needs to
    /// send them from node to node.
    fn applied_everywhere(&self) -> bool;

    async fn get(&self, id: &str) -> Result<Option<StoredMessage>, Error>;

    /// The room and `seq` of a message, without its readers: what a read mark needs,
    /// for every message every member receives. Stores where [`Self::get`] derives
    /// readers at a cost answer it more cheaply.
    async fn locate(&self, id: &str) -> Result<Option<MessagePlace>, Error> {
        Ok(self.get(id).await?.map(|m| MessagePlace { room: m.room, seq: m.seq }))
    }

    /// The `limit` newest messages of `room` with `timestamp < before` (every message
    /// when `before` is `None`), ascending. `limit` is clamped by [`clamp_limit`].
    /// Timestamps are unique within a room, so paging with `before` = the oldest
    /// timestamp seen skips and repeats nothing.
    async fn history(&self, room: &str, before: Option<Millis>, limit: usize) -> Result<HistoryPage, Error>;

    /// Up to `limit` (clamped) messages of `room` with a `seq` above `seq`, ascending:
    /// what a reconnecting client missed.
    async fn after_seq(&self, room: &str, seq: u64, limit: usize) -> Result<Vec<StoredMessage>, Error>;

    /// Raise read watermarks: each mark says its user has read its room up to its
    /// `seq`. Marks merge by maximum (a mark at or below the stored one changes
    /// nothing), so concurrent and repeated marks lose nothing. Messages returned by
    /// every read of this store carry the `readers` derived from the marks
    /// ([`chat_raft::messages::readers_of`]).
    ///
    /// `notices` are the `messagesRead` announcements behind the marks. A store whose
    /// writes every node applies (the embedded store) carries them in the write, and
    /// each node announces them to its own sockets when it applies it; the others
    /// ignore them, and the caller announces (see [`Self::applied_everywhere`]).
    async fn mark_read(&self, marks: &[ReadMark], notices: &[ReadNotice]) -> Result<(), Error>;

    /// Every member's read watermark in `room`, for deriving readers of messages read
    /// elsewhere (a cache).
    async fn read_marks(&self, room: &str) -> Result<Vec<ReadMark>, Error>;

    /// Add (`add`) or remove one user's reaction. Set semantics: adding twice or
    /// removing a missing reaction changes nothing; an emoji left without users is
    /// dropped. `None` when the message does not exist.
    async fn react(
        &self,
        message_id: &str,
        emoji: &str,
        user_id: &str,
        add: bool,
    ) -> Result<Option<MessageReactions>, Error>;

    /// Replace a message by its tombstone, deleted at `at` (admin deletion, protocol
    /// §8.6; see [`StoredMessage::tombstone`]) and return the tombstone. Deleting a
    /// tombstone changes nothing and returns it with its first deletion time. `None`
    /// when the message does not exist.
    async fn delete(&self, id: &str, at: Millis) -> Result<Option<StoredMessage>, Error>;

    /// How many messages of `room` have `timestamp >= since` (`recentMessageCount`).
    async fn count_since(&self, room: &str, since: Millis) -> Result<usize, Error>;
}
