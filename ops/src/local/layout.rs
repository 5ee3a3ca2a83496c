//! `DIR/cluster.json`: the record of a local cluster (secrets, and each node's id,
//! role, addresses, data directory and current pid).
//!
//! Several processes write this file (`local up`, `local restart`, `add-node`), so
//! every change is a read-modify-write of the file as it is on disk right now
//! ([`ClusterLayout::update`]), and every write is atomic (temporary file, then
//! rename): a reader never sees half a file, and a pid written by another command is
//! never overwritten with a stale copy.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chat_raft::{NodeAddr, NodeId};
use serde::{Deserialize, Serialize};

use crate::Error;

/// File name of the cluster record inside the data directory.
pub const CLUSTER_FILE: &str = "cluster.json";

/// What a local node was started as. Raft membership decides what it really is
/// (an edge can be promoted); this is what `local up` gives it on a fresh start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalRole {
    Voter,
    Edge,
}

impl LocalRole {
    /// The value of chat-node's `--role` flag.
    pub fn as_flag(self) -> &'static str {
        match self {
            LocalRole::Voter => "voter",
            LocalRole::Edge => "edge",
        }
    }
}

/// One node of a local cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub id: NodeId,
    pub role: LocalRole,
    /// The process last started for this node; it may have exited since.
    pub pid: Option<u32>,
    pub public: String,
    pub cluster: String,
    pub data_dir: PathBuf,
    /// Taken out of the membership with `remove-node`: never started or re-added again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

impl NodeEntry {
    pub fn addr(&self) -> NodeAddr {
        NodeAddr { public: self.public.clone(), cluster: self.cluster.clone() }
    }

    /// Where the node's stdout and stderr are appended.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("node.log")
    }
}

/// The whole of `cluster.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterLayout {
    /// Cluster secret (`CHAT_CLUSTER_SECRET` of every node).
    pub secret: String,
    /// JWT signing key (`CHAT_JWT_SECRET` of every node).
    pub jwt_secret: String,
    pub nodes: Vec<NodeEntry>,
    /// The HAProxy of `local up --lb`, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb: Option<super::lb::LbEntry>,
    /// `--trusted-proxy-hops` of every node: 1 behind `local up --lb`'s HAProxy (which
    /// appends the client's address to `X-Forwarded-For`), else 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub trusted_proxy_hops: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ClusterLayout {
    /// Path of the cluster file in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(CLUSTER_FILE)
    }

    /// Read `dir/cluster.json`; [`Error::NoCluster`] if there is none.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        Self::load_if_exists(dir)?.ok_or_else(|| Error::NoCluster { dir: dir.to_path_buf() })
    }

    /// Read `dir/cluster.json`, or `None` if the directory holds no cluster yet.
    pub fn load_if_exists(dir: &Path) -> Result<Option<Self>, Error> {
        let path = Self::path(dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|source| Error::Layout { path, source })
    }

    /// Write `dir/cluster.json` atomically: a reader sees the old file or the new one.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        let path = Self::path(dir);
        // Unique per process and per write, so concurrent writers never share a temporary file.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let n = WRITES.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{CLUSTER_FILE}.{}.{n}.tmp", std::process::id()));
        let mut json = serde_json::to_vec_pretty(self).expect("the layout always serializes");
        json.push(b'\n');
        write_synced(&tmp, &json).map_err(Error::io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(Error::io(&path))
    }

    /// Apply `change` to the file as it is on disk now and write it back.
    pub fn update<T>(dir: &Path, change: impl FnOnce(&mut ClusterLayout) -> Result<T, Error>) -> Result<T, Error> {
        let mut layout = Self::load(dir)?;
        let out = change(&mut layout)?;
        layout.save(dir)?;
        Ok(out)
    }

    /// Record `pid` as node `id`'s current process, keeping every other entry as on disk.
    pub fn set_pid(dir: &Path, id: NodeId, pid: u32) -> Result<(), Error> {
        Self::update(dir, |layout| {
            layout.node_mut(id, dir)?.pid = Some(pid);
            Ok(())
        })
    }

    pub fn node(&self, id: NodeId) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Node `id`, or [`Error::UnknownNode`] naming the file of `dir`.
    pub fn node_in(&self, id: NodeId, dir: &Path) -> Result<&NodeEntry, Error> {
        self.node(id).ok_or_else(|| Error::UnknownNode { id, path: Self::path(dir) })
    }

    pub fn node_mut(&mut self, id: NodeId, dir: &Path) -> Result<&mut NodeEntry, Error> {
        self.nodes.iter_mut().find(|n| n.id == id).ok_or_else(|| Error::UnknownNode { id, path: Self::path(dir) })
    }

    /// Nodes still meant to be part of the cluster (not removed).
    pub fn active(&self) -> impl Iterator<Item = &NodeEntry> {
        self.nodes.iter().filter(|n| !n.removed)
    }

    /// Active nodes started as `role`.
    pub fn with_role(&self, role: LocalRole) -> impl Iterator<Item = &NodeEntry> {
        self.active().filter(move |n| n.role == role)
    }
}

