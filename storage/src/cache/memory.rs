//! [`NoCache`]: the embedded mode without Redis. It knows nothing, so the store answers
//! every read and every node counts requests locally.

use async_trait::async_trait;
use chat_raft::messages::StoredMessage;

use super::{Cache, FillToken};
use crate::HistoryPage;

/// The cache of a node without Redis.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCache;

#[async_trait]
impl Cache for NoCache {
    async fn recent(&self, _room: &str, _limit: usize) -> Option<HistoryPage> {
        None
    }

    async fn begin_fill(&self, _room: &str) -> Option<FillToken> {
        None
    }

    async fn fill(&self, _room: &str, _token: FillToken, _page: &HistoryPage) {}

    async fn appended(&self, _message: &StoredMessage) {}

    async fn changed(&self, _room: Option<&str>, _message_ids: &[String]) {}

    async fn count(&self, _name: &str, _key: &str, _window: u64, _window_ms: u64) -> Option<u64> {
        None
    }
}
