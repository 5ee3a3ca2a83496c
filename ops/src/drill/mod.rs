//! `chatctl drill SCENARIO`: a failover drill against a running local cluster.
//!
//! The drill starts its probes and (unless `--no-load`) its own small load, breaks
//! the cluster as the scenario says, repairs it, lets the clients settle, reads back
//! what the cluster stored, checks the recorded history, and reports. It is bounded
//! in time and stops by itself; it passes only when no guarantee was violated.
//!
//! - [`scenario`]: the six faults and their repairs.
//! - [`balancer`]: the load balancer stand-in (rotation, drains).
//! - [`probe`]: status polling and probe writes; leaderless, write-recovery and
//!   node catch-up times.
//! - [`load`]: the bounded load: chat users ([`chatter`]) and login churn ([`churn`]).
//! - [`history`]: the record of every client operation.
//! - [`readback`]: each node's room histories and participants after the drill.
//! - [`checker`]: the pure history checker.
//! - [`report`]: the table and the JSON.

pub mod balancer;
mod chatter;
pub mod checker;
mod churn;
pub mod history;
pub mod load;
pub mod probe;
pub mod readback;
pub mod report;
pub mod scenario;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chat_raft::client::ClusterClient;
use chat_raft::NodeId;

use balancer::Balancer;
use checker::{Observed, Verdict};
use history::History;
use load::{Load, LoadOptions, NodeTarget};
use probe::Probes;
use report::Report;
pub use scenario::Scenario;

use crate::local::ClusterLayout;
use crate::Error;

/// Everything a drill needs to know.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    pub scenario: Scenario,
    pub data_dir: PathBuf,
    pub node_bin: Option<PathBuf>,
    /// `None`: `--no-load` (an external `chatctl bench` provides it).
    pub load: Option<LoadOptions>,
    /// How long the fault lasts (down, partitioned, paused).
    pub hold: Duration,
    /// Load before the fault, and after the repair.
    pub warmup: Duration,
    pub after: Duration,
    /// How long clients get to reconnect and catch up once the load stops.
    pub settle: Duration,
    pub node: Option<NodeId>,
    pub ready_timeout: Duration,
    /// `rolling-restart`: hand leadership over (`transfer-leader`) before stopping the
    /// leader, instead of leaving it to the node's own SIGTERM handling.
    pub transfer: bool,
    /// Also write the history, one JSON entry per line.
    pub history: Option<PathBuf>,
}

/// Run the drill; the report says whether it passed.
pub async fn run(opts: &DrillOptions) -> Result<Report, Error> {
    let layout = ClusterLayout::load(&opts.data_dir)?;
    let client = ClusterClient::new(layout.secret.clone());
    let start = Instant::now();
    let history = History::new(start);
    let balancer = Balancer::default();
    let ctx = scenario::Ctx {
        dir: opts.data_dir.clone(),
        client: client.clone(),
        node_bin: opts.node_bin.clone(),
        history: history.clone(),
        balancer: balancer.clone(),
        hold: opts.hold,
        node: opts.node,
        ready_timeout: opts.ready_timeout,
        transfer: opts.transfer,
    };
    scenario::wait_healthy(&ctx, opts.ready_timeout).await?;
    let cluster_nodes: Vec<(NodeId, String)> = layout.active().map(|n| (n.id, n.cluster.clone())).collect();
    let public_nodes: Vec<NodeTarget> =
        layout.active().map(|n| NodeTarget { id: n.id, public: n.public.clone() }).collect();

    let probes = Probes::start(&client, &cluster_nodes, start, balancer.clone());
    let load = match &opts.load {
        Some(load_opts) => match Load::start(load_opts, public_nodes, history.clone(), balancer.clone()).await {
            Ok(load) => Some(load),
            Err(e) => {
                probes.finish().await;
                return Err(e);
            }
        },
        None => None,
    };
    tracing::info!(scenario = opts.scenario.name(), "load running; fault in {:?}", opts.warmup);
    tokio::time::sleep(opts.warmup).await;
    let faults = scenario::run(opts.scenario, &ctx).await;
    if faults.is_ok() {
        tokio::time::sleep(opts.after).await;
    }
    // Participants are read while the clients are still connected: a closed socket
    // leaves its rooms after the node's leave grace.
    let finished = match load {
        Some(load) => {
            load.settle(opts.settle).await;
            let participants =
                readback::participants(&client, &cluster_nodes, load.rooms(), Duration::from_secs(10)).await;
            Some((load.close().await, participants))
        }
        None => None,
    };
    let end_ms = history.now_ms();
    let samples = probes.finish().await;
    let faults = faults?;

    let (verdict, read_errors, stats) = match &finished {
        Some((result, participants)) => {
            let (store, read_errors) = readback::histories(result).await;
            let observed = Observed { history: history.entries(), store, participants: participants.clone() };
            (checker::check(&observed), read_errors, Some(&result.stats))
        }
        None => (Verdict::default(), Vec::new(), None),
    };
    if let Some(path) = &opts.history {
        write_history(path, &history)?;
    }

    let node_catch_up_ms = probe::node_catch_up_ms(&samples.status, &faults);
    let (client_catch_up, reconnect_ms) = match stats {
        Some(stats) => report::client_times(&stats.recoveries, &faults),
        None => (None, None),
    };
    let mut checker_errors = verdict.errors();
    checker_errors.extend(read_errors);
    let count = |v: &Vec<String>| v.len() as u64;
    let report = Report {
        scenario: opts.scenario,
        passed: checker_errors.is_empty(),
        load: finished.is_some(),
        duration_ms: end_ms,
        leaderless_ms: probe::leaderless_ms(&samples.status, &faults, end_ms),
        leaderless_by_fault_ms: probe::leaderless_by_fault_ms(&samples.status, &faults, end_ms),
        write_recovery_ms: probe::write_recovery_ms(&samples.writes, &faults),
        catch_up_ms: if finished.is_some() { client_catch_up } else { node_catch_up_ms },
        node_catch_up_ms,
        reconnect_ms,
        failed_requests: stats.map_or(0, |s| (s.failed.len() + s.unacknowledged.len()) as u64),
        unacknowledged_messages: stats.map_or(0, |s| s.unacknowledged.len() as u64),
        probe_writes: samples.writes.len() as u64,
        probe_writes_failed: samples.writes.iter().filter(|w| !w.ok).count() as u64,
        disconnected_clients: stats.map_or(0, |s| s.disconnected.len() as u64),
        unrecovered_clients: verdict.unrecovered_clients.len() as u64,
        messages_sent: stats.map_or(0, |s| s.sent),
        acknowledged: verdict.acknowledged,
        lost: count(&verdict.lost),
        duplicated: count(&verdict.duplicated),
        out_of_order: count(&verdict.out_of_order),
        missed: count(&verdict.missed),
        single_login_violations: count(&verdict.single_login_violations),
        participants_diverged: count(&verdict.participants_diverged),
        stale_session_refusals: stats.map_or(0, |s| s.stale_session_refusals),
        checker_errors,
        failures: stats
            .map_or_else(Vec::new, |s| s.failed.iter().chain(s.unacknowledged.iter()).take(20).cloned().collect()),
        faults,
        recoveries: stats.map_or_else(Vec::new, |s| s.recoveries.clone()),
    };
    Ok(report)
}

fn write_history(path: &std::path::Path, history: &History) -> Result<(), Error> {
    let mut out = String::new();
    for entry in history.entries() {
        out.push_str(&serde_json::to_string(&entry).expect("history entries serialize"));
        out.push('\n');
    }
    std::fs::write(path, out).map_err(Error::io(path))
}
