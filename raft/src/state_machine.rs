//! The openraft state-machine adapter: applies committed entries to the in-memory
//! [`ClusterState`] (control plane) and to the optional [`MessageApplier`] (embedded
//! message store), and keeps snapshots on disk so a restarted node starts from its last
//! snapshot instead of replaying the log from index 0.
//!
//! A snapshot is two files: `snapshot-<id>.data` (an 8-byte big-endian length, the
//! control state as JSON, then the message store's export) and `snapshot.meta.json`,
//! which names the current data file. Both are written to temporary files, synced and
//! renamed, data first, so a crash never leaves a half-written snapshot current.
//! Snapshot data is streamed from and to disk (openraft sends it in chunks): it is
//! never held in memory as a whole.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, Membership, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::background;
use crate::command::{Command, Outcome};
use crate::messages::MessageApplier;
use crate::state::ClusterState;
use crate::types::{NodeAddr, NodeId, TypeConfig};
use crate::Error;

const META_FILE: &str = "snapshot.meta.json";

/// One applied log entry, as seen by subscribers (fan-out, socket notifications).
/// Requests answered from the deduplication memory are left out: they changed nothing.
#[derive(Debug, Clone)]
pub struct AppliedEntry {
    pub index: u64,
    pub changes: Vec<(Command, Outcome)>,
}

/// What `snapshot.meta.json` holds: the current snapshot and its data file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CurrentSnapshot {
    meta: SnapshotMeta<NodeId, NodeAddr>,
    data_file: String,
}

/// The state machine of one node. Cheap to clone: clones share the same state.
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    applied: RwLock<AppliedState>,
    messages: Option<Arc<dyn MessageApplier>>,
    current: Mutex<Option<CurrentSnapshot>>,
    receiving: Mutex<Option<PathBuf>>,
    applied_index: watch::Sender<u64>,
    events: broadcast::Sender<Arc<AppliedEntry>>,
}

#[derive(Default)]
struct AppliedState {
    state: ClusterState,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, NodeAddr>,
}

impl StateMachineStore {
    /// Open the state machine kept in `dir` (control plane only).
    pub fn open(dir: &Path) -> Result<Self, Error> {
        Self::open_with(dir, None)
    }

    /// Open the state machine kept in `dir`, applying message commands to `messages`.
    /// Starts from the snapshot in `dir`, if any; a message store that is behind it is
    /// restored from the snapshot too.
    pub fn open_with(dir: &Path, messages: Option<Arc<dyn MessageApplier>>) -> Result<Self, Error> {
        fs::create_dir_all(dir)?;
        let mut applied = AppliedState::default();
        let current = read_current(dir)?;
        if let Some(current) = &current {
            let mut reader = BufReader::new(fs::File::open(dir.join(&current.data_file))?);
            applied.state = read_control(&mut reader)?;
            applied.last_applied = current.meta.last_log_id;
            applied.membership = current.meta.last_membership.clone();
            let index = current.meta.last_log_id.map_or(0, |l| l.index);
            if let Some(messages) = &messages {
                if messages.applied_index() < index {
                    tracing::warn!(index, "message store behind the snapshot; restoring it from the snapshot");
                    messages.import(&mut reader)?;
                }
            }
        }
        let index = applied.last_applied.map_or(0, |id| id.index);
        let (applied_index, _) = watch::channel(index);
        let (events, _) = broadcast::channel(4096);
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                applied: RwLock::new(applied),
                messages,
                current: Mutex::new(current),
                receiving: Mutex::new(None),
                applied_index,
                events,
            }),
        })
    }

    /// Run `f` on the current state of this replica (no freshness check; see
    /// [`crate::Cluster::read`] for reads that behave as if linearizable).
    pub fn read<T>(&self, f: impl FnOnce(&ClusterState) -> T) -> T {
        f(&self.inner.applied.read().expect("state lock poisoned").state)
    }

    /// Index of the last applied entry (0 before the first).
    pub fn applied_index(&self) -> u64 {
        *self.inner.applied_index.borrow()
    }

    /// Watch the applied index.
    pub fn watch_applied(&self) -> watch::Receiver<u64> {
        self.inner.applied_index.subscribe()
    }

    /// Subscribe to every entry applied from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AppliedEntry>> {
        self.inner.events.subscribe()
    }

    fn publish_applied(&self, index: u64) {
        self.inner.applied_index.send_if_modified(|current| {
            let advanced = index > *current;
            if advanced {
                *current = index;
            }
            advanced
        });
    }
}

