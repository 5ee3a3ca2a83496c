//! Read watermarks in MongoDB: the `readMarks` collection, one document per member and
//! room, `{_id: "<room>\u{1f}<user>", room, user, seq, at}`, raised by a conditional
//! update (`seq < new`) so marks merge by maximum whichever node writes them.
//!
//! A member's first mark is an insert; two nodes inserting at once collide on `_id`,
//! and the loser raises the winner's document instead. Plain operators only, so the
//! same code runs on MongoDB and on the test server nx-27017.

use std::collections::HashMap;

use chat_raft::messages::ReadMark;
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::Collection;

use super::mongo::{is_duplicate_key, mongo_error};
use super::mongo_docs::{to_i64, to_u64};
use crate::Error;

/// The `readMarks` collection.
#[derive(Clone)]
pub(super) struct ReadMarks {
    collection: Collection<Document>,
}

impl ReadMarks {
    pub fn new(collection: Collection<Document>) -> Self {
        Self { collection }
    }

    pub async fn create_indexes(&self) -> Result<(), Error> {
        let index = mongodb::IndexModel::builder().keys(doc! { "room": 1 }).build();
        self.collection.create_index(index).await.map_err(mongo_error("create the read-mark index"))?;
        Ok(())
    }

    /// Raise each member's mark; several marks of one member and room keep the highest.
    pub async fn raise(&self, marks: &[ReadMark]) -> Result<(), Error> {
        let mut highest: HashMap<(&str, &str), &ReadMark> = HashMap::new();
        for mark in marks {
            let slot = highest.entry((mark.room.as_str(), mark.user_id.as_str())).or_insert(mark);
            if mark.seq > slot.seq {
                *slot = mark;
            }
        }
        for mark in highest.into_values() {
            self.raise_one(mark).await?;
        }
        Ok(())
    }

    async fn raise_one(&self, mark: &ReadMark) -> Result<(), Error> {
        let id = format!("{}\u{1f}{}", mark.room, mark.user_id);
        // Twice at most: a lost insert race means the document exists from then on.
        for _ in 0..2 {
            let lower = doc! { "_id": &id, "seq": { "$lt": to_i64(mark.seq) } };
            let set = doc! { "$set": { "seq": to_i64(mark.seq), "at": to_i64(mark.at) } };
            let raised = self.collection.update_one(lower, set).await.map_err(mongo_error("raise a read mark"))?;
            if raised.matched_count > 0 {
                return Ok(());
            }
            let exists =
                self.collection.find_one(doc! { "_id": &id }).await.map_err(mongo_error("read a read mark"))?;
            if exists.is_some() {
                // At or above this mark already.
                return Ok(());
            }
            let first = doc! {
                "_id": &id, "room": &mark.room, "user": &mark.user_id,
                "seq": to_i64(mark.seq), "at": to_i64(mark.at),
            };
            match self.collection.insert_one(first).await {
                Ok(_) => return Ok(()),
                Err(e) if is_duplicate_key(&e) => continue,
                Err(e) => return Err(mongo_error("store a read mark")(e)),
            }
        }
        Err(Error::Mongo(format!("read mark of {} in {} kept losing races", mark.user_id, mark.room)))
    }

    /// Every member's mark in `room`.
    pub async fn of_room(&self, room: &str) -> Result<Vec<ReadMark>, Error> {
        let cursor = self.collection.find(doc! { "room": room }).await.map_err(mongo_error("query read marks"))?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(mongo_error("read read marks"))?;
        docs.iter()
            .map(|d| {
                let user = d.get_str("user").map_err(|e| Error::Corrupt(format!("read mark without user: {e}")))?;
                Ok(ReadMark {
                    room: room.to_owned(),
                    user_id: user.to_owned(),
                    seq: to_u64(number(d, "seq")?),
                    at: to_u64(number(d, "at")?),
                })
            })
            .collect()
    }
}

/// An integer field, stored as 32 or 64 bits depending on the server.
fn number(d: &Document, field: &str) -> Result<i64, Error> {
    d.get_i64(field)
        .or_else(|_| d.get_i32(field).map(i64::from))
        .map_err(|e| Error::Corrupt(format!("read mark field {field}: {e}")))
}