/// Owner-only (0600): the file holds the cluster and JWT secrets.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: NodeId, role: LocalRole, pid: Option<u32>) -> NodeEntry {
        NodeEntry {
            id,
            role,
            pid,
            public: format!("127.0.0.1:{}", 5000 + id),
            cluster: format!("127.0.0.1:{}", 7000 + id),
            data_dir: PathBuf::from(format!("/data/node-{id}")),
            removed: false,
        }
    }

    fn layout() -> ClusterLayout {
        ClusterLayout {
            secret: "s".repeat(64),
            jwt_secret: "j".repeat(64),
            nodes: vec![
                entry(1, LocalRole::Voter, Some(100)),
                entry(2, LocalRole::Voter, None),
                entry(3, LocalRole::Edge, Some(300)),
            ],
            lb: None,
            trusted_proxy_hops: 0,
        }
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        layout().save(dir.path()).unwrap();
        assert_eq!(ClusterLayout::load(dir.path()).unwrap(), layout());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(CLUSTER_FILE)], "no temporary file is left behind");
    }

    #[test]
    fn only_the_owner_may_read_the_secrets() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        layout().save(dir.path()).unwrap();
        let mode = std::fs::metadata(ClusterLayout::path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "cluster.json mode {mode:o}");
    }

    #[test]
    fn file_has_the_documented_shape() {
        let dir = tempfile::tempdir().unwrap();
        layout().save(dir.path()).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ClusterLayout::path(dir.path())).unwrap()).unwrap();
        assert_eq!(json["secret"], "s".repeat(64));
        assert_eq!(json["jwt_secret"], "j".repeat(64));
        assert_eq!(
            json["nodes"][0],
            serde_json::json!({
                "id": 1, "role": "voter", "pid": 100,
                "public": "127.0.0.1:5001", "cluster": "127.0.0.1:7001", "data_dir": "/data/node-1"
            })
        );
        assert_eq!(json["nodes"][1]["pid"], serde_json::Value::Null);
        assert_eq!(json["nodes"][2]["role"], "edge");
    }

    #[test]
    fn set_pid_keeps_every_other_entry_as_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        layout().save(dir.path()).unwrap();
        // Another command records node 3's new pid after we read the file.
        let stale = ClusterLayout::load(dir.path()).unwrap();
        ClusterLayout::set_pid(dir.path(), 3, 333).unwrap();
        ClusterLayout::set_pid(dir.path(), 2, 222).unwrap();

        let now = ClusterLayout::load(dir.path()).unwrap();
        assert_eq!(now.node(1).unwrap().pid, Some(100));
        assert_eq!(now.node(2).unwrap().pid, Some(222));
        assert_eq!(now.node(3).unwrap().pid, Some(333), "a pid written by another command survives");
        assert_eq!(now.secret, stale.secret);
        assert_eq!(now.nodes.len(), 3);
    }

    #[test]
    fn set_pid_of_an_unknown_node_fails_and_leaves_the_file() {
        let dir = tempfile::tempdir().unwrap();
        layout().save(dir.path()).unwrap();
        let err = ClusterLayout::set_pid(dir.path(), 9, 1).unwrap_err();
        assert!(matches!(err, Error::UnknownNode { id: 9, .. }), "{err}");
        assert_eq!(ClusterLayout::load(dir.path()).unwrap(), layout());
    }

    #[test]
    fn missing_file_is_no_cluster_and_garbage_is_a_layout_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ClusterLayout::load_if_exists(dir.path()).unwrap().is_none());
        assert!(matches!(ClusterLayout::load(dir.path()), Err(Error::NoCluster { .. })));
        std::fs::write(ClusterLayout::path(dir.path()), b"{not json").unwrap();
        assert!(matches!(ClusterLayout::load(dir.path()), Err(Error::Layout { .. })));
    }

    #[test]
    fn removed_nodes_are_not_active() {
        let mut l = layout();
        l.nodes[1].removed = true;
        let active: Vec<_> = l.active().map(|n| n.id).collect();
        assert_eq!(active, vec![1, 3]);
        let voters: Vec<_> = l.with_role(LocalRole::Voter).map(|n| n.id).collect();
        assert_eq!(voters, vec![1]);
    }
}
