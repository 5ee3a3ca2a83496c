//! chat-raft: the replicated control plane of the chat cluster.
//!
//! It owns the command set ([`command`]), the pure, deterministic state machine that
//! applies it ([`state::ClusterState`]), and the openraft wiring around it: the
//! state-machine adapter with on-disk snapshots ([`state_machine`]), the Raft network
//! over the cluster listener ([`network`]), the HTTP client for that listener
//! ([`client`]) and the [`Cluster`] handle that proposes with leader forwarding and
//! serves reads that behave as if linearizable ([`cluster`]).
//!
//! Nothing here knows about Socket.IO, MongoDB or Redis; the node crate wires it up.

pub mod api;
mod append_budget;
mod apply_wait;
pub mod background;
pub mod backup;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod contact;
mod error;
mod liveness;
pub mod messages;
pub mod network;
mod proposer;
pub mod state;
pub mod state_machine;
mod types;

pub use cluster::Cluster;
pub use command::{Command, Outcome, Proposal, Request, RequestId, Stamp};
pub use config::RaftSettings;
pub use error::Error;
pub use state::ClusterState;
pub use state_machine::StateMachineStore;
pub use types::{NodeAddr, NodeId, Raft, TypeConfig};
