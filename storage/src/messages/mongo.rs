//! [`MongoMessageStore`]: the production [`MessageStore`] (architecture §3.2), messages,
//! read receipts and reactions in MongoDB, shared by every node, written with majority
//! write concern so an acknowledged message survives the loss of the primary.
//!
//! Collections of the database named in the URI (default `chat`):
//! - `messages`: one document per message (layout in `mongo_docs.rs`), with unique
//!   indexes on `(room, seq)` and `(room, timestamp)`, and one on `file.filename`;
//! - `counters`: one document per room allocating `seq` and timestamps
//!   (`mongo_counters.rs`);
//! - `readMarks`: each member's read watermark per room (`mongo_read_marks.rs`), from
//!   which every read derives the messages' `readers`.
//!
//! Every write is a single conditional update, never a read-modify-write, so nodes
//! appending, reading and reacting at once lose nothing. The code uses only what both
//! MongoDB and the test server nx-27017 do correctly (architecture §7); where they
//! differ, the comments say why a query is written the way it is.

use async_trait::async_trait;
use chat_raft::command::Millis;
use chat_raft::messages::{derive_readers, NewMessage, ReadMark, ReadNotice, StoredMessage, DELETED_CONTENT};
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{DatabaseOptions, IndexOptions, ReturnDocument, WriteConcern};
use mongodb::{Client, Collection, IndexModel};

use super::mongo_counters::Counters;
use super::mongo_docs::{reaction_key, reaction_path, reactions_from_doc, to_i64, to_u64, MessageDoc};
use super::mongo_read_marks::ReadMarks;
use super::store::{clamp_limit, HistoryPage, MessagePlace, MessageReactions, MessageStore};
use crate::Error;

/// The database used when the URI names none.
pub const DEFAULT_DATABASE: &str = "chat";

/// How often an append or a reaction starts over after losing a race it can detect
/// (a counter behind the stored messages, an emoji list removed under it).
const ROUNDS: usize = 4;

/// Messages in MongoDB. Cheap to clone: the driver's client is a shared pool.
#[derive(Clone)]
pub struct MongoMessageStore {
    messages: Collection<MessageDoc>,
    /// The same collection, for queries that project or return raw documents.
    raw: Collection<Document>,
    counters: Counters,
    read_marks: ReadMarks,
}

impl MongoMessageStore {
    /// Connect to `uri` (a MongoDB connection string; the database is its path, default
    /// [`DEFAULT_DATABASE`]) with majority write concern, and create the indexes the
    /// queries need. Fails if no server answers within the URI's
    /// `serverSelectionTimeoutMS` (30 s by default).
    pub async fn connect(uri: &str) -> Result<Self, Error> {
        let client = Client::with_uri_str(uri).await.map_err(mongo_error("parse the MongoDB URI"))?;
        let name = client.default_database().map_or_else(|| DEFAULT_DATABASE.to_owned(), |db| db.name().to_owned());
        // Set on the database handle so no write can forget it: a message is
        // acknowledged only once a majority of the replica set has it.
        let options = DatabaseOptions::builder().write_concern(WriteConcern::majority()).build();
        let db = client.database_with_options(&name, options);
        let store = Self {
            messages: db.collection("messages"),
            raw: db.collection("messages"),
            counters: Counters::new(db.collection("counters")),
            read_marks: ReadMarks::new(db.collection("readMarks")),
        };
        store.create_indexes().await?;
        Ok(store)
    }

    async fn create_indexes(&self) -> Result<(), Error> {
        let unique = |name: &str| IndexOptions::builder().name(name.to_owned()).unique(true).build();
        let indexes = [
            // The guard against two nodes storing the same seq, and `after_seq`.
            IndexModel::builder().keys(doc! { "room": 1, "seq": 1 }).options(unique("room_seq")).build(),
            // `history` and `count_since`. Unique: the counter makes timestamps strictly
            // increase within a room, and the history cursor (`before`) relies on it;
            // being unique, it needs no `_id` tie-break (nx-27017 also fails every
            // insert into a collection with an index that contains `_id`).
            IndexModel::builder().keys(doc! { "room": 1, "timestamp": -1 }).options(unique("room_timestamp")).build(),
            // Finding the message of a file (file access checks).
            IndexModel::builder()
                .keys(doc! { "file.filename": 1 })
                .options(IndexOptions::builder().name("file_filename".to_owned()).sparse(true).build())
                .build(),
        ];
        self.messages.create_indexes(indexes).await.map_err(mongo_error("create the message indexes"))?;
        self.read_marks.create_indexes().await
    }

