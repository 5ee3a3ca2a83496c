//! The sled-backed Raft log store: openraft's [`RaftLogStorage`] and [`RaftLogReader`].
//!
//! Layout, in one sled database that other stores may share:
//! - tree `raft_log`: big-endian log index -> JSON entry, so sled's byte order is log order
//!   and the last key is the last entry;
//! - tree `raft_meta`: `vote`, `committed` and `last_purged`, each a JSON log id or vote.
//!
//! sled's `flush` covers every tree of a database at once, so one flush makes both the
//! entries and the pointers written before it durable.
//!
//! Appends are group-committed: `append` writes the entries and hands openraft's
//! callback to one flusher task per store, which flushes once for every append that
//! queued up meanwhile and then acknowledges them in order. The callback still fires
//! only once the entries are on disk; openraft meanwhile goes on with the next
//! entries instead of waiting for each fsync, and a busy leader or follower does one
//! flush per burst instead of one per entry.

use std::fmt::{self, Debug};
use std::io;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use chat_raft::background;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{LogId, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::log_tail::LogTail;
use crate::Error;

const LOG_TREE: &str = "raft_log";
const META_TREE: &str = "raft_meta";
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const LAST_PURGED: &str = "last_purged";

/// The Raft log of one node, generic over the openraft type config.
///
/// Cheap to clone: clones share the same sled trees, which is how the store hands out
/// its own log readers to replication tasks.
pub struct SledLogStore<C: RaftTypeConfig> {
    /// Shared with the flusher task only weakly: a dropped store must release the
    /// database (its lock file) even while the task lingers.
    log: Arc<sled::Tree>,
    meta: sled::Tree,
    /// The newest entries, decoded (see `log_tail.rs`); shared by clones.
    tail: Arc<Mutex<LogTail<C::Entry>>>,
    /// The group-commit queue, started by the first append (on the runtime that runs
    /// Raft); shared by clones.
    flusher: Arc<OnceLock<mpsc::UnboundedSender<LogFlushed<C>>>>,
    /// One past the last purged index (0: nothing purged). Entries below it may still
    /// be in sled while a background purge removes them; reads skip them.
    first_kept: Arc<AtomicU64>,
    // `fn() -> C` keeps the store Send + Sync whatever `C` is: no `C` value is ever held.
    _types: PhantomData<fn() -> C>,
}

impl<C: RaftTypeConfig> Clone for SledLogStore<C> {
    fn clone(&self) -> Self {
        Self {
            log: self.log.clone(),
            meta: self.meta.clone(),
            tail: self.tail.clone(),
            flusher: self.flusher.clone(),
            first_kept: self.first_kept.clone(),
            _types: PhantomData,
        }
    }
}

impl<C: RaftTypeConfig> Debug for SledLogStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No entry count: sled's `len` walks the whole tree.
        f.debug_struct("SledLogStore").finish_non_exhaustive()
    }
}

impl<C> SledLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned + Clone,
{
    /// Open (or create) a sled database at `path` holding only this log.
    pub fn open(path: &Path) -> Result<Self, Error> {
        Self::from_db(&crate::sled_db::open(path, crate::sled_db::DEFAULT_CACHE_BYTES)?)
    }

    /// Keep the log in the `raft_log` and `raft_meta` trees of an already open database.
    pub fn from_db(db: &sled::Db) -> Result<Self, Error> {
        let store = Self {
            log: Arc::new(db.open_tree(LOG_TREE)?),
            meta: db.open_tree(META_TREE)?,
            tail: Arc::default(),
            flusher: Arc::default(),
            first_kept: Arc::default(),
            _types: PhantomData,
        };
        store.finish_interrupted_purge()?;
        Ok(store)
    }

    /// `purge` records the purged id before deleting entries, so a crash in between leaves
    /// entries at or below it. They would be readable again, so delete them now.
    fn finish_interrupted_purge(&self) -> Result<(), Error> {
        if let Some(purged) = self.read_meta::<LogId<C::NodeId>>(LAST_PURGED)? {
            self.first_kept.store(purged.index.saturating_add(1), Ordering::Relaxed);
            self.remove_keys(..=log_key(purged.index))?;
        }
        Ok(())
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &'static str) -> Result<Option<T>, Error> {
        self.meta.get(key)?.map(|bytes| decode(key, &bytes)).transpose()
    }

    fn write_meta<T: Serialize>(&self, key: &'static str, value: &T) -> Result<(), Error> {
        self.meta.insert(key, encode(key, value)?)?;
        Ok(())
    }

