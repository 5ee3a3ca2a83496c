//! The audit log of admin actions (protocol §8.4): who did what to whom, why and when,
//! in apply order. Bounded: the oldest entries are dropped past [`AUDIT_CAPACITY`], so
//! snapshots and memory stay small however long the cluster runs.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::command::Millis;

/// Entries kept; older ones are dropped (their ids keep counting).
pub const AUDIT_CAPACITY: usize = 10_000;

/// What an admin did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    SetRole,
    Ban,
    Unban,
    Mute,
    Unmute,
    Logout,
    DeleteUser,
    DeleteMessage,
    DeleteRoom,
}

/// What kind of thing an action was done to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditTarget {
    /// Entries written before messages and rooms could be deleted are all of users.
    #[default]
    User,
    Message,
    Room,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, ... in apply order, the same on every node.
    pub id: u64,
    /// The proposer's clock when the action was requested.
    pub at: Millis,
    /// The acting admin's id, or `operator` / `config`.
    pub actor: String,
    /// The actor's email when the action was applied (empty for non-users).
    pub actor_email: String,
    pub action: AuditAction,
    #[serde(default)]
    pub target_kind: AuditTarget,
    /// The id of the user, message or room acted on.
    pub target: String,
    /// A user target's email when the action was applied (empty for other targets).
    pub target_email: String,
    pub reason: String,
    /// Role changes: the new role; bans and mutes: the end time in ms or empty;
    /// message deletions: the message's room id; room deletions: the room's name.
    pub detail: String,
}

/// The newest [`AUDIT_CAPACITY`] entries, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditLog {
    entries: VecDeque<AuditEntry>,
    /// Id of the next entry.
    next_id: u64,
}

impl AuditLog {
    /// Total entries ever recorded (kept or dropped).
    pub fn recorded(&self) -> u64 {
        self.next_id.saturating_sub(1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Page `page` (0-based) of `size` entries, newest first, without walking the
    /// entries before it.
    pub fn page_newest_first(&self, page: usize, size: usize) -> impl Iterator<Item = &AuditEntry> {
        let len = self.entries.len();
        let skip = page.saturating_mul(size).min(len);
        let newest = len - skip; // exclusive end, counting from the oldest
        let oldest = newest.saturating_sub(size);
        self.entries.range(oldest..newest).rev()
    }

    /// Whether a kept entry records `action` on `target`.
    pub fn contains(&self, action: AuditAction, target: &str) -> bool {
        self.entries.iter().rev().any(|e| e.action == action && e.target == target)
    }

    /// Append an entry; `id` is assigned here.
    pub(super) fn record(&mut self, mut entry: AuditEntry) {
        self.next_id = self.next_id.max(1);
        entry.id = self.next_id;
        self.next_id += 1;
        self.entries.push_back(entry);
        while self.entries.len() > AUDIT_CAPACITY {
            self.entries.pop_front();
        }
    }
}
