//! chat-ops: the operator's side of the chat cluster, behind the `chatctl` binary
//! and reused by the whole-system tests.
//!
//! - [`cli`]: the command line (clap) and its dispatch, [`cli::Cli::run`].
//! - [`client`]: a chat user's REST and Socket.IO client (bench and drill load).
//! - [`local`]: a cluster of `chat-node` processes on this machine, recorded in
//!   `DIR/cluster.json` ([`local::LocalCluster`], restart, stop, add an edge).
//! - [`target`]: which cluster a command talks to (`--data-dir` or `--cluster`).
//! - [`status`]: ask every node at once and merge the answers; [`watch`]: the same
//!   live, with message counters from `/metrics` and alert lines (`status --watch`).
//! - [`backup`]: `chatctl backup` (a verified file streamed from the leader) and
//!   `chatctl restore` (a new local cluster laid out from one).
//! - [`membership`]: add-node, promote, remove-node, transfer-leader.
//! - [`roles`]: `admin grant` and `admin revoke`.
//! - [`raft_bench`]: the leader's built-in Raft benchmark.
//! - [`drill`]: failover drills with a history checker (`chatctl drill`).
//! - [`bench`]: `chatctl bench`, the load benchmark of simulated chat users.
//! - [`aws`]: `chatctl aws` (plan, up, status, drill, down on EC2; feature `aws`).
//! - [`duration`], [`table`]: durations on the command line, plain-text tables.
//!
//! Starting a local cluster from a test:
//!
//! ```no_run
//! # async fn demo() -> Result<(), chat_ops::Error> {
//! use chat_ops::local::{LocalCluster, UpOptions};
//! let cluster = LocalCluster::start(UpOptions::new("/tmp/cluster", 3, 1)).await?;
//! let layout = cluster.layout()?; // cluster.json: secrets, addresses, pids
//! let status = cluster.client().status(&layout.nodes[0].cluster).await;
//! cluster.stop().await?;
//! # let _ = status; Ok(()) }
//! ```

pub mod aws;
pub mod backup;
pub mod bench;
pub mod cli;
pub mod client;
pub mod drill;
pub mod duration;
mod error;
mod json_report;
pub mod local;
pub mod membership;
pub mod raft_bench;
pub mod roles;
pub mod status;
pub mod table;
pub mod target;
pub mod watch;

pub use error::Error;
