//! `chatctl backup` and `chatctl restore` (docs/operations.md "Backup and restore";
//! the file format is chat-raft's `backup` module).
//!
//! - [`take`]: stream a backup from the leader's `/admin/backup` to a file, verified
//!   before it gets its final name.
//! - [`verify`]: read a whole backup file and check it (structure, sha256).
//! - [`restore`]: verify a backup, then lay it out as a new local cluster that
//!   `chatctl local up --data-dir DIR` starts.
//! - `progress`: byte counts on stderr during long operations.

mod progress;
pub mod restore;
pub mod take;
pub mod verify;

pub use restore::{restore, RestoreSummary};
pub use take::{take, BackupSummary};
pub use verify::verify;