/// A consistent point of this replica, taken for a backup: the control state, the
/// log id it reflects and the membership at that point.
#[derive(Debug, Clone)]
pub struct BackupPoint {
    pub state: ClusterState,
    pub last_log_id: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, NodeAddr>,
}

impl StateMachineStore {
    /// Copy the applied state (as `build_snapshot` does: only the copy is taken under
    /// the lock). Every entry up to `last_log_id` is committed: only those are applied.
    pub fn backup_point(&self) -> BackupPoint {
        let applied = self.inner.applied.read().expect("state lock poisoned");
        BackupPoint {
            state: applied.state.clone(),
            last_log_id: applied.last_applied,
            membership: applied.membership.clone(),
        }
    }

    /// Whether message commands are applied here (embedded mode).
    pub fn has_message_store(&self) -> bool {
        self.inner.messages.is_some()
    }

    /// Messages a backup at `index` holds (0 without a message store).
    pub fn count_messages_upto(&self, index: u64) -> std::io::Result<u64> {
        self.inner.messages.as_ref().map_or(Ok(0), |m| m.count_upto(index))
    }

    /// Write `state` and the message store as of `index` as one snapshot data stream,
    /// the same layout `build_snapshot` writes, so a restore installs it as a snapshot.
    /// Blocking: run it off the async threads. Returns the messages written.
    pub fn write_backup_state(&self, state: &ClusterState, index: u64, out: &mut dyn Write) -> std::io::Result<u64> {
        write_control(out, state)?;
        match &self.inner.messages {
            Some(messages) => messages.export_upto(index, out),
            None => Ok(0),
        }
    }

    /// Make `dir` the state-machine directory of a node that never ran, starting from
    /// a restored snapshot at `last_log_id` whose membership is `voters`: `state`, then
    /// the message stream read from `messages` (the rest of a backup's state section).
    /// A node opened on it imports the messages into its empty message store
    /// (`open_with`) and finds its peers in the membership.
    pub fn seed(
        dir: &Path,
        last_log_id: LogId<NodeId>,
        voters: BTreeMap<NodeId, NodeAddr>,
        state: &ClusterState,
        messages: &mut dyn Read,
    ) -> std::io::Result<()> {
        fs::create_dir_all(dir)?;
        let ids: BTreeSet<NodeId> = voters.keys().copied().collect();
        let membership = Membership::new(vec![ids], voters);
        let meta = SnapshotMeta {
            last_log_id: Some(last_log_id),
            last_membership: StoredMembership::new(Some(last_log_id), membership),
            snapshot_id: format!("restored-{}-{}", last_log_id.leader_id, last_log_id.index),
        };
        let current = CurrentSnapshot { data_file: data_file_name(&meta), meta };
        write_atomically(&dir.join(&current.data_file), |out| {
            write_control(out, state)?;
            std::io::copy(messages, out).map(|_| ())
        })?;
        commit_current(dir, &current)
    }
}

/// Read the control-state section at the start of a snapshot data stream (a
/// backup's state section starts the same way).
pub fn read_snapshot_control(reader: &mut impl Read) -> std::io::Result<ClusterState> {
    read_control(reader)
}

/// Write the control-state section of a snapshot data stream.
fn write_control(out: &mut dyn Write, state: &ClusterState) -> std::io::Result<()> {
    let control = serde_json::to_vec(state)?;
    out.write_all(&(control.len() as u64).to_be_bytes())?;
    out.write_all(&control)
}