    fn last_entry_id(&self) -> Result<Option<LogId<C::NodeId>>, Error> {
        let Some((_, bytes)) = self.log.last()? else {
            return Ok(None);
        };
        let entry: C::Entry = decode("log entry", &bytes)?;
        Ok(Some(entry.get_log_id().clone()))
    }

    fn read_entries(&self, range: impl RangeBounds<u64>) -> Result<Vec<C::Entry>, Error> {
        if let Some(entries) = self.tail().read(&range) {
            return Ok(entries);
        }
        // Purged entries still in sled (a background purge under way) are not read.
        let first_kept = log_key(self.first_kept.load(Ordering::Relaxed));
        let (start, end) = key_range(range);
        let start = match start {
            Bound::Included(key) | Bound::Excluded(key) if key >= first_kept => start,
            _ => Bound::Included(first_kept),
        };
        self.log.range((start, end)).values().map(|bytes| decode("log entry", &bytes?)).collect()
    }

    /// Remove the entries at and below `upto`. A snapshot purges tens of thousands at
    /// once: removing them on the Raft runtime stalled this node's heartbeats for about
    /// a second and started an election (README "Build 8"), so a long run is removed
    /// on a low-priority thread of its own, a chunk at a time, while Raft goes on.
    fn remove_upto(&self, upto: u64) -> Result<(), Error> {
        let first = match self.log.first()? {
            Some((key, _)) => key_index(&key)?,
            None => return Ok(()),
        };
        if upto.saturating_sub(first) < PURGE_CHUNK as u64 {
            return self.remove_keys(..=log_key(upto));
        }
        let log = Arc::downgrade(&self.log);
        let purge = move || {
            if let Err(e) = remove_in_chunks(&log, upto) {
                // What is left is removed by the next purge, or when the store opens.
                tracing::warn!(error = %e, upto, "background raft log purge stopped");
            }
        };
        Ok(background::spawn_at_priority("log-purge", background::BACKGROUND_NICE, purge)?)
    }

    /// Entries go to sled first and to the tail after: a read in between misses the
    /// tail and finds them in sled.
    fn write_entries(&self, entries: impl IntoIterator<Item = C::Entry>) -> Result<(), Error> {
        let mut written = Vec::new();
        let mut encoded = Vec::new();
        for entry in entries {
            let index = entry.get_log_id().index;
            let bytes = encode("log entry", &entry)?;
            written.push((index, bytes.len(), entry));
            encoded.push((log_key(index), bytes));
        }
        if let [(key, bytes)] = encoded.as_slice() {
            // Most appends carry one entry. A lone insert is atomic by itself, and a
            // batch would cost two extra writes to sled's log file (see
            // `messages/writes.rs`).
            self.log.insert(key, bytes.as_slice())?;
        } else {
            // One batch, so a crash never leaves a hole in the middle of an append.
            let mut batch = sled::Batch::default();
            for (key, bytes) in encoded {
                batch.insert(&key, bytes);
            }
            self.log.apply_batch(batch)?;
        }
        let mut tail = self.tail();
        for (index, len, entry) in written {
            tail.push(index, entry, len);
        }
        Ok(())
    }

    fn tail(&self) -> MutexGuard<'_, LogTail<C::Entry>> {
        // The tail is only a copy of what sled holds; a panic mid-update cannot make it
        // claim an entry sled does not have, since removals go to the tail first.
        self.tail.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remove_keys(&self, range: impl RangeBounds<[u8; 8]>) -> Result<(), Error> {
        let mut batch = sled::Batch::default();
        for key in self.log.range(range).keys() {
            batch.remove(key?);
        }
        self.log.apply_batch(batch)?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), Error> {
        self.log.flush_async().await?;
        Ok(())
    }
}

impl<C> RaftLogReader<C> for SledLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned + Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        Ok(self.read_entries(range).map_err(|e| StorageIOError::read_logs(&e))?)
    }
}

