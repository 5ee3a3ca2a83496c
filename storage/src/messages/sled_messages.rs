//! [`SledMessages`]: one node's replica of the embedded message store. The state
//! machine applies committed message commands to it through
//! [`MessageApplier`]; the node reads history from it directly.
//!
//! The layout is in `layout.rs`, how each command applies in `apply.rs`, the snapshot
//! stream in `snapshot.rs`. This file owns the handle, the applied position and the
//! local reads.

use std::fmt;
use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chat_raft::command::{Millis, Outcome};
use chat_raft::messages::{derive_readers, MessageApplier, MessageCommand, ReadMark, StoredMessage};

use super::layout::{self, LogPos, Record, APPLIED_KEY, BY_SEQ, BY_TIME, READ_MARK};
use super::store::{clamp_limit, HistoryPage, MessagePlace};
use super::writes::Writes;
use super::{apply, snapshot};
use crate::Error;

const TREE: &str = "messages";

/// The sled-backed message replica. Cheap to clone: clones share the tree and the
/// applied position (the state machine holds one clone, the node another).
#[derive(Clone)]
pub struct SledMessages {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    /// Held for the whole of each apply and import: commands are applied one at a
    /// time, in log order, and reads see either all of a group's effects or none (each
    /// group, or each command outside a group, is one sled batch).
    progress: Mutex<Progress>,
}

/// The applied position and the position of the command being applied.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// The last position applied: its effects are stored (persisted under `a` with
    /// them) or in `group`.
    pub applied: LogPos,
    /// The last position whose effects are stored.
    stored: LogPos,
    /// The writes of the open group's commands, not yet stored (`None`: no group).
    group: Option<Writes>,
    /// The last position handed out. An entry's message commands arrive one after the
    /// other with the same index, so a new index restarts the count; openraft never
    /// applies an index twice in one process except after an import, which resets it.
    current: LogPos,
    /// Each room's last `seq` and timestamp as stored, so an append does not walk the
    /// room's two indexes backwards in sled (5 % of a busy leader's CPU, `perf`). Only
    /// applies and imports write those indexes, both under this lock; an import starts
    /// over with an empty cache.
    pub tails: RoomTails,
}

/// The last stored `seq` and timestamp of the rooms appended to since the node started.
#[derive(Debug, Default)]
pub(super) struct RoomTails(std::collections::HashMap<String, RoomTail>);

/// A room's last stored `seq` and timestamp (`None`: the room has no messages).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RoomTail {
    pub seq: Option<u64>,
    pub timestamp: Option<Millis>,
}

/// Rooms remembered at most; beyond it the cache starts over (a cache miss costs two
/// index walks, never a wrong answer).
const MAX_TAILS: usize = 100_000;

impl RoomTails {
    /// The room's tail, from the cache or else from the store's indexes.
    pub fn get(&self, store: &SledMessages, room: &str) -> Result<RoomTail, Error> {
        if let Some(tail) = self.0.get(room) {
            return Ok(*tail);
        }
        Ok(RoomTail { seq: store.last_in_room(BY_SEQ, room)?, timestamp: store.last_in_room(BY_TIME, room)? })
    }

    /// Remember a room's tail once the batch that stored it is applied.
    pub fn set(&mut self, room: &str, tail: RoomTail) {
        if self.0.len() >= MAX_TAILS && !self.0.contains_key(room) {
            self.0.clear();
        }
        self.0.insert(room.to_owned(), tail);
    }
}

impl Progress {
    fn next(&mut self, index: u64) -> LogPos {
        if self.current.index != index {
            self.current = LogPos { index, nth: 0 };
        }
        self.current.nth = self.current.nth.saturating_add(1);
        self.current
    }

    pub fn restart_at(&mut self, applied: LogPos) {
        *self = Self { applied, stored: applied, group: None, current: LogPos::default(), tails: RoomTails::default() };
    }
}

impl fmt::Debug for SledMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledMessages").field("applied", &self.progress().applied).finish_non_exhaustive()
    }
}

impl SledMessages {
    /// Open (or create) a sled database at `path` holding only the messages.
    pub fn open(path: &Path) -> Result<Self, Error> {
        Self::from_db(&crate::sled_db::open(path, crate::sled_db::DEFAULT_CACHE_BYTES)?)
    }

