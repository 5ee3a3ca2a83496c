//! chat-tests: whole-system tests of the chat cluster.
//!
//! [`TestCluster`] starts real `chat-node` processes on loopback (port 0, temporary
//! data directories), kills them with SIGKILL, restarts them on the same ports and
//! data, isolates one from its peers through the node's network fault injection, and
//! waits for conditions with timeouts instead of sleeping and hoping. [`mongo`] starts
//! a MongoDB-compatible server for clusters configured with one; [`protocol_suite`]
//! runs the JS wire-protocol conformance suite against a running cluster; [`redis`]
//! starts a `redis-server` for clusters configured with one; [`local_up`] runs the
//! real `chatctl local up` for the tests of chatctl's own commands; [`socket_events`]
//! waits for one Socket.IO event on the bench client's sockets; [`node_script`] runs a
//! Node.js client script against the cluster over a line protocol; [`public_http`]
//! sends raw requests to a node's public listener; [`inspect`] reads a node's memory and
//! blob files from outside.

mod cluster;
pub mod fixtures;
pub mod inspect;
pub mod local_up;
pub mod mongo;
pub mod node_script;
pub mod protocol_suite;
pub mod public_http;
pub mod redis;
pub mod socket_events;
mod wait;

pub use cluster::{NodeSpec, TestCluster, TestNode};
pub use wait::{wait_until, WaitError};
