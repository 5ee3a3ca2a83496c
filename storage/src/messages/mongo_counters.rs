//! Per-room `seq` and timestamp allocation for the MongoDB store: one document per room
//! in the `counters` collection, `{_id: room, seq, lastTs}`, changed by single atomic
//! updates so any number of nodes can append to one room at once.
//!
//! Each allocation takes the next `seq` and the timestamp `max(at, lastTs + 1)` in the
//! same update, so timestamps increase with `seq` whichever node allocates. MongoDB
//! would compute that with one update pipeline (`$max`), but nx-27017 (the test
//! server) has no update pipelines; two conditional updates with plain operators are
//! just as atomic:
//! - `lastTs < at`: `$inc seq`, `$set lastTs: at`, the timestamp is `at`;
//! - `lastTs >= at`: `$inc` both, the timestamp is the new `lastTs`.
//!
//! `lastTs` never decreases, so when the first fails because `lastTs >= at` the second
//! cannot fail for the opposite reason: an allocation takes at most two updates, plus
//! one insert for a room's first message.

use mongodb::bson::{doc, Document};
use mongodb::options::ReturnDocument;
use mongodb::Collection;
use serde::Deserialize;

use super::mongo::{is_duplicate_key, mongo_error};
use super::mongo_docs::{to_i64, to_u64};
use crate::Error;

/// How often an allocation starts over because the room's counter did not exist yet;
/// a second round always finds it, more are a broken server.
const ROUNDS: usize = 4;

/// A room's counter document.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Counter {
    seq: i64,
    last_ts: i64,
}

/// The `counters` collection.
#[derive(Clone)]
pub(super) struct Counters {
    collection: Collection<Document>,
}

impl Counters {
    pub fn new(collection: Collection<Document>) -> Self {
        Self { collection }
    }

    /// The next `seq` of `room` and its timestamp, `max(at, previous + 1)`.
    ///
    /// The allocation is durable before the message is stored: if the message insert
    /// fails or the node crashes in between, the seq is a gap that readers skip after a
    /// bound (architecture §3.2), never a seq used twice.
    pub async fn allocate(&self, room: &str, at: u64) -> Result<(u64, u64), Error> {
        let at = to_i64(at);
        for _ in 0..ROUNDS {
            let later = doc! { "$inc": { "seq": 1_i64 }, "$set": { "lastTs": at } };
            if let Some(c) = self.update(doc! { "_id": room, "lastTs": { "$lt": at } }, later).await? {
                return Ok((to_u64(c.seq), to_u64(at)));
            }
            let same_or_earlier = doc! { "$inc": { "seq": 1_i64, "lastTs": 1_i64 } };
            if let Some(c) = self.update(doc! { "_id": room, "lastTs": { "$gte": at } }, same_or_earlier).await? {
                return Ok((to_u64(c.seq), to_u64(c.last_ts)));
            }
            self.create(room).await?;
        }
        Err(Error::Mongo(format!("the seq counter of room {room} cannot be found or created")))
    }

    /// Raise the counter of `room` to at least `seq` and `last_ts` (after the store
    /// found a message the counter does not account for: a lost or restored counter).
    pub async fn catch_up(&self, room: &str, seq: i64, last_ts: i64) -> Result<(), Error> {
        self.create(room).await?;
        let update = doc! { "$max": { "seq": seq, "lastTs": last_ts } };
        self.collection.update_one(doc! { "_id": room }, update).await.map_err(mongo_error("raise a seq counter"))?;
        Ok(())
    }

    async fn update(&self, filter: Document, update: Document) -> Result<Option<Counter>, Error> {
        let after = self
            .collection
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(mongo_error("allocate a seq"))?;
        after
            .map(|d| mongodb::bson::from_document(d).map_err(|e| Error::Corrupt(format!("a seq counter: {e}"))))
            .transpose()
    }

    /// Create the counter of a room that has none; another node may have just done it.
    async fn create(&self, room: &str) -> Result<(), Error> {
        let counter = doc! { "_id": room, "seq": 0_i64, "lastTs": -1_i64 };
        match self.collection.insert_one(counter).await {
            Err(e) if !is_duplicate_key(&e) => Err(mongo_error("create a seq counter")(e)),
            _ => Ok(()),
        }
    }
}
