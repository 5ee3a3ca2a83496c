//! `chatctl restore`: verify a backup file completely, then lay it out as a new local
//! cluster of N voters in an empty directory, which `chatctl local up --data-dir DIR`
//! starts with no other flag.
//!
//! Every new node gets the same restored snapshot (`state/`, chat-raft's
//! `StateMachineStore::seed`): the control state prepared by
//! `ClusterState::prepare_restore` (presence cleared, sessions invalidated, files held
//! by every node) followed by the backup's message stream, which each node imports
//! into its empty message store when it first opens; and a copy of every file's bytes
//! in `blobs/`. The membership in the snapshot names the new nodes, so `local up`
//! finds the cluster initialized and only waits for a leader.
//!
//! Nothing is created before the file is verified, and `cluster.json` is written
//! last: a restore that fails part-way removes what it wrote and never leaves a
//! directory that looks like a cluster.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use chat_raft::backup::{BackupCounts, BackupFormatError, BackupHeader, BackupReader, MessageStoreKind};
use chat_raft::state_machine::read_snapshot_control;
use chat_raft::{NodeAddr, NodeId, StateMachineStore};
use serde::Serialize;

use super::progress::{Counted, Progress};
use super::verify;
use crate::local::layout::NodeEntry;
use crate::local::up::{fresh_layout, UpOptions};
use crate::Error;

/// Where each node keeps its state machine and its file copies (chat-node's layout
/// of `--data-dir`).
const STATE_DIR: &str = "state";
const BLOBS_DIR: &str = "blobs";

/// What `chatctl restore --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreSummary {
    pub data_dir: PathBuf,
    pub nodes: u64,
    pub index: u64,
    pub term: u64,
    pub message_store: MessageStoreKind,
    pub counts: BackupCounts,
    /// Size of the backup file in bytes.
    pub bytes: u64,
}

/// Restore the backup `from` into a new cluster of `nodes` voters in `data_dir`,
/// which must be absent or empty.
pub fn restore(from: &Path, data_dir: &Path, nodes: u64) -> Result<RestoreSummary, Error> {
    if nodes == 0 {
        return Err(Error::Usage("--nodes must be at least 1".into()));
    }
    check_empty(data_dir)?;
    let (header, bytes) = verify(from)?;
    if header.last_log_id.is_none() {
        return Err(Error::Usage(format!("{}: the backup holds no committed state", from.display())));
    }
    let existed = data_dir.exists();
    fs::create_dir_all(data_dir).map_err(Error::io(data_dir))?;
    let laid_out = fs::canonicalize(data_dir)
        .map_err(Error::io(data_dir))
        .and_then(|dir| lay_out(from, &dir, nodes, &header).map(|_| dir));
    let dir = match laid_out {
        Ok(dir) => dir,
        Err(e) => {
            undo(data_dir, existed);
            return Err(e);
        }
    };
    Ok(RestoreSummary {
        data_dir: dir,
        nodes,
        index: header.index,
        term: header.term,
        message_store: header.message_store,
        counts: header.counts,
        bytes,
    })
}

/// The target must hold nothing: a restore never mixes with an existing cluster.
fn check_empty(dir: &Path) -> Result<(), Error> {
    let empty = match fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(Error::Io { path: dir.to_path_buf(), source: e }),
    };
    if !empty {
        return Err(Error::Usage(format!("{} is not empty; restore into a new or empty directory", dir.display())));
    }
    Ok(())
}

/// Remove what a failed restore wrote.
fn undo(dir: &Path, existed: bool) {
    let cleaned = if existed {
        fs::read_dir(dir).and_then(|entries| {
            entries.flatten().try_for_each(|e| {
                let path = e.path();
                if path.is_dir() {
                    fs::remove_dir_all(path)
                } else {
                    fs::remove_file(path)
                }
            })
        })
    } else {
        fs::remove_dir_all(dir)
    };
    if let Err(e) = cleaned {
        tracing::error!(dir = %dir.display(), error = %e, "could not remove a failed restore");
    }
}

