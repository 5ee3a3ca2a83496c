//! The openraft type configuration shared by every crate of the cluster.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::command::{Outcome, Proposal};

/// Node ids start at 1; 0 is never a member.
pub type NodeId = u64;

/// Where a member can be reached. Stored in the Raft membership so every node, and
/// the operator CLI, can find every other node from the replicated state alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    /// Public listener (`host:port`): REST and Socket.IO for clients.
    pub public: String,
    /// Cluster listener (`host:port`): Raft RPCs, forwarding and admin.
    pub cluster: String,
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "public={} cluster={}", self.public, self.cluster)
    }
}

openraft::declare_raft_types!(
    /// The chat cluster's Raft types: one log entry carries a batch of requests.
    pub TypeConfig:
        D = Proposal,
        R = Vec<Outcome>,
        NodeId = NodeId,
        Node = NodeAddr,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft instance type of the cluster.
pub type Raft = openraft::Raft<TypeConfig>;
