//! chatctl's command-line definitions (clap derive): every subcommand and flag,
//! with the help text the operator reads.

use std::path::PathBuf;
use std::time::Duration;

use chat_raft::NodeId;
use clap::{Args, Parser, Subcommand};

use crate::target::Target;
use crate::{duration, raft_bench, Error};

/// chatctl: operate a chat cluster. Run one on this machine, inspect it, change its
/// Raft membership, benchmark Raft.
///
/// Commands that talk to a cluster take either --data-dir DIR (a cluster started
/// with `chatctl local up`; nodes and secret come from DIR/cluster.json) or
/// --cluster ADDR --secret S (the cluster listener of any node).
#[derive(Debug, Parser)]
#[command(name = "chatctl", version, about, long_about)]
#[command(after_help = "Examples:
  chatctl local up --nodes 3 --edges 2 --data-dir ./cluster
  chatctl status --data-dir ./cluster
  chatctl local stop --data-dir ./cluster --node 2 --kill
  chatctl local restart --data-dir ./cluster --node 2
  chatctl admin grant --data-dir ./cluster --email ops@example.com
  chatctl backup --data-dir ./cluster --out cluster.backup --json
  chatctl restore --from cluster.backup --data-dir ./restored --nodes 3
  chatctl raft-bench --cluster 127.0.0.1:7001 --secret \"$CHAT_CLUSTER_SECRET\" --duration 30s
  chatctl bench --data-dir ./cluster --profile compressed --json bench.json")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run and control a cluster of chat-node processes on this machine.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Show every node's role, Raft state, applied index and addresses, and the leader.
    Status(StatusArgs),
    /// Add a node to the cluster as a Raft learner (for a local cluster, start it first).
    AddNode(AddNodeArgs),
    /// Promote a learner to voter.
    Promote(PromoteArgs),
    /// Remove a node from the Raft membership.
    RemoveNode(RemoveNodeArgs),
    /// Grant or revoke the admin role of a chat account (by email).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Hand leadership to another voter without an election timeout (before planned
    /// maintenance of the leader; a leader stopped with SIGTERM does this itself).
    TransferLeader(TransferLeaderArgs),
    /// Take a consistent online backup through the leader into one file: the control
    /// state at a committed index and, in embedded mode, the messages and files up to
    /// it (docs/operations.md "Backup and restore").
    Backup(BackupArgs),
    /// Verify a backup file, then lay it out as a new local cluster of N voters that
    /// `chatctl local up --data-dir DIR` starts. Sessions are invalidated (users log in
    /// again); presence starts empty.
    Restore(RestoreArgs),
    /// Measure Raft commit throughput and latency on the leader.
    RaftBench(RaftBenchArgs),
    /// Run a failover drill against a local cluster: break it under a small load,
    /// repair it, check the recorded history, report timings (exit 1 on a violation).
    Drill(DrillArgs),
    // No doc comment here: the long help of `chatctl bench` is BenchArgs' own.
    Bench(crate::bench::BenchArgs),
    /// Plan, create, inspect, drill and tear down a cluster on AWS EC2 (needs a
    /// chatctl built with `--features aws`).
    #[command(subcommand)]
    Aws(crate::aws::AwsCommand),
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Run N voters and M edges as child processes in the foreground until Ctrl-C or
    /// SIGTERM, then stop them all.
    ///
    /// The first run creates DIR/cluster.json (ids, ports, secrets) and bootstraps the
    /// cluster; later runs with the same DIR resume it from disk. Node <id> keeps its
    /// data and log (node.log) in DIR/node-<id>. A node that dies is reported, never
    /// restarted: use `chatctl local restart`.
    Up(UpArgs),
    /// Start a stopped or killed node again, detached, with the same ports, data and
    /// secrets; returns once it answers.
    Restart(RestartArgs),
    /// Stop one node (SIGTERM and up to 10 s to exit, then SIGKILL; or SIGKILL at once).
    Stop(StopArgs),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make the account with this email an admin (it must have registered).
    Grant(RoleArgs),
    /// Make an admin an ordinary user again; the last admin cannot be demoted.
    Revoke(RoleArgs),
}

#[derive(Debug, Args)]
pub struct RoleArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The account's email (case-insensitive).
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
}

