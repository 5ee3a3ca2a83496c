//! The openraft state-machine adapter: applies committed entries to the in-memory
//! [`ClusterState`], and persists snapshots to disk so a restarted node starts from its
//! last snapshot instead of replaying the log from index 0.
//!
//! A snapshot file is one line of JSON metadata, a newline, then the state as JSON. It is
//! written to a temporary file, synced, and renamed into place, so a crash never leaves a
//! half-written snapshot behind.

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use tokio::sync::{broadcast, watch};

use crate::command::{Command, Outcome};
use crate::state::ClusterState;
use crate::types::{NodeAddr, NodeId, TypeConfig};
use crate::Error;

const SNAPSHOT_FILE: &str = "snapshot.bin";

/// A snapshot's metadata and serialized state.
type StoredSnapshot = (SnapshotMeta<NodeId, NodeAddr>, Vec<u8>);

/// One applied log entry, as seen by subscribers (fan-out, socket notifications).
/// Requests answered from the deduplication memory are left out: they changed nothing.
#[derive(Debug, Clone)]
pub struct AppliedEntry {
    pub index: u64,
    pub changes: Vec<(Command, Outcome)>,
}

/// The state machine of one node. Cheap to clone: clones share the same state.
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    applied: RwLock<AppliedState>,
    current_snapshot: Mutex<Option<StoredSnapshot>>,
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
    /// Open the state machine kept in `dir`, starting from the snapshot there, if any.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        fs::create_dir_all(dir)?;
        let mut applied = AppliedState::default();
        let mut current_snapshot = None;
        if let Some((meta, data)) = read_snapshot_file(&dir.join(SNAPSHOT_FILE))? {
            applied.state = serde_json::from_slice(&data).map_err(|e| Error::Storage(e.to_string()))?;
            applied.last_applied = meta.last_log_id;
            applied.membership = meta.last_membership.clone();
            current_snapshot = Some((meta, data));
        }
        let index = applied.last_applied.map_or(0, |id| id.index);
        let (applied_index, _) = watch::channel(index);
        let (events, _) = broadcast::channel(4096);
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                applied: RwLock::new(applied),
                current_snapshot: Mutex::new(current_snapshot),
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

    fn snapshot_path(&self) -> PathBuf {
        self.inner.dir.join(SNAPSHOT_FILE)
    }
}

fn read_snapshot_file(path: &Path) -> Result<Option<StoredSnapshot>, Error> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let split = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| Error::Storage(format!("{}: no metadata line", path.display())))?;
    let meta = serde_json::from_slice(&bytes[..split]).map_err(|e| Error::Storage(e.to_string()))?;
    Ok(Some((meta, bytes[split + 1..].to_vec())))
}

fn write_snapshot_file(path: &Path, meta: &SnapshotMeta<NodeId, NodeAddr>, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(meta)?)?;
        file.write_all(b"\n")?;
        file.write_all(data)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn io_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(&e).into()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (data, last_log_id, last_membership) = {
            let applied = self.inner.applied.read().expect("state lock poisoned");
            let data = serde_json::to_vec(&applied.state).map_err(|e| StorageIOError::read_state_machine(&e))?;
            (data, applied.last_applied, applied.membership.clone())
        };
        let snapshot_id = match last_log_id {
            Some(id) => format!("{}-{}", id.leader_id, id.index),
            None => "empty".to_owned(),
        };
        let meta = SnapshotMeta { last_log_id, last_membership, snapshot_id };
        let path = self.snapshot_path();
        let (meta_c, data_c) = (meta.clone(), data.clone());
        tokio::task::spawn_blocking(move || write_snapshot_file(&path, &meta_c, &data_c))
            .await
            .map_err(io_err)?
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        *self.inner.current_snapshot.lock().expect("snapshot lock poisoned") = Some((meta.clone(), data.clone()));
        tracing::info!(snapshot = %meta.snapshot_id, bytes = data.len(), "snapshot built");
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
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
        {
            let mut applied = self.inner.applied.write().expect("state lock poisoned");
            for entry in entries {
                applied.last_applied = Some(entry.log_id);
                last_index = Some(entry.log_id.index);
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
                            let outcome = applied.state.apply(&request);
                            if !duplicate {
                                changes.push((request.cmd, outcome.clone()));
                            }
                            outcomes.push(outcome);
                        }
                        if !changes.is_empty() {
                            published.push(Arc::new(AppliedEntry { index: entry.log_id.index, changes }));
                        }
                        responses.push(outcomes);
                    }
                }
            }
        }
        for entry in published {
            // No subscriber is fine: nothing on this node reacts to state changes yet.
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

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, NodeAddr>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let state: ClusterState =
            serde_json::from_slice(&data).map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let path = self.snapshot_path();
        let (meta_c, data_c) = (meta.clone(), data.clone());
        tokio::task::spawn_blocking(move || write_snapshot_file(&path, &meta_c, &data_c))
            .await
            .map_err(io_err)?
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        {
            let mut applied = self.inner.applied.write().expect("state lock poisoned");
            applied.state = state;
            applied.last_applied = meta.last_log_id;
            applied.membership = meta.last_membership.clone();
        }
        *self.inner.current_snapshot.lock().expect("snapshot lock poisoned") = Some((meta.clone(), data));
        tracing::info!(snapshot = %meta.snapshot_id, "snapshot installed");
        if let Some(id) = meta.last_log_id {
            self.publish_applied(id.index);
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let current = self.inner.current_snapshot.lock().expect("snapshot lock poisoned");
        Ok(current
            .as_ref()
            .map(|(meta, data)| Snapshot { meta: meta.clone(), snapshot: Box::new(Cursor::new(data.clone())) }))
    }
}