    async fn find(&self, filter: Document, sort: Document, limit: usize) -> Result<Vec<MessageDoc>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let cursor = self.messages.find(filter).sort(sort).limit(limit).await.map_err(mongo_error("query messages"))?;
        cursor.try_collect().await.map_err(mongo_error("read messages"))
    }

    /// Messages of one room with their readers derived from the room's read marks.
    async fn with_readers(&self, room: &str, docs: Vec<MessageDoc>) -> Result<Vec<StoredMessage>, Error> {
        let mut messages: Vec<StoredMessage> = docs.into_iter().map(MessageDoc::into_message).collect();
        if !messages.is_empty() {
            derive_readers(&mut messages, &self.read_marks.of_room(room).await?);
        }
        Ok(messages)
    }

    async fn find_doc(&self, id: &str) -> Result<Option<MessageDoc>, Error> {
        self.messages.find_one(doc! { "_id": id }).await.map_err(mongo_error("read a message"))
    }

    /// Insert `message` under a freshly allocated seq. `None` when the insert collided
    /// with a stored message whose seq or timestamp the room's counter does not know
    /// (the counter was lost or restored from an older backup): the counter has been
    /// raised past it, try again.
    async fn insert(&self, message: &NewMessage) -> Result<Option<StoredMessage>, Error> {
        let (seq, timestamp) = self.counters.allocate(&message.room, message.at).await?;
        let doc = MessageDoc::new(message.clone(), seq, timestamp);
        let Err(e) = self.messages.insert_one(&doc).await else { return Ok(Some(doc.into_message())) };
        if !is_duplicate_key(&e) {
            return Err(mongo_error("store a message")(e));
        }
        // A concurrent append of the same id won: its message stands, our seq is a gap.
        if let Some(stored) = self.find_doc(&message.id).await? {
            return Ok(Some(stored.into_message()));
        }
        let room = doc! { "room": &message.room };
        let last_seq = self.find(room.clone(), doc! { "seq": -1 }, 1).await?;
        let last_ts = self.find(room, doc! { "timestamp": -1 }, 1).await?;
        let (Some(seq), Some(ts)) = (last_seq.first(), last_ts.first()) else {
            return Err(mongo_error("store a message")(e));
        };
        tracing::warn!(room = %message.room, seq = seq.seq, "the room's seq counter is behind its messages; raising it");
        self.counters.catch_up(&message.room, seq.seq, ts.timestamp).await?;
        Ok(None)
    }

    /// Add `user_id` to the emoji's users (set semantics).
    async fn add_reaction(&self, id: &str, emoji: &str, user_id: &str) -> Result<Option<MessageDoc>, Error> {
        let path = reaction_path(emoji);
        for _ in 0..ROUNDS {
            // `$addToSet` only where the emoji's list exists: MongoDB would create a
            // missing one, nx-27017 silently does nothing, so create it first below.
            let filter = doc! { "_id": id, &path: { "$exists": true } };
            let update = doc! { "$addToSet": { &path: user_id } };
            let after = self
                .messages
                .find_one_and_update(filter, update)
                .return_document(ReturnDocument::After)
                .await
                .map_err(mongo_error("add a reaction"))?;
            if after.is_some() {
                return Ok(after);
            }
            let missing = doc! { "_id": id, &path: { "$exists": false } };
            let created = self
                .raw
                .update_one(missing, doc! { "$set": { &path: [] } })
                .await
                .map_err(mongo_error("add a reaction"))?;
            if created.matched_count == 0 && self.find_doc(id).await?.is_none() {
                return Ok(None);
            }
            // Created here or by another node; a removal may empty and drop it again
            // before our `$addToSet`, hence the rounds.
        }
        Err(Error::Mongo(format!("adding a reaction to message {id} kept losing races")))
    }

    /// Take `user_id` out of the emoji's users, and drop the emoji once nobody is left.
    async fn remove_reaction(&self, id: &str, emoji: &str, user_id: &str) -> Result<Option<MessageDoc>, Error> {
        let path = reaction_path(emoji);
        let after = self
            .messages
            .find_one_and_update(doc! { "_id": id }, doc! { "$pull": { &path: user_id } })
            .return_document(ReturnDocument::After)
            .await
            .map_err(mongo_error("remove a reaction"))?;
        let emptied = after.as_ref().and_then(|d| d.reactions.get(&reaction_key(emoji))).is_some_and(Vec::is_empty);
        if emptied {
            // Only if still empty: someone may have reacted since. Readers skip empty
            // lists, so a crash before this update changes no answer.
            let empty = doc! { "_id": id, &path: { "$size": 0 } };
            self.raw
                .update_one(empty, doc! { "$unset": { &path: "" } })
                .await
                .map_err(mongo_error("remove a reaction"))?;
        }
        Ok(after)
    }
}

