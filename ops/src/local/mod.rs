//! A cluster of `chat-node` processes on this machine, recorded in `DIR/cluster.json`.
//!
//! - [`layout`]: cluster.json (secrets, ids, roles, addresses, pids), atomic writes.
//! - [`process`]: finding chat-node, spawning it, signalling and stopping it.
//! - [`ports`]: free loopback ports, or fixed ones from a base port.
//! - [`up`]: `local up` — create or resume, supervise, stop ([`LocalCluster`]).
//! - `bootstrap`: wait for the nodes, init the membership once, add learners.
//! - [`restart`]: `local restart` — start one recorded node again, detached.
//! - [`stop`]: `local stop`, and stopping every node of a cluster.
//! - [`add_edge`]: record and start a new edge for `add-node`.
//! - [`lb`]: `local up --lb`, an HAProxy with health checks in front of the nodes.

pub mod add_edge;
pub(crate) mod bootstrap;
pub mod layout;
pub mod lb;
pub mod ports;
pub mod process;
pub mod restart;
pub mod stop;
pub mod up;

pub use add_edge::add_edge;
pub use layout::{ClusterLayout, LocalRole, NodeEntry, CLUSTER_FILE};
pub use process::{find_node_binary, Stopped};
pub use restart::restart;
pub use stop::{stop_all, stop_node};
pub use up::{LocalCluster, UpOptions};
