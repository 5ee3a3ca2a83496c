//! Backups of a cluster (`chatctl backup` / `chatctl restore`, docs/operations.md
//! "Backup and restore"): one file holding the control state at a committed index and,
//! in embedded mode, the message history and the file bytes up to that index.
//!
//! - `header.rs`: [`BackupHeader`], what a backup says about itself (index, term,
//!   counts), readable without reading the rest;
//! - `format.rs`: the file layout, written by [`BackupWriter`] while streaming and
//!   verified by [`BackupReader`] (framing, sha256 over everything);
//! - `error.rs`: [`BackupFormatError`], why a file is refused.
//!
//! The state section is a Raft snapshot data stream exactly as
//! `state_machine.rs` writes it (control state, then the message store's export), so
//! a restore installs it as each new node's snapshot: no second serializer.

mod error;
mod format;
mod header;

pub use error::BackupFormatError;
pub use format::{BackupReader, BackupWriter, SectionReader, SectionWriter, MAGIC, TRAILER_MAGIC};
pub use header::{BackupCounts, BackupHeader, MessageStoreKind, FORMAT_VERSION};