/// Which cluster to talk to.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub at: TargetAt,
    /// Cluster secret, with --cluster.
    #[arg(long, value_name = "S", env = "CHAT_CLUSTER_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

/// A local cluster directory or a node's address: exactly one.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct TargetAt {
    /// Local cluster directory (created by `chatctl local up`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Cluster listener (HOST:PORT) of any node; the Raft membership names the others.
    #[arg(long, value_name = "ADDR", requires = "secret")]
    pub cluster: Option<String>,
}

impl TargetArgs {
    pub fn target(&self) -> Result<Target, Error> {
        match (&self.at.data_dir, &self.at.cluster, &self.secret) {
            (Some(dir), _, _) => Ok(Target::Local { dir: dir.clone() }),
            (None, Some(addr), Some(secret)) => Ok(Target::Remote { addr: addr.clone(), secret: secret.clone() }),
            _ => Err(Error::Usage("give --data-dir DIR, or --cluster ADDR with --secret S".into())),
        }
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Voters of a new cluster (ids 1..=N) [default: 3].
    #[arg(long, value_name = "N")]
    pub nodes: Option<u64>,
    /// Edges (Raft learners) of a new cluster (ids N+1..=N+M) [default: 0].
    #[arg(long, value_name = "M")]
    pub edges: Option<u64>,
    /// Cluster directory; created if missing, resumed if it holds a cluster.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The chat-node executable [default: next to chatctl, else on PATH].
    #[arg(long, value_name = "PATH", env = "CHATCTL_NODE_BIN")]
    pub node_bin: Option<PathBuf>,
    /// Fixed ports for a new cluster: node <id> listens on P+id-1 (public) and
    /// P+2000+id-1 (cluster) [default: free ports].
    #[arg(long, value_name = "P")]
    pub base_port: Option<u16>,
    /// How long to wait for every node to answer, and then for a leader (e.g. 30s).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration::parse)]
    pub ready_timeout: Duration,
    /// Also run HAProxy in front of every node's public listener, with health checks on
    /// /api/health (config DIR/haproxy.cfg, log DIR/haproxy.log, address under "lb" in
    /// cluster.json); it stops with the cluster.
    #[arg(long)]
    pub lb: bool,
    /// The haproxy executable for --lb [default: haproxy on PATH].
    #[arg(long, value_name = "PATH", requires = "lb")]
    pub haproxy_bin: Option<PathBuf>,
    /// A fixed port for --lb's frontend; its statistics page takes the next one
    /// [default: the ports recorded in cluster.json, else free ones].
    #[arg(long, value_name = "PORT", requires = "lb", value_parser = clap::value_parser!(u16).range(1..65535))]
    pub lb_port: Option<u16>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Local cluster directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Id of the node to start.
    #[arg(long, value_name = "ID")]
    pub node: NodeId,
    /// The chat-node executable [default: next to chatctl, else on PATH].
    #[arg(long, value_name = "PATH", env = "CHATCTL_NODE_BIN")]
    pub node_bin: Option<PathBuf>,
    /// How long the node may take to answer (e.g. 30s).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration::parse)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Local cluster directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Id of the node to stop.
    #[arg(long, value_name = "ID")]
    pub node: NodeId,
    /// SIGKILL at once instead of SIGTERM (a crash, for drills).
    #[arg(long)]
    pub kill: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON: {"leader", "term", "nodes": [{"id", "role", "state", "last_applied", "public", "cluster"}]}.
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Refresh until Ctrl-C: leader, each node's readiness, messages stored and refused
    /// and the append p99 over the last interval, and ALERT lines (no leader, node not
    /// ready, p99 or refusals over the limits below).
    #[arg(long)]
    pub watch: bool,
    /// How often --watch refreshes.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration::parse, requires = "watch")]
    pub interval: Duration,
    /// --watch alerts when the message append p99 of an interval exceeds this.
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = duration::parse, requires = "watch")]
    pub p99_alert: Duration,
    /// --watch alerts when more than this percentage of an interval's messages was refused.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0, requires = "watch")]
    pub error_alert: f64,
}