fn lay_out(from: &Path, dir: &Path, nodes: u64, header: &BackupHeader) -> Result<(), Error> {
    let last_log_id = header
        .last_log_id
        .ok_or_else(|| Error::Usage(format!("{}: the backup holds no committed state", from.display())))?;
    let layout = fresh_layout(dir, &UpOptions::new(dir, nodes, 0))?;
    let voters: BTreeMap<NodeId, NodeAddr> = layout.nodes.iter().map(|n| (n.id, n.addr())).collect();
    let ids: Vec<NodeId> = voters.keys().copied().collect();
    let (first, others) = layout.nodes.split_first().expect("a restored cluster has at least one node");

    let file = File::open(from).map_err(Error::io(from))?;
    let total = file.metadata().map_err(Error::io(from))?.len();
    let input = BufReader::new(Counted { inner: file, progress: Progress::new("restoring", Some(total)) });
    let bad = |source: BackupFormatError| Error::BadBackup { path: from.to_path_buf(), source };
    let (mut reader, again) = BackupReader::open(input).map_err(bad)?;
    if &again != header {
        return Err(Error::Usage(format!("{} changed while it was being restored", from.display())));
    }

    let state_dir = first.data_dir.join(STATE_DIR);
    let mut section = reader.state_section();
    let mut state = read_snapshot_control(&mut section).map_err(|e| bad(BackupFormatError::Corrupt(e.to_string())))?;
    state.prepare_restore(&ids);
    StateMachineStore::seed(&state_dir, last_log_id, voters, &state, &mut section).map_err(Error::io(&state_dir))?;
    section.skip().map_err(bad)?;
    drop(state);

    let blobs_dir = first.data_dir.join(BLOBS_DIR);
    fs::create_dir_all(blobs_dir.join("profiles")).map_err(Error::io(&blobs_dir))?;
    while let Some((name, size)) = reader.next_blob().map_err(bad)? {
        let path = blob_path(&blobs_dir, &name).map_err(bad)?;
        let mut out = BufWriter::new(File::create(&path).map_err(Error::io(&path))?);
        reader.blob_bytes(size, &mut out).map_err(bad)?;
        out.flush().map_err(Error::io(&path))?;
    }
    reader.finish().map_err(bad)?;

    for node in others {
        copy_node(first, node)?;
    }
    // Last: until now the directory does not look like a cluster.
    layout.save(dir)
}

/// The path of blob `name` under `root`, refusing any name that could leave it
/// (server-generated names are one file, or one file under `profiles/`).
fn blob_path(root: &Path, name: &str) -> Result<PathBuf, BackupFormatError> {
    let parts: Vec<Component> = Path::new(name).components().collect();
    let plain = |c: &Component| matches!(c, Component::Normal(s) if !s.to_string_lossy().starts_with('.'));
    let ok = match parts.as_slice() {
        [file] => plain(file),
        [Component::Normal(dir), file] => *dir == "profiles" && plain(file),
        _ => false,
    };
    if !ok {
        return Err(BackupFormatError::Corrupt(format!("a file name that is not a stored name: {name:?}")));
    }
    Ok(root.join(name))
}

/// Give `node` the same state and file copies as `first`.
fn copy_node(first: &NodeEntry, node: &NodeEntry) -> Result<(), Error> {
    for sub in [STATE_DIR, BLOBS_DIR] {
        copy_tree(&first.data_dir.join(sub), &node.data_dir.join(sub))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    fs::create_dir_all(to).map_err(Error::io(to))?;
    for entry in fs::read_dir(from).map_err(Error::io(from))? {
        let entry = entry.map_err(Error::io(from))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            fs::copy(&source, &target).map_err(Error::io(&target))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stored_names_become_paths() {
        let root = Path::new("/r");
        assert_eq!(blob_path(root, "a1.png").unwrap(), Path::new("/r/a1.png"));
        assert_eq!(blob_path(root, "profiles/u.jpg").unwrap(), Path::new("/r/profiles/u.jpg"));
        for bad in ["../x", "/etc/passwd", "a/b", "profiles/../x", ".tmp-1", "profiles/a/b", ""] {
            assert!(blob_path(root, bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_directory_with_anything_in_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_empty(dir.path()).is_ok());
        assert!(check_empty(&dir.path().join("absent")).is_ok());
        fs::write(dir.path().join("x"), b"").unwrap();
        assert!(matches!(check_empty(dir.path()), Err(Error::Usage(_))));
    }
}
