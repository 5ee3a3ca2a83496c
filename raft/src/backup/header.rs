//! [`BackupHeader`]: the JSON header at the start of a backup file.

use openraft::LogId;
use serde::{Deserialize, Serialize};

use crate::state::ClusterState;
use crate::types::NodeId;

/// The version of the file layout this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Where the cluster kept its message history when the backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStoreKind {
    /// Replicated through the Raft log into sled: messages and blobs are in the file.
    Embedded,
    /// MongoDB (`--mongodb-uri`): the file holds the control state only; messages and
    /// files come from a MongoDB dump taken after the backup.
    Mongodb,
}

/// How much of each kind the backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCounts {
    pub users: u64,
    pub rooms: u64,
    /// Room participants summed over rooms.
    pub memberships: u64,
    pub sessions: u64,
    /// File metadata records (uploads and profile images).
    pub files: u64,
    pub messages: u64,
    /// File bytes carried in the backup (0 with MongoDB).
    pub blobs: u64,
}

impl BackupCounts {
    /// The control-state counts of `state`; `messages` and `blobs` are the caller's.
    pub fn of_state(state: &ClusterState) -> Self {
        Self {
            users: state.users.len() as u64,
            rooms: state.rooms.len() as u64,
            memberships: state.rooms.iter().map(|r| r.participants.len() as u64).sum(),
            sessions: state.sessions.len() as u64,
            files: state.files.len() as u64,
            messages: 0,
            blobs: 0,
        }
    }
}

/// What a backup says about itself; written before the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    pub format_version: u32,
    /// The committed (and applied) log index the backup reflects.
    pub index: u64,
    /// The term of the entry at `index`.
    pub term: u64,
    /// The log id at `index` (`None` for a cluster that never applied an entry).
    pub last_log_id: Option<LogId<NodeId>>,
    /// The leader that produced the backup.
    pub leader: NodeId,
    /// Unix milliseconds when the leader took the backup.
    pub created_at_ms: u64,
    pub message_store: MessageStoreKind,
    pub counts: BackupCounts,
}