#[derive(Debug, Args)]
#[command(after_help = "With --data-dir and no addresses, a new edge process is started on free ports \
(DIR/node-<id>) and recorded in cluster.json before it is added. With addresses, the node must \
already be running; it is only added to the membership.")]
pub struct AddNodeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Id of the new node (unique; ids are never reused).
    #[arg(long, value_name = "N")]
    pub id: NodeId,
    /// Public listener (HOST:PORT) of an already running node.
    #[arg(long, value_name = "ADDR", requires = "cluster_addr", required_unless_present = "data_dir")]
    pub public: Option<String>,
    /// Cluster listener (HOST:PORT) of an already running node.
    #[arg(long, value_name = "ADDR", requires = "public")]
    pub cluster_addr: Option<String>,
    /// The chat-node executable [default: next to chatctl, else on PATH].
    #[arg(long, value_name = "PATH", env = "CHATCTL_NODE_BIN")]
    pub node_bin: Option<PathBuf>,
    /// How long a started node may take to answer (e.g. 30s).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration::parse)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Id of the learner to make a voter.
    #[arg(long, value_name = "N")]
    pub id: NodeId,
}

#[derive(Debug, Args)]
pub struct RemoveNodeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Id of the node to remove.
    #[arg(long, value_name = "N")]
    pub id: NodeId,
    /// Also stop the node's process (with --data-dir only).
    #[arg(long)]
    pub stop: bool,
}

#[derive(Debug, Args)]
pub struct TransferLeaderArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The voter to hand leadership to [default: the most up-to-date other voter].
    #[arg(long, value_name = "ID")]
    pub to: Option<NodeId>,
    /// Print the outcome as JSON: {"from", "to", "took_ms"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The backup file to write (must not exist; written as FILE.part until verified).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print the summary as JSON: {"file", "index", "term", "leader", "message_store",
    /// "counts": {"users", "rooms", "memberships", "sessions", "files", "messages",
    /// "blobs"}, "bytes", "took_ms"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file (verified completely before anything is written).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The new cluster's directory; must be absent or empty.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Voters of the new cluster (ids 1..=N).
    #[arg(long, value_name = "N", default_value_t = crate::local::up::DEFAULT_VOTERS)]
    pub nodes: u64,
    /// Print the summary as JSON: {"data_dir", "nodes", "index", "term",
    /// "message_store", "counts", "bytes"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RaftBenchArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Concurrent proposers inside the leader.
    #[arg(long, value_name = "N", default_value_t = raft_bench::DEFAULT_PROPOSERS)]
    pub proposers: usize,
    /// How long to run (e.g. 10s, 500ms, 2m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration::parse)]
    pub duration: Duration,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Scenarios: kill-leader (SIGKILL), kill-follower, kill-edge (needs `local up --edges 1`), \
partition-leader (fault injection cuts the leader off from peers and clients), rolling-restart (every node in turn: \
drain, for the leader transfer-leader, SIGTERM, start, wait healthy), pause-node (SIGSTOP / SIGCONT, the leader unless --node).

