//! The one error type of chat-ops. Every variant reads as a complete sentence for
//! the operator: what failed, on which node or file, and what to do next.

use std::path::PathBuf;
use std::time::Duration;

use chat_raft::NodeId;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// `cluster.json` exists but cannot be decoded.
    #[error("{}: not a valid cluster file: {source}", path.display())]
    Layout { path: PathBuf, source: serde_json::Error },

    /// The data directory holds no cluster.
    #[error("no local cluster in {}: {} not found (start one with `chatctl local up`)", dir.display(), dir.join("cluster.json").display())]
    NoCluster { dir: PathBuf },

    /// The `chat-node` executable could not be found.
    #[error("chat-node binary not found (looked in {searched}); build it with `cargo build -p chat-node` or pass --node-bin")]
    NodeBinaryNotFound { searched: String },

    /// A node id that the cluster file does not list.
    #[error("node {id} is not listed in {}", path.display())]
    UnknownNode { id: NodeId, path: PathBuf },

    /// A node id that is already taken (ids are never reused).
    #[error("node {id} already exists in {} (node ids are never reused)", path.display())]
    DuplicateNode { id: NodeId, path: PathBuf },

    /// `local up` on a directory whose nodes are running already.
    #[error("the cluster in {} is already running (node {id}, pid {pid}); stop the other `chatctl local up` first", dir.display())]
    ClusterRunning { dir: PathBuf, id: NodeId, pid: u32 },

    /// The node's recorded process is still running.
    #[error("node {id} is still running (pid {pid}); stop it first with `chatctl local stop --node {id}`")]
    AlreadyRunning { id: NodeId, pid: u32 },

    /// The node's process is not running, so there is nothing to stop.
    #[error("node {id} is not running")]
    NotRunning { id: NodeId },

    /// A node process exited before it became ready.
    #[error("node {id} exited ({status}) before it answered; see {}", log.display())]
    NodeExited { id: NodeId, status: String, log: PathBuf },

    /// Spawning or signalling a process failed.
    #[error("{what}: {source}")]
    Process { what: String, source: std::io::Error },

    /// A condition was not reached within its deadline.
    #[error("timed out after {}s waiting for {what}", after.as_secs_f64())]
    Timeout { what: String, after: Duration },

    /// A node answered a cluster API call with an error, or could not be reached.
    #[error("node {node}: {source}")]
    Api { node: String, source: chat_raft::Error },

    /// None of the known nodes answered.
    #[error("no node answered (tried {tried})")]
    Unreachable { tried: String },

    /// No node reports itself leader.
    #[error("no leader is known; is the cluster initialized and a majority of voters up?")]
    NoLeader,

    /// SIGINT or SIGTERM arrived before the command finished.
    #[error("interrupted")]
    Interrupted,

    /// A backup file that is damaged, cut short or of another format; nothing was
    /// written from it.
    #[error("{}: {source}; refused, nothing was written", path.display())]
    BadBackup { path: PathBuf, source: chat_raft::backup::BackupFormatError },

    /// A command-line value that cannot be used.
    #[error("{0}")]
    Usage(String),

    /// A failover drill found guarantees violated (its report lists them).
    #[error("drill {scenario}: {count} guarantee violation(s); see the report above")]
    DrillFailed { scenario: String, count: usize },

    /// A value that is not a duration like `10s`, `500ms` or `2m`.
    #[error("invalid duration {input:?}: {reason} (examples: 10s, 500ms, 2m)")]
    Duration { input: String, reason: &'static str },

    /// `chatctl bench` ran to the end, but something failed, was lost, duplicated or
    /// out of order (the report above says what).
    #[error("bench failed: {reasons}")]
    BenchFailed { reasons: String },

    /// `chatctl aws` in a chatctl built without the `aws` feature.
    #[error("`chatctl aws` is not in this build; build chatctl with `cargo build -p chat-ops --features aws` (add --release for a release build)")]
    AwsNotBuilt,

    /// An AWS plan that breaks the rules (instance cap, type, counts, zones).
    #[error("plan refused: {0}")]
    PlanRefused(String),

    /// An AWS call failed (`action` names the service and operation, e.g. "EC2
    /// RunInstances"); `exists` says what the cluster has on EC2 now.
    #[error("{action} failed: {problem}\n  ({detail}){exists}")]
    Ec2 { action: String, problem: crate::aws::Ec2Problem, detail: String, exists: String },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn api(node: impl std::fmt::Display) -> impl FnOnce(chat_raft::Error) -> Error {
        let node = node.to_string();
        move |source| Error::Api { node, source }
    }
}