impl<C> RaftLogStorage<C> for SledLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned + Clone,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let last_purged_log_id: Option<LogId<C::NodeId>> =
            self.read_meta(LAST_PURGED).map_err(|e| StorageIOError::read_logs(&e))?;
        let last_entry = self.last_entry_id().map_err(|e| StorageIOError::read_logs(&e))?;
        // With every entry purged (possibly past the end of the log) the purged id is the
        // last log id; `max` also covers that, since `None` sorts first.
        let last_log_id = last_entry.max(last_purged_log_id.clone());
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.write_meta(VOTE, vote).map_err(|e| StorageIOError::write_vote(&e))?;
        // A vote must survive a crash, or this node could vote twice in one term.
        self.flush().await.map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.read_meta(VOTE).map_err(|e| StorageIOError::read_vote(&e))?)
    }

    async fn save_committed(&mut self, committed: Option<LogId<C::NodeId>>) -> Result<(), StorageError<C::NodeId>> {
        // No flush: this is called on every commit, and a committed id that lags on disk is
        // harmless. On restart openraft re-applies fewer entries and the leader re-sends
        // the commit index; the id can never be ahead of the log, whose entries were
        // flushed before they could be committed.
        let written = match &committed {
            Some(log_id) => self.write_meta(COMMITTED, log_id),
            None => self.meta.remove(COMMITTED).map(drop).map_err(Error::from),
        };
        written.map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.read_meta(COMMITTED).map_err(|e| StorageIOError::read(&e))?)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<C>) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.write_entries(entries).map_err(|e| StorageIOError::write_logs(&e))?;
        // Acknowledging an entry lets the leader count this node towards a quorum, so the
        // callback fires only once the entries are on disk: the flusher calls it.
        let flusher = self.flusher.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(group_commit::<C>(Arc::downgrade(&self.log), rx));
            tx
        });
        if let Err(mpsc::error::SendError(callback)) = flusher.send(callback) {
            // The flusher is gone (its runtime stopped): flush here instead.
            let flushed = self.flush().await;
            callback.log_io_completed(flushed.as_ref().map(|_| ()).map_err(|e| io::Error::other(e.to_string())));
            flushed.map_err(|e| StorageIOError::write_logs(&e))?;
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        tracing::debug!(since = log_id.index, "truncating raft log");
        // The tail forgets first, so no read finds there what sled no longer holds.
        self.tail().truncate(log_id.index);
        self.remove_keys(log_key(log_id.index)..).map_err(|e| StorageIOError::write_logs(&e))?;
        self.flush().await.map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        tracing::debug!(upto = log_id.index, "purging raft log");
        // The purged id goes first: if the entries went first, a crash in between would
        // leave a log starting after a gap that nothing on disk explains.
        self.write_meta(LAST_PURGED, &log_id).map_err(|e| StorageIOError::write_logs(&e))?;
        self.first_kept.fetch_max(log_id.index.saturating_add(1), Ordering::Relaxed);
        self.tail().purge(log_id.index);
        self.flush().await.map_err(|e| StorageIOError::write_logs(&e))?;
        self.remove_upto(log_id.index).map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}

/// Entries removed per sled batch by a background purge.
const PURGE_CHUNK: usize = 1000;

/// Remove the entries at and below `upto`, [`PURGE_CHUNK`] per batch. Stops early when
/// the store is dropped: it must release the database, and opening it again finishes
/// the purge.
fn remove_in_chunks(log: &Weak<sled::Tree>, upto: u64) -> Result<(), Error> {
    loop {
        let Some(log) = log.upgrade() else { return Ok(()) };
        let mut batch = sled::Batch::default();
        let mut count = 0;
        for key in log.range(..=log_key(upto)).keys().take(PURGE_CHUNK) {
            batch.remove(key?);
            count += 1;
        }
        if count == 0 {
            return Ok(());
        }
        log.apply_batch(batch)?;
    }
}

/// Flush once for every append queued since the last flush, then acknowledge them in
/// the order they were appended.
async fn group_commit<C: RaftTypeConfig>(log: Weak<sled::Tree>, mut queue: mpsc::UnboundedReceiver<LogFlushed<C>>) {
    while let Some(first) = queue.recv().await {
        let mut waiting = vec![first];
        while let Ok(next) = queue.try_recv() {
            waiting.push(next);
        }
        let flushed = match log.upgrade() {
            // The strong reference ends with the flush, before anyone is told.
            Some(log) => log.flush_async().await,
            None => Err(sled::Error::ReportableBug("the log store was dropped before its flush".into())),
        };
        if let Err(e) = &flushed {
            tracing::error!(error = %e, "raft log flush failed");
        }
        for callback in waiting {
            callback.log_io_completed(flushed.as_ref().map(|_| ()).map_err(|e| io::Error::other(e.to_string())));
        }
    }
}

fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn key_index(key: &[u8]) -> Result<u64, Error> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| Error::Corrupt(format!("raft log key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

fn key_range(range: impl RangeBounds<u64>) -> (Bound<[u8; 8]>, Bound<[u8; 8]>) {
    (range.start_bound().map(|i| log_key(*i)), range.end_bound().map(|i| log_key(*i)))
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|source| Error::Encode { what, source })
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Decode { what, source })
}
