//! Wire types of the cluster listener, shared by the node (server side), the
//! operator CLI and the tests (client side).
//!
//! Every request carries the cluster secret in the [`SECRET_HEADER`] header; the
//! listener answers 401 to any request without it. Paths:
//!
//! | method | path | body -> answer |
//! |---|---|---|
//! | POST | `/raft/append`, `/raft/vote`, `/raft/snapshot` | openraft RPCs (JSON) |
//! | POST | `/cluster/write` | [`Proposal`] -> [`WriteAck`] (leader only; 421 elsewhere) |
//! | GET  | `/cluster/applied?min=N&wait_ms=M` | -> [`AppliedIndex`] once applied >= N or after M ms |
//! | GET  | `/cluster/status` | -> [`NodeStatus`] |
//! | POST | `/cluster/fanout` | socket events for this node's sockets (chat-node's `fanout`) |
//! | GET, PUT, DELETE | `/cluster/blobs/{name}` | one node's copy of a file (chat-node's blob store) |
//! | POST | `/admin/init` | [`InitRequest`] -> [`AdminOk`] (bootstrap the first voters) |
//! | POST | `/admin/add-learner` | [`AddLearnerRequest`] -> [`AdminOk`] |
//! | POST | `/admin/promote` | [`NodeRequest`] -> [`AdminOk`] |
//! | POST | `/admin/remove` | [`NodeRequest`] -> [`AdminOk`] |
//! | POST | `/admin/propose` | [`ProposeRequest`] -> [`ProposeResponse`] |
//! | GET  | `/admin/state?local=true` | -> [`crate::ClusterState`] (fresh read unless `local`) |
//! | POST | `/admin/fault` | [`FaultRequest`] -> [`AdminOk`] |
//! | POST | `/admin/snapshot` | -> [`AdminOk`] once a snapshot is built |
//! | GET  | `/admin/backup` | -> a backup file, streamed (leader only; 421 elsewhere; format in [`crate::backup`]) |
//! | POST | `/admin/transfer-leader` | [`TransferRequest`] -> [`Handover`] (forwarded to the leader) |
//! | POST | `/admin/campaign` | -> [`AdminOk`] once this voter started an election (a transfer's second half) |
//! | POST | `/admin/bench` | [`BenchRequest`] -> [`BenchReport`] |
//! | POST | `/admin/drain` | [`DrainRequest`] -> [`DrainState`] (this node; chat-node's `drain`) |
//!
//! Errors come back as a non-2xx status with an [`ErrorBody`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Command, Outcome};
use crate::types::{NodeAddr, NodeId};

/// Header that carries the cluster secret.
pub const SECRET_HEADER: &str = "x-cluster-secret";
/// Header naming the sending node on Raft RPCs (used by fault injection).
pub const FROM_HEADER: &str = "x-from-node";

/// Answer of `/cluster/write`: the log index the batch was committed at and one
/// outcome per request, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteAck {
    pub index: u64,
    pub outcomes: Vec<Outcome>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct AppliedIndex {
    pub applied: u64,
}

/// A member's role in the Raft membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Voter,
    Learner,
}

/// Raft server state as seen by one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    Leader,
    Follower,
    Learner,
    Candidate,
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    pub role: MemberRole,
    pub public: String,
    pub cluster: String,
}

/// What one node knows about itself and the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    /// This node's role in the membership it knows; `None` before it joined one.
    pub role: Option<MemberRole>,
    pub state: ServerState,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: u64,
    pub last_applied: u64,
    pub snapshot_index: u64,
    pub purged_index: u64,
    /// Within its read lease and caught up: authenticated reads are served.
    pub fresh: bool,
    /// What `/api/health` reports: fresh, or stale only briefly (an election).
    pub ready: bool,
    pub public: String,
    pub cluster: String,
    /// The membership this node knows, voters first.
    pub members: Vec<Member>,
    /// Whether a fault-injection isolation is active on this node.
    #[serde(default)]
    pub isolated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitRequest {
    pub voters: BTreeMap<NodeId, NodeAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddLearnerRequest {
    pub id: NodeId,
    pub addr: NodeAddr,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct NodeRequest {
    pub id: NodeId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeRequest {
    pub command: Command,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeResponse {
    pub outcome: Outcome,
    pub index: u64,
}

/// Network fault injection on one node. `isolated: true` drops every Raft RPC and
/// forwarded write between this node and its peers, in both directions, until it is
/// set back to false. With `clients: true` the public listeners also refuse every client
/// request (503) and the node closes its open sockets.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct FaultRequest {
    pub isolated: bool,
    #[serde(default)]
    pub clients: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminOk {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Hand leadership to `to`, or to the most up-to-date other voter.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct TransferRequest {
    #[serde(default)]
    pub to: Option<NodeId>,
}

/// Drain this node of client sockets (`drain: true`) or take sockets again (`false`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct DrainRequest {
    pub drain: bool,
}

/// A node's drain state after a [`DrainRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainState {
    pub node: NodeId,
    pub draining: bool,
    /// Client sockets this node held when the request arrived (asked to move when draining).
    pub sockets: usize,
}

/// A completed leadership transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    pub from: NodeId,
    pub to: NodeId,
    /// From closing the old leader's write gate to the old leader seeing the new one lead.
    pub took_ms: u64,
}

/// Run `proposers` concurrent writers inside the node for `duration_ms`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct BenchRequest {
    pub proposers: usize,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub commits: u64,
    pub failures: u64,
    pub elapsed_ms: u64,
    pub commits_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Error answer of the cluster listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    /// Set when the request must go to the leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<NodeId>,
}