Example: chatctl drill kill-leader --data-dir ./cluster --json kill-leader.json")]
pub struct DrillArgs {
    /// What to break.
    #[arg(value_enum)]
    pub scenario: crate::drill::Scenario,
    /// Local cluster directory (started with `chatctl local up`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// No load of the drill's own (an external `chatctl bench` provides it).
    #[arg(long)]
    pub no_load: bool,
    /// Chat users per node in the drill's load.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub users_per_node: usize,
    /// Rooms every chat user is in.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub rooms: usize,
    /// Users logging in and out from two devices each.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub churn_users: usize,
    /// Pause between one chat user's messages.
    #[arg(long, value_name = "DURATION", default_value = "150ms", value_parser = duration::parse)]
    pub send_every: Duration,
    /// How long the fault lasts: a killed node stays down, a partition or pause lasts.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = duration::parse)]
    pub hold: Duration,
    /// Load before the fault.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = duration::parse)]
    pub warmup: Duration,
    /// Load after the cluster is healthy again.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = duration::parse)]
    pub after: Duration,
    /// How long clients get to reconnect and catch up once the load stops.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = duration::parse)]
    pub settle: Duration,
    /// The node to break instead of the scenario's default (kill-follower, kill-edge, pause-node).
    #[arg(long, value_name = "ID")]
    pub node: Option<NodeId>,
    /// How long the cluster may take to be healthy (before, and after the repair).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration::parse)]
    pub ready_timeout: Duration,
    /// rolling-restart: do not call transfer-leader before stopping the leader (the
    /// leader's own SIGTERM handover still runs unless its nodes were started with
    /// CHAT_STOP_HANDOVER_MS=0, which measures a restart that costs an election).
    #[arg(long)]
    pub no_transfer: bool,
    /// The chat-node executable for restarts [default: next to chatctl, else on PATH].
    #[arg(long, value_name = "PATH", env = "CHATCTL_NODE_BIN")]
    pub node_bin: Option<PathBuf>,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the recorded history to FILE (one JSON entry per line).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("chatctl").chain(args.iter().copied()))
    }

    #[test]
    fn target_is_a_directory_or_an_address_with_a_secret() {
        assert!(parse(&["status", "--data-dir", "/c"]).is_ok());
        assert!(parse(&["status", "--cluster", "h:1", "--secret", "s"]).is_ok());
        assert!(parse(&["status"]).is_err());
        assert!(parse(&["status", "--data-dir", "/c", "--cluster", "h:1", "--secret", "s"]).is_err());
    }

    #[test]
    fn admin_roles_take_a_target_and_an_email() {
        assert!(parse(&["admin", "grant", "--data-dir", "/c", "--email", "a@b.co"]).is_ok());
        assert!(parse(&["admin", "revoke", "--cluster", "h:1", "--secret", "s", "--email", "a@b.co"]).is_ok());
        assert!(parse(&["admin", "grant", "--data-dir", "/c"]).is_err());
        assert!(parse(&["admin", "grant", "--email", "a@b.co"]).is_err());
    }

    #[test]
    fn add_node_needs_addresses_without_a_directory() {
        assert!(parse(&["add-node", "--data-dir", "/c", "--id", "6"]).is_ok());
        assert!(parse(&["add-node", "--cluster", "h:1", "--secret", "s", "--id", "6"]).is_err());
        assert!(parse(&["add-node", "--data-dir", "/c", "--id", "6", "--public", "h:2"]).is_err());
        let ok =
            ["add-node", "--cluster", "h:1", "--secret", "s", "--id", "6", "--public", "h:2", "--cluster-addr", "h:3"];
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn drill_takes_a_scenario_and_a_directory() {
        let cli = parse(&["drill", "partition-leader", "--data-dir", "/c", "--no-load", "--hold", "5s"]).unwrap();
        let Command::Drill(args) = cli.command else { panic!("drill") };
        assert_eq!(args.scenario, crate::drill::Scenario::PartitionLeader);
        assert!(args.no_load);
        assert_eq!(args.hold, Duration::from_secs(5));
        assert!(parse(&["drill", "kill-leader"]).is_err());
        assert!(parse(&["drill", "unplug-everything", "--data-dir", "/c"]).is_err());
    }

    #[test]
    fn transfer_leader_takes_an_optional_target_voter() {
        let cli = parse(&["transfer-leader", "--data-dir", "/c", "--to", "2"]).unwrap();
        let Command::TransferLeader(args) = cli.command else { panic!("transfer-leader") };
        assert_eq!(args.to, Some(2));
        assert!(parse(&["transfer-leader", "--cluster", "h:1", "--secret", "s"]).is_ok());
        assert!(parse(&["transfer-leader", "--data-dir", "/c", "--to", "two"]).is_err());
    }

    #[test]
    fn status_watch_has_its_own_knobs() {
        let cli = parse(&["status", "--data-dir", "/c", "--watch", "--interval", "500ms"]).unwrap();
        let Command::Status(args) = cli.command else { panic!("status") };
        assert!(args.watch);
        assert_eq!(args.interval, Duration::from_millis(500));
        assert_eq!(args.p99_alert, Duration::from_millis(500));
        assert!(parse(&["status", "--data-dir", "/c", "--interval", "1s"]).is_err(), "--interval needs --watch");
        assert!(parse(&["status", "--data-dir", "/c", "--watch", "--json"]).is_err());
    }

    #[test]
    fn durations_parse_on_the_command_line() {
        let cli = parse(&["raft-bench", "--data-dir", "/c", "--duration", "500ms"]).unwrap();
        let Command::RaftBench(args) = cli.command else { panic!("raft-bench") };
        assert_eq!(args.duration, Duration::from_millis(500));
        assert_eq!(args.proposers, 256);
        assert!(parse(&["raft-bench", "--data-dir", "/c", "--duration", "10"]).is_err());
    }
}
