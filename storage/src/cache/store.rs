//! [`CachedMessageStore`]: any [`MessageStore`] with the newest history page of each room
//! served from a [`Cache`]. Writes go to the store first; the cache only learns of a
//! change after the store acknowledged it, and drops what it cannot update exactly, so
//! a page from the cache always equals the store's.

use std::sync::Arc;

use async_trait::async_trait;
use chat_raft::command::Millis;
use chat_raft::messages::{derive_readers, NewMessage, ReadMark, ReadNotice, StoredMessage};

use super::Cache;
use crate::messages::{clamp_limit, MessagePlace, MAX_PAGE};
use crate::{Error, HistoryPage, MessageReactions, MessageStore};

/// A message store with a recent-messages cache in front.
#[derive(Clone)]
pub struct CachedMessageStore {
    store: Arc<dyn MessageStore>,
    cache: Arc<dyn Cache>,
}

impl CachedMessageStore {
    pub fn new(store: Arc<dyn MessageStore>, cache: Arc<dyn Cache>) -> Self {
        Self { store, cache }
    }
}

/// The newest `limit` messages of a page read with a larger limit.
fn newest(mut page: HistoryPage, limit: usize) -> HistoryPage {
    if page.messages.len() > limit {
        page.messages.drain(..page.messages.len() - limit);
        page.has_more = true;
    }
    page
}

#[async_trait]
impl MessageStore for CachedMessageStore {
    async fn append(&self, message: NewMessage) -> Result<StoredMessage, Error> {
        let stored = self.store.append(message).await?;
        self.cache.appended(&stored).await;
        Ok(stored)
    }

    async fn get(&self, id: &str) -> Result<Option<StoredMessage>, Error> {
        self.store.get(id).await
    }

    async fn locate(&self, id: &str) -> Result<Option<MessagePlace>, Error> {
        self.store.locate(id).await
    }

    async fn history(&self, room: &str, before: Option<Millis>, limit: usize) -> Result<HistoryPage, Error> {
        let limit = clamp_limit(limit);
        if before.is_some() {
            return self.store.history(room, before, limit).await;
        }
        if let Some(mut page) = self.cache.recent(room, limit).await {
            // The cache holds messages without readers: they change with every read
            // mark, and are derived from the store's watermarks instead.
            derive_readers(&mut page.messages, &self.store.read_marks(room).await?);
            return Ok(page);
        }
        match self.cache.begin_fill(room).await {
            Some(token) => {
                let page = self.store.history(room, None, MAX_PAGE).await?;
                self.cache.fill(room, token, &page).await;
                Ok(newest(page, limit))
            }
            None => self.store.history(room, None, limit).await,
        }
    }

    async fn after_seq(&self, room: &str, seq: u64, limit: usize) -> Result<Vec<StoredMessage>, Error> {
        self.store.after_seq(room, seq, limit).await
    }

    /// Never: the cache learns of a write from the node that made it, after the store
    /// acknowledged it. Announced as each node applies it, a message would reach clients
    /// before the cache holds it, and a history page read at once would miss it. So the
    /// writer announces, through the fan-out, once the cache is up to date.
    fn applied_everywhere(&self) -> bool {
        false
    }

    /// The notices are the caller's to announce ([`Self::applied_everywhere`]): the
    /// store below need not carry them.
    async fn mark_read(&self, marks: &[ReadMark], _notices: &[ReadNotice]) -> Result<(), Error> {
        self.store.mark_read(marks, &[]).await
    }

    async fn read_marks(&self, room: &str) -> Result<Vec<ReadMark>, Error> {
        self.store.read_marks(room).await
    }

    async fn react(
        &self,
        message_id: &str,
        emoji: &str,
        user_id: &str,
        add: bool,
    ) -> Result<Option<MessageReactions>, Error> {
        let outcome = self.store.react(message_id, emoji, user_id, add).await?;
        if let Some(reactions) = &outcome {
            self.cache.changed(Some(&reactions.room), &[message_id.to_owned()]).await;
        }
        Ok(outcome)
    }

    async fn delete(&self, id: &str, at: Millis) -> Result<Option<StoredMessage>, Error> {
        let tombstone = self.store.delete(id, at).await?;
        if let Some(message) = &tombstone {
            // The cached page may hold the message as it was: drop what cannot be
            // updated exactly, as for a reaction.
            self.cache.changed(Some(&message.room), &[id.to_owned()]).await;
        }
        Ok(tombstone)
    }

    async fn count_since(&self, room: &str, since: Millis) -> Result<usize, Error> {
        self.store.count_since(room, since).await
    }
}