    /// Keep the messages in the `messages` tree of an already open database.
    pub fn from_db(db: &sled::Db) -> Result<Self, Error> {
        let tree = db.open_tree(TREE)?;
        if tree.contains_key(snapshot::IMPORTING_KEY)? {
            // An import was cut short: what is left is neither the old store nor the
            // new one. Empty, it claims nothing, and the state machine imports again.
            tracing::warn!("message store holds an interrupted snapshot import; clearing it");
            snapshot::clear(&tree)?;
            tree.remove(snapshot::IMPORTING_KEY)?;
            tree.flush()?;
        }
        let applied = read_applied(&tree)?;
        let mut progress = Progress::default();
        progress.restart_at(applied);
        Ok(Self { inner: Arc::new(Inner { db: db.clone(), tree, progress: Mutex::new(progress) }) })
    }

    pub(super) fn tree(&self) -> &sled::Tree {
        &self.inner.tree
    }

    pub(super) fn progress(&self) -> MutexGuard<'_, Progress> {
        // A panic while holding the lock cannot leave a half-applied command behind
        // (each command is one batch), so the position is still right.
        self.inner.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ----- local reads (no freshness check: see `EmbeddedMessageStore`) ---------------

    pub fn get(&self, id: &str) -> Result<Option<StoredMessage>, Error> {
        let Some(record) = self.record(id)? else { return Ok(None) };
        let marks = self.read_marks(&record.message.room)?;
        let mut messages = [record.message];
        derive_readers(&mut messages, &marks);
        let [message] = messages;
        Ok(Some(message))
    }

    /// A message's room and `seq`, without deriving its readers.
    pub fn locate(&self, id: &str) -> Result<Option<MessagePlace>, Error> {
        Ok(self.record(id)?.map(|r| MessagePlace { room: r.message.room, seq: r.message.seq }))
    }

    /// Every member's read watermark in `room` (see [`ReadMark`]).
    pub fn read_marks(&self, room: &str) -> Result<Vec<ReadMark>, Error> {
        let mut marks = Vec::new();
        for item in self.inner.tree.scan_prefix(layout::room_prefix(READ_MARK, room)) {
            let (key, value) = item?;
            let (seq, at) = layout::decode_read_mark(&value)?;
            marks.push(ReadMark { room: room.to_owned(), user_id: layout::read_mark_user(room, &key)?, seq, at });
        }
        Ok(marks)
    }

    /// See [`super::MessageStore::history`].
    pub fn history(&self, room: &str, before: Option<Millis>, limit: usize) -> Result<HistoryPage, Error> {
        let limit = clamp_limit(limit);
        let lo = Bound::Included(layout::room_key(BY_TIME, room, 0));
        let hi = match before {
            Some(before) => Bound::Excluded(layout::room_key(BY_TIME, room, before)),
            None => Bound::Included(layout::room_key(BY_TIME, room, u64::MAX)),
        };
        // One more than asked tells whether older messages exist, without counting.
        let mut ids = Vec::with_capacity(limit + 1);
        for item in self.inner.tree.range((lo, hi)).rev().take(limit + 1) {
            ids.push(item?.1);
        }
        let has_more = ids.len() > limit;
        ids.truncate(limit);
        ids.reverse();
        Ok(HistoryPage { messages: self.load(room, &ids)?, has_more })
    }

    /// See [`super::MessageStore::after_seq`].
    pub fn after_seq(&self, room: &str, seq: u64, limit: usize) -> Result<Vec<StoredMessage>, Error> {
        let lo = Bound::Excluded(layout::room_key(BY_SEQ, room, seq));
        let hi = Bound::Included(layout::room_key(BY_SEQ, room, u64::MAX));
        let ids = self.inner.tree.range((lo, hi)).take(clamp_limit(limit)).map(|item| item.map(|(_, id)| id));
        self.load(room, &ids.collect::<Result<Vec<_>, _>>()?)
    }

    /// See [`super::MessageStore::count_since`]. Walks back from the room's newest
    /// message and stops at `since`: cheap for the last minutes of a busy room.
    pub fn count_since(&self, room: &str, since: Millis) -> Result<usize, Error> {
        let lo = layout::room_key(BY_TIME, room, since);
        let hi = layout::room_key(BY_TIME, room, u64::MAX);
        let mut count = 0;
        for item in self.inner.tree.range(lo..=hi).rev() {
            item?;
            count += 1;
        }
        Ok(count)
    }

