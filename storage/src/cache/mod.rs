//! The optional accelerator in front of the stores (architecture §3.2): the [`Cache`] seam,
//! its Redis implementation ([`RedisCache`]), the no-Redis one ([`NoCache`]), and the
//! [`CachedMessageStore`] decorator that serves a room's newest history page from it.
//!
//! A cache is never the source of truth: every method may answer "don't know" (`None`),
//! and then the caller asks the store or counts locally. Writes to the cache never fail
//! the caller's operation.

mod memory;
mod redis;
mod store;

use async_trait::async_trait;
use chat_raft::messages::StoredMessage;

use crate::HistoryPage;

pub use self::memory::NoCache;
pub use self::redis::{RedisCache, RedisTarget};
pub use self::store::CachedMessageStore;

/// Proof that a room's cache was empty and unchanged when a fill started (see
/// [`Cache::begin_fill`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillToken(pub(crate) String);

/// Recent messages per room and shared request counters.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The newest `limit` messages of `room` and whether older ones exist, exactly as
    /// `history(room, None, limit)` of the store would answer; `None` when the cache
    /// cannot vouch for that (not filled, too short, unreachable).
    async fn recent(&self, room: &str, limit: usize) -> Option<HistoryPage>;

    /// Start filling `room`: `None` when the cache is unavailable or already filled.
    /// Read the store after this call and pass the page to [`Cache::fill`].
    async fn begin_fill(&self, room: &str) -> Option<FillToken>;

    /// Store `page` (the store's newest page of `room`, read after `begin_fill`), unless
    /// anything changed the room since the token was taken.
    async fn fill(&self, room: &str, token: FillToken, page: &HistoryPage);

    /// A message the store acknowledged: add it, or drop the room's entry when it does
    /// not follow the cached ones.
    async fn appended(&self, message: &StoredMessage);

    /// Messages changed in the store (reads, reactions): drop their rooms' entries.
    async fn changed(&self, room: Option<&str>, message_ids: &[String]);

    /// Count one request of `key` in the fixed window `window` (index of `window_ms`
    /// long windows since the epoch) of the limit `name`; the count so far, cluster-wide.
    /// `None` when the shared counter is unavailable: count locally.
    async fn count(&self, name: &str, key: &str, window: u64, window_ms: u64) -> Option<u64>;
}
