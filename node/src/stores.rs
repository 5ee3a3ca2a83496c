//! Which message and blob stores a node uses, and whether they can serve.
//!
//! Without `--mongodb-uri` the node runs embedded: messages through the Raft log into
//! sled, blobs on two nodes' disks. With it, messages go to [`MongoMessageStore`] and
//! blobs to [`GridFsBlobStore`], shared by every node, and never to the embedded stores:
//! a node that cannot reach MongoDB must not start a second, diverging history.
//!
//! MongoDB is connected in the background ([`Mongo::run`]), so the listeners start at
//! once: until it answers, `/api/health` says 503 (`reason: "mongodb"`, the load
//! balancer skips the node) and every message or blob operation fails as unavailable
//! (socket `error` with the usual load/message error codes, REST 503). Once connected,
//! a ping every few seconds keeps the readiness flag honest.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chat_raft::command::Millis;
use chat_raft::messages::{MessageApplier, NewMessage, ReadMark, ReadNotice, StoredMessage};
use chat_raft::Cluster;
use chat_storage::blobs::{Blob, Placement, StagedBlob};
use chat_storage::{
    BlobError, BlobName, BlobStore, DirBlobStore, EmbeddedBlobStore, EmbeddedMessageStore, GridFsBlobStore,
    HistoryPage, MessagePlace, MessageReactions, MessageStore, MongoMessageStore, SledMessages,
};
use tokio::sync::watch;

use crate::{Config, Error};

/// Bound on one connection attempt or ping; the driver's own server selection
/// timeout (30 s by default) would keep the node unready for longer than needed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause between connection attempts, and between pings once connected.
const PING_EVERY: Duration = Duration::from_secs(2);

/// Failed pings in a row after which the node reports not-ready (one lost ping is
/// noise, not an outage).
const FAILED_PINGS: u32 = 2;

/// The stores a node's configuration asks for, chosen before the state machine opens
/// (which applies embedded message commands only in embedded mode).
pub(crate) enum Plan {
    /// Messages replicated through the Raft log into this node's sled.
    Embedded(SledMessages),
    /// Messages and files in MongoDB. The state machine gets no message applier, and
    /// nothing proposes message commands: only `EmbeddedMessageStore` does, and it is
    /// not built.
    Mongo(Arc<Mongo>),
}

/// What [`Plan::build`] wires into the node.
pub(crate) struct Stores {
    pub messages: Arc<dyn MessageStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// Set in MongoDB mode: its connection task and readiness.
    pub mongo: Option<Arc<Mongo>>,
}

impl Plan {
    pub(crate) fn from_config(config: &Config) -> Result<Self, Error> {
        match &config.mongodb_uri {
            Some(uri) => {
                tracing::info!("messages and files in MongoDB (--mongodb-uri); not ready until it answers");
                Ok(Self::Mongo(Mongo::new(uri.clone())))
            }
            None => {
                let db = chat_storage::sled_db::open(&config.data_dir.join("messages"), config.sled_cache_bytes())
                    .map_err(|e| Error::Storage(e.to_string()))?;
                let data = SledMessages::from_db(&db).map_err(|e| Error::Storage(e.to_string()))?;
                Ok(Self::Embedded(data))
            }
        }
    }

    /// The state machine's message applier: the sled replica in embedded mode only.
    pub(crate) fn applier(&self) -> Option<Arc<dyn MessageApplier>> {
        match self {
            Self::Embedded(data) => Some(Arc::new(data.clone())),
            Self::Mongo(_) => None,
        }
    }

    pub(crate) fn build(self, cluster: &Cluster, blob_copies: &DirBlobStore, secret: &str) -> Stores {
        match self {
            Self::Embedded(data) => Stores {
                messages: Arc::new(EmbeddedMessageStore::new(cluster.clone(), data)),
                blobs: Arc::new(EmbeddedBlobStore::new(blob_copies.clone(), cluster.clone(), secret.to_owned())),
                mongo: None,
            },
            Self::Mongo(mongo) => Stores { messages: mongo.messages(), blobs: mongo.blobs(), mongo: Some(mongo) },
        }
    }
}

/// The MongoDB stores of a node configured with `--mongodb-uri`, and their readiness.
pub(crate) struct Mongo {
    uri: String,
    stores: OnceLock<(MongoMessageStore, GridFsBlobStore)>,
    ready: AtomicBool,
    failed_pings: AtomicU32,
}

impl Mongo {
    pub(crate) fn new(uri: String) -> Arc<Self> {
        Arc::new(Self { uri, stores: OnceLock::new(), ready: AtomicBool::new(false), failed_pings: AtomicU32::new(0) })
    }