fn read_current(dir: &Path) -> Result<Option<CurrentSnapshot>, Error> {
    match fs::read(dir.join(META_FILE)) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|e| Error::Storage(e.to_string()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Read the control-state section at the start of a snapshot data stream.
fn read_control(reader: &mut impl Read) -> std::io::Result<ClusterState> {
    let mut len = [0u8; 8];
    reader.read_exact(&mut len)?;
    let mut control = vec![0u8; u64::from_be_bytes(len) as usize];
    reader.read_exact(&mut control)?;
    serde_json::from_slice(&control).map_err(std::io::Error::other)
}

/// Write `bytes` to `path` atomically and durably.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut out = BufWriter::new(fs::File::create(&tmp)?);
        write(&mut out)?;
        out.flush()?;
        out.get_ref().sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Make `current` the snapshot of record and drop older data files.
fn commit_current(dir: &Path, current: &CurrentSnapshot) -> std::io::Result<()> {
    write_atomically(&dir.join(META_FILE), |out| out.write_all(&serde_json::to_vec(current)?))?;
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("snapshot-") && name.ends_with(".data") && name != current.data_file {
            let _ = fs::remove_file(dir.join(name));
        }
    }
    Ok(())
}

fn data_file_name(meta: &SnapshotMeta<NodeId, NodeAddr>) -> String {
    let safe: String = meta.snapshot_id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("snapshot-{safe}.data")
}

fn io_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(&e).into()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        // Only a copy is taken under the lock: applies wait for it, and serializing the
        // whole state there (the dedup window alone holds 100,000 outcomes) stalled every
        // write for the length of a snapshot.
        let (state, last_log_id, last_membership) = {
            let applied = self.inner.applied.read().expect("state lock poisoned");
            (applied.state.clone(), applied.last_applied, applied.membership.clone())
        };
        let snapshot_id = match last_log_id {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, rand::random::<u32>()),
            None => format!("empty-{}", rand::random::<u32>()),
        };
        let meta = SnapshotMeta { last_log_id, last_membership, snapshot_id };
        let current = CurrentSnapshot { data_file: data_file_name(&meta), meta: meta.clone() };
        let (dir, messages, written) = (self.inner.dir.clone(), self.inner.messages.clone(), current.clone());
        // Every node builds its snapshot at about the same index: at normal priority the
        // exports together starved consensus on a shared machine (`background.rs`).
        let file = background::run_at_priority(
            "snapshot",
            background::BACKGROUND_NICE,
            move || -> std::io::Result<fs::File> {
                if let Some(messages) = &messages {
                    // Everything the snapshot claims must be durable before openraft may
                    // purge the log entries it covers.
                    messages.flush()?;
                }
                let control = serde_json::to_vec(&state)?;
                drop(state);
                let data_path = dir.join(&written.data_file);
                write_atomically(&data_path, |out| {
                    out.write_all(&(control.len() as u64).to_be_bytes())?;
                    out.write_all(&control)?;
                    match &messages {
                        Some(messages) => messages.export(out),
                        None => Ok(()),
                    }
                })?;
                // Opened before it becomes current: a later snapshot may delete the file,
                // and an open handle keeps reading it.
                let file = fs::File::open(&data_path)?;
                commit_current(&dir, &written)?;
                Ok(file)
            },
        )
        .await
        .and_then(|built| built)
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(snapshot = %meta.snapshot_id, "snapshot built");
        *self.inner.current.lock().expect("snapshot lock poisoned") = Some(current);
        Ok(Snapshot { meta, snapshot: Box::new(tokio::fs::File::from_std(file)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, NodeAddr>), StorageError<NodeId>> {
        let applied = self.inner.applied.read().expect("state lock poisoned");
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<Outcome>>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
    {
        let mut responses = Vec::new();
        let mut published = Vec::new();
        let mut last_index = None;
        // The message effects of every entry of this call reach the disk as one write.
        if let Some(messages) = &self.inner.messages {
            messages.begin_group();
        }
        {
            let mut applied = self.inner.applied.write().expect("state lock poisoned");
            for entry in entries {
                let index = entry.log_id.index;
                applied.last_applied = Some(entry.log_id);
                last_index = Some(index);
                match entry.payload {
                    EntryPayload::Blank => responses.push(Vec::new()),
                    EntryPayload::Membership(membership) => {
                        applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                        responses.push(Vec::new());
                    }
                    EntryPayload::Normal(proposal) => {
                        let mut outcomes = Vec::with_capacity(proposal.requests.len());
                        let mut changes = Vec::new();
                        for request in proposal.requests {
                            let duplicate = applied.state.dedup.get(&request.id).is_some();
                            let outcome = applied.state.apply_routed(&request, |command| match &self.inner.messages {
                                Some(messages) => messages.apply(index, command),
                                None => Outcome::NoMessageStore,
                            });
                            if !duplicate {
                                changes.push((request.cmd, outcome.clone()));
                            }
                            outcomes.push(outcome);
                        }
                        if !changes.is_empty() {
                            published.push(Arc::new(AppliedEntry { index, changes }));
                        }
                        responses.push(outcomes);
                    }
                }
            }
            if let Some(messages) = &self.inner.messages {
                // Stored before the state lock is released, so a snapshot that copies the
                // state at this index finds the messages stored up to it; and before
                // anything is announced or the applied index moves, so a reader that waits
                // for the index finds them too.
                messages.end_group().map_err(io_err)?;
            }
        }
        for entry in published {
            // No subscriber is fine: nothing on this node may react to changes.
            let _ = self.inner.events.send(entry);
        }
        if let Some(index) = last_index {
            self.publish_applied(index);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError<NodeId>> {
        let path = self.inner.dir.join(format!("snapshot-receiving-{:08x}.part", rand::random::<u32>()));
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        if let Some(old) = self.inner.receiving.lock().expect("receiving lock").replace(path) {
            let _ = fs::remove_file(old);
        }
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, NodeAddr>,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError<NodeId>> {
        let received = self.inner.receiving.lock().expect("receiving lock").take();
        // The data is copied from the handle openraft gives back (normally the file
        // begun above, but any snapshot stream is accepted) into the data file.
        let mut file = snapshot.into_std().await;
        let current = CurrentSnapshot { data_file: data_file_name(meta), meta: meta.clone() };
        let (dir, messages, target) = (self.inner.dir.clone(), self.inner.messages.clone(), current.clone());
        let state = tokio::task::spawn_blocking(move || -> std::io::Result<ClusterState> {
            file.seek(SeekFrom::Start(0))?;
            let data_path = dir.join(&target.data_file);
            write_atomically(&data_path, |out| std::io::copy(&mut file, out).map(|_| ()))?;
            drop(file);
            if let Some(received) = received {
                let _ = fs::remove_file(received);
            }
            let mut reader = BufReader::new(fs::File::open(&data_path)?);
            let state = read_control(&mut reader)?;
            if let Some(messages) = &messages {
                messages.import(&mut reader)?;
                messages.flush()?;
            }
            commit_current(&dir, &target)?;
            Ok(state)
        })
        .await
        .map_err(io_err)?
        .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        {
            let mut applied = self.inner.applied.write().expect("state lock poisoned");
            applied.state = state;
            applied.last_applied = meta.last_log_id;
            applied.membership = meta.last_membership.clone();
        }
        *self.inner.current.lock().expect("snapshot lock poisoned") = Some(current);
        tracing::info!(snapshot = %meta.snapshot_id, "snapshot installed");
        if let Some(id) = meta.last_log_id {
            self.publish_applied(id.index);
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        // A snapshot built or installed meanwhile replaces the data file: look again.
        for _ in 0..3 {
            let current = self.inner.current.lock().expect("snapshot lock poisoned").clone();
            let Some(current) = current else { return Ok(None) };
            match tokio::fs::File::open(self.inner.dir.join(&current.data_file)).await {
                Ok(file) => return Ok(Some(Snapshot { meta: current.meta, snapshot: Box::new(file) })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageIOError::read_snapshot(Some(current.meta.signature()), &e).into()),
            }
        }
        Err(StorageIOError::read_snapshot(None, &Error::Storage("snapshot data file keeps changing".into())).into())
    }
}
