//! What a restored control state keeps and what it drops (docs/operations.md
//! "Backup and restore"). A restore lays out a new cluster offline, before any node
//! runs, so this is not a replicated command: it prepares the snapshot every new node
//! starts from, identically on each.

use super::{ClusterState, Dedup, Presence, Sessions};
use crate::types::NodeId;

impl ClusterState {
    /// Make a backed-up state the starting state of a new cluster made of `nodes`:
    /// - presence is cleared: no socket of the old cluster exists in the new one;
    /// - sessions are invalidated: every user logs in again (the new cluster signs
    ///   with a new JWT key, and a backup file must not carry usable logins);
    /// - no node is down, and the deduplication memory (request ids of the old
    ///   cluster's clients) is dropped;
    /// - every file is held by every new node (the restore copies the bytes to each).
    ///
    /// Users, roles and sanctions, rooms and participants, file metadata and the audit
    /// log are kept as they were.
    pub fn prepare_restore(&mut self, nodes: &[NodeId]) {
        self.presence = Presence::default();
        self.sessions = Sessions::default();
        self.down_nodes.clear();
        self.dedup = Dedup::default();
        self.files.held_by_all(nodes);
    }
}