    pub(super) fn record(&self, id: &str) -> Result<Option<Record>, Error> {
        self.inner.tree.get(layout::message_key(id))?.map(|bytes| Record::decode(&bytes)).transpose()
    }

    /// The messages of `room` named by index values, in the given order, with their
    /// readers derived from the room's read marks.
    fn load(&self, room: &str, ids: &[sled::IVec]) -> Result<Vec<StoredMessage>, Error> {
        let mut messages = Vec::with_capacity(ids.len());
        for id in ids {
            let mut key = layout::message_prefix().to_vec();
            key.extend_from_slice(id);
            // Index entries and records are written in one batch; a miss would mean
            // corruption, and skipping it serves the rest of the page.
            if let Some(bytes) = self.inner.tree.get(key)? {
                messages.push(Record::message_of(&bytes)?);
            }
        }
        if !messages.is_empty() {
            derive_readers(&mut messages, &self.read_marks(room)?);
        }
        Ok(messages)
    }

    /// The largest seq or timestamp in a room's index (`None` for an empty room).
    pub(super) fn last_in_room(&self, kind: u8, room: &str) -> Result<Option<u64>, Error> {
        match self.inner.tree.scan_prefix(layout::room_prefix(kind, room)).next_back() {
            Some(item) => layout::room_key_number(&item?.0).map(Some),
            None => Ok(None),
        }
    }
}

pub(super) fn read_applied(tree: &sled::Tree) -> Result<LogPos, Error> {
    match tree.get(APPLIED_KEY)? {
        Some(bytes) => LogPos::from_bytes(&bytes),
        None => Ok(LogPos::default()),
    }
}

impl MessageApplier for SledMessages {
    fn apply(&self, index: u64, command: &MessageCommand) -> Outcome {
        let mut progress = self.progress();
        let pos = progress.next(index);
        let result = if pos <= progress.applied {
            apply::replayed(self, command)
        } else if let Some(mut writes) = progress.group.take() {
            let outcome = apply::execute(self, &mut progress, pos, command, &mut writes);
            progress.group = Some(writes);
            outcome
        } else {
            let mut writes = Writes::default();
            apply::execute(self, &mut progress, pos, command, &mut writes)
                .and_then(|outcome| Ok(self.inner.tree.apply_batch(writes.into_batch()).map(|()| outcome)?))
        };
        match result {
            Ok(outcome) => {
                progress.applied = progress.applied.max(pos);
                if progress.group.is_none() {
                    progress.stored = progress.applied;
                }
                outcome
            }
            Err(e) => fail_stop(index, &e),
        }
    }

    fn begin_group(&self) {
        let mut progress = self.progress();
        if progress.group.is_none() {
            progress.group = Some(Writes::default());
        }
    }

    fn end_group(&self) -> io::Result<()> {
        let mut progress = self.progress();
        let Some(writes) = progress.group.take() else { return Ok(()) };
        if !writes.is_empty() {
            if let Err(e) = self.inner.tree.apply_batch(writes.into_batch()) {
                // The commands were applied and answered: their effects cannot be dropped.
                fail_stop(progress.applied.index, &e.into());
            }
        }
        progress.stored = progress.applied;
        Ok(())
    }

    fn applied_index(&self) -> u64 {
        self.progress().stored.index
    }

    fn flush(&self) -> io::Result<()> {
        self.inner.db.flush().map(|_| ()).map_err(io::Error::other)
    }

    fn export(&self, out: &mut dyn io::Write) -> io::Result<()> {
        snapshot::export(self, out).map_err(into_io)
    }

    fn import(&self, input: &mut dyn io::Read) -> io::Result<()> {
        snapshot::import(self, input).map_err(into_io)
    }

    fn export_upto(&self, index: u64, out: &mut dyn io::Write) -> io::Result<u64> {
        snapshot::export_at(self, LogPos::end_of(index), out).map_err(into_io)
    }

    fn count_upto(&self, index: u64) -> io::Result<u64> {
        snapshot::count_at(self, LogPos::end_of(index)).map_err(into_io)
    }
}

/// A committed command that cannot be stored (disk failure, corrupt record) must not be
/// skipped: this replica would silently diverge from the others. `apply` has no error
/// channel, so the process stops and, restarted, replays the log from its last state.
fn fail_stop(index: u64, error: &Error) -> ! {
    tracing::error!(index, error = %error, "message store cannot apply a committed command; aborting");
    std::process::abort()
}

fn into_io(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        other => io::Error::other(other),
    }
}