#[async_trait]
impl MessageStore for MongoMessageStore {
    async fn append(&self, message: NewMessage) -> Result<StoredMessage, Error> {
        // A retried append must not take a second seq.
        if let Some(stored) = self.find_doc(&message.id).await? {
            return Ok(stored.into_message());
        }
        for _ in 0..ROUNDS {
            if let Some(stored) = self.insert(&message).await? {
                return Ok(stored);
            }
        }
        Err(Error::Mongo(format!("message {}: the room's seq counter cannot catch up", message.id)))
    }

    async fn get(&self, id: &str) -> Result<Option<StoredMessage>, Error> {
        let Some(doc) = self.find_doc(id).await? else { return Ok(None) };
        let room = doc.room.clone();
        Ok(self.with_readers(&room, vec![doc]).await?.pop())
    }

    async fn locate(&self, id: &str) -> Result<Option<MessagePlace>, Error> {
        Ok(self.find_doc(id).await?.map(|doc| MessagePlace { room: doc.room, seq: to_u64(doc.seq) }))
    }

    async fn history(&self, room: &str, before: Option<Millis>, limit: usize) -> Result<HistoryPage, Error> {
        let limit = clamp_limit(limit);
        let mut filter = doc! { "room": room };
        if let Some(before) = before {
            filter.insert("timestamp", doc! { "$lt": to_i64(before) });
        }
        // One more than asked, to learn whether older messages exist.
        let mut newest_first = self.find(filter, doc! { "timestamp": -1 }, limit + 1).await?;
        let has_more = newest_first.len() > limit;
        newest_first.truncate(limit);
        newest_first.reverse();
        Ok(HistoryPage { messages: self.with_readers(room, newest_first).await?, has_more })
    }

    async fn after_seq(&self, room: &str, seq: u64, limit: usize) -> Result<Vec<StoredMessage>, Error> {
        let filter = doc! { "room": room, "seq": { "$gt": to_i64(seq) } };
        let docs = self.find(filter, doc! { "seq": 1 }, clamp_limit(limit)).await?;
        self.with_readers(room, docs).await
    }

    fn applied_everywhere(&self) -> bool {
        false
    }

    /// `notices` are the caller's to announce: MongoDB writes are applied by no node.
    async fn mark_read(&self, marks: &[ReadMark], _notices: &[ReadNotice]) -> Result<(), Error> {
        self.read_marks.raise(marks).await
    }

    async fn read_marks(&self, room: &str) -> Result<Vec<ReadMark>, Error> {
        self.read_marks.of_room(room).await
    }

    async fn react(
        &self,
        message_id: &str,
        emoji: &str,
        user_id: &str,
        add: bool,
    ) -> Result<Option<MessageReactions>, Error> {
        let after = if add {
            self.add_reaction(message_id, emoji, user_id).await?
        } else {
            self.remove_reaction(message_id, emoji, user_id).await?
        };
        Ok(after.map(|d| MessageReactions { room: d.room, reactions: reactions_from_doc(d.reactions) }))
    }

    async fn delete(&self, id: &str, at: Millis) -> Result<Option<StoredMessage>, Error> {
        // One conditional update: only a message that is not a tombstone yet changes, so
        // two nodes deleting at once agree on the first deletion time.
        let filter = doc! { "_id": id, "deletedAt": { "$exists": false } };
        let update = doc! {
            "$set": {
                "content": DELETED_CONTENT,
                "deletedAt": to_i64(at),
                "mentions": [],
                "metadata": {},
                "reactions": {},
            },
            "$unset": { "file": "" },
        };
        self.raw.update_one(filter, update).await.map_err(mongo_error("delete a message"))?;
        self.get(id).await
    }

    async fn count_since(&self, room: &str, since: Millis) -> Result<usize, Error> {
        let filter = doc! { "room": room, "timestamp": { "$gte": to_i64(since) } };
        let count = self.messages.count_documents(filter).await.map_err(mongo_error("count messages"))?;
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }
}

/// Turn a driver error into the crate's, naming what was being done.
pub(super) fn mongo_error(doing: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::Mongo(format!("{doing}: {e}"))
}

/// Whether a write failed on a unique index (code 11000).
pub(super) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == 11000)
}