    /// Whether MongoDB answered recently: `/api/health` requires it.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub(crate) fn messages(self: &Arc<Self>) -> Arc<dyn MessageStore> {
        Arc::new(MongoMessages(self.clone()))
    }

    pub(crate) fn blobs(self: &Arc<Self>) -> Arc<dyn BlobStore> {
        Arc::new(MongoBlobs(self.clone()))
    }

    /// Connect (retrying until it works), then ping, until `stop`.
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if self.stores.get().is_none() {
                self.connect().await;
            } else {
                self.ping().await;
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(PING_EVERY) => {}
            }
        }
    }

    async fn connect(&self) {
        let attempt = async {
            let messages = MongoMessageStore::connect(&self.uri).await.map_err(|e| e.to_string())?;
            let blobs = GridFsBlobStore::connect(&self.uri).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((messages, blobs))
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
            Ok(Ok(stores)) => {
                let _ = self.stores.set(stores);
                self.ready.store(true, Ordering::Relaxed);
                tracing::info!("connected to MongoDB: messages and files are served from it");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot connect to MongoDB yet; not ready, retrying"),
            Err(_) => tracing::warn!(timeout = ?ATTEMPT_TIMEOUT, "MongoDB did not answer; not ready, retrying"),
        }
    }

    async fn ping(&self) {
        let Some((_, blobs)) = self.stores.get() else { return };
        let ok = matches!(tokio::time::timeout(ATTEMPT_TIMEOUT, blobs.ping()).await, Ok(Ok(())));
        if ok {
            self.failed_pings.store(0, Ordering::Relaxed);
            if !self.ready.swap(true, Ordering::Relaxed) {
                tracing::info!("MongoDB answers again; ready");
            }
        } else if self.failed_pings.fetch_add(1, Ordering::Relaxed) + 1 >= FAILED_PINGS
            && self.ready.swap(false, Ordering::Relaxed)
        {
            tracing::warn!("MongoDB stopped answering pings; not ready");
        }
    }

    fn message_store(&self) -> Result<&MongoMessageStore, chat_storage::Error> {
        self.stores.get().map(|(m, _)| m).ok_or_else(|| chat_storage::Error::Mongo("not connected yet".into()))
    }

    /// Not connected is "retry later or elsewhere": `Unreplicated` is the blob error the
    /// REST edge already answers with 503, and nothing was stored.
    fn blob_store(&self) -> Result<&GridFsBlobStore, BlobError> {
        self.stores.get().map(|(_, b)| b).ok_or(BlobError::Unreplicated { stored: 0, wanted: 1 })
    }
}

/// [`MongoMessageStore`] once connected; unavailable before.
struct MongoMessages(Arc<Mongo>);

#[async_trait]
impl MessageStore for MongoMessages {
    async fn append(&self, message: NewMessage) -> Result<StoredMessage, chat_storage::Error> {
        self.0.message_store()?.append(message).await
    }

    async fn get(&self, id: &str) -> Result<Option<StoredMessage>, chat_storage::Error> {
        self.0.message_store()?.get(id).await
    }

    async fn locate(&self, id: &str) -> Result<Option<MessagePlace>, chat_storage::Error> {
        self.0.message_store()?.locate(id).await
    }

    async fn history(
        &self,
        room: &str,
        before: Option<Millis>,
        limit: usize,
    ) -> Result<HistoryPage, chat_storage::Error> {
        self.0.message_store()?.history(room, before, limit).await
    }

    async fn after_seq(&self, room: &str, seq: u64, limit: usize) -> Result<Vec<StoredMessage>, chat_storage::Error> {
        self.0.message_store()?.after_seq(room, seq, limit).await
    }

    fn applied_everywhere(&self) -> bool {
        false
    }

    async fn mark_read(&self, marks: &[ReadMark], notices: &[ReadNotice]) -> Result<(), chat_storage::Error> {
        self.0.message_store()?.mark_read(marks, notices).await
    }

    async fn read_marks(&self, room: &str) -> Result<Vec<ReadMark>, chat_storage::Error> {
        self.0.message_store()?.read_marks(room).await
    }

    async fn react(
        &self,
        message_id: &str,
        emoji: &str,
        user_id: &str,
        add: bool,
    ) -> Result<Option<MessageReactions>, chat_storage::Error> {
        self.0.message_store()?.react(message_id, emoji, user_id, add).await
    }

    async fn delete(&self, id: &str, at: Millis) -> Result<Option<StoredMessage>, chat_storage::Error> {
        self.0.message_store()?.delete(id, at).await
    }

    async fn count_since(&self, room: &str, since: Millis) -> Result<usize, chat_storage::Error> {
        self.0.message_store()?.count_since(room, since).await
    }
}

/// [`GridFsBlobStore`] once connected; unavailable before.
struct MongoBlobs(Arc<Mongo>);

#[async_trait]
impl BlobStore for MongoBlobs {
    async fn put(&self, name: &BlobName, bytes: Bytes) -> Result<Placement, BlobError> {
        self.0.blob_store()?.put(name, bytes).await
    }

    async fn put_staged(&self, name: &BlobName, staged: StagedBlob) -> Result<Placement, BlobError> {
        self.0.blob_store()?.put_staged(name, staged).await
    }

    async fn get(&self, name: &BlobName) -> Result<Option<Blob>, BlobError> {
        self.0.blob_store()?.get(name).await
    }

    async fn delete(&self, name: &BlobName) -> Result<bool, BlobError> {
        self.0.blob_store()?.delete(name).await
    }

    async fn exists(&self, name: &BlobName) -> Result<bool, BlobError> {
        self.0.blob_store()?.exists(name).await
    }
}
