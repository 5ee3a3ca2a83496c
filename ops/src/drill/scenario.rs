//! The six faults a drill can inject into a local cluster, each followed by the
//! repair that brings the cluster back to full strength, so a drill leaves the
//! cluster as it found it:
//!
//! | scenario | fault | repair |
//! |---|---|---|
//! | `kill-leader` | SIGKILL the leader | `local restart` it after `--hold` |
//! | `kill-follower` | SIGKILL a follower voter | `local restart` it after `--hold` |
//! | `kill-edge` | SIGKILL an edge (learner) | `local restart` it after `--hold` |
//! | `partition-leader` | fault injection isolates the leader from its peers and its clients | heal after `--hold` |
//! | `rolling-restart` | every node in turn, leader last: drain, (leader: transfer leadership), SIGTERM, start, wait healthy | — |
//! | `pause-node` | SIGSTOP the leader (or `--node`) | SIGCONT after `--hold` |
//!
//! Every broken node is taken out of the balancer's rotation while it is broken, and
//! every fault is returned as a [`FaultWindow`] for the measurements.

use std::path::PathBuf;
use std::time::Duration;

use chat_raft::api::{FaultRequest, MemberRole};
use chat_raft::client::ClusterClient;
use chat_raft::NodeId;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;

use super::balancer::Balancer;
use super::history::History;
use super::probe::FaultWindow;
use crate::local::{self, process, ClusterLayout, LocalRole};
use crate::status;
use crate::target::Seed;
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    KillLeader,
    KillFollower,
    KillEdge,
    PartitionLeader,
    RollingRestart,
    PauseNode,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::KillLeader => "kill-leader",
            Scenario::KillFollower => "kill-follower",
            Scenario::KillEdge => "kill-edge",
            Scenario::PartitionLeader => "partition-leader",
            Scenario::RollingRestart => "rolling-restart",
            Scenario::PauseNode => "pause-node",
        }
    }
}

/// What a scenario works with.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub dir: PathBuf,
    pub client: ClusterClient,
    pub node_bin: Option<PathBuf>,
    pub history: History,
    pub balancer: Balancer,
    /// How long a killed node stays down, a partition lasts, a node stays paused.
    pub hold: Duration,
    /// The node to break instead of the scenario's default.
    pub node: Option<NodeId>,
    /// How long the cluster may take to become healthy again.
    pub ready_timeout: Duration,
    /// `rolling-restart` hands leadership over before stopping the leader.
    pub transfer: bool,
}

const POLL: Duration = Duration::from_millis(50);
/// How long a drain waits for the load's clients to leave a node.
const DRAIN_WAIT: Duration = Duration::from_secs(10);

/// Inject the fault, repair, wait until the cluster is healthy; returns the faults.
pub async fn run(scenario: Scenario, ctx: &Ctx) -> Result<Vec<FaultWindow>, Error> {
    let leader = leader(ctx).await?;
    let faults = match scenario {
        Scenario::KillLeader => vec![kill_and_restart(ctx, ctx.node.unwrap_or(leader), "SIGKILL leader").await?],
        Scenario::KillFollower => {
            let node = match ctx.node {
                Some(node) => node,
                None => pick(ctx, |n| n.role == LocalRole::Voter && n.id != leader, "a follower voter")?,
            };
            vec![kill_and_restart(ctx, node, "SIGKILL follower").await?]
        }
        Scenario::KillEdge => {
            let node = match ctx.node {
                Some(node) => node,
                None => pick(
                    ctx,
                    |n| n.role == LocalRole::Edge,
                    "an edge (start the cluster with `chatctl local up --edges 1`)",
                )?,
            };
            vec![kill_and_restart(ctx, node, "SIGKILL edge").await?]
        }
        Scenario::PartitionLeader => vec![partition(ctx, ctx.node.unwrap_or(leader)).await?],
        Scenario::PauseNode => vec![pause(ctx, ctx.node.unwrap_or(leader)).await?],
        Scenario::RollingRestart => rolling_restart(ctx, leader).await?,
    };
    wait_healthy(ctx, ctx.ready_timeout).await?;
    Ok(faults)
}

/// The current leader, waiting (bounded) for one.
pub async fn leader(ctx: &Ctx) -> Result<NodeId, Error> {
    let deadline = Instant::now() + ctx.ready_timeout;
    loop {
        let layout = ClusterLayout::load(&ctx.dir)?;
        let merged = status::merge(&status::probe(&ctx.client, Seed::from_layout(&layout)).await);
        if let Some(leader) = merged.leader {
            return Ok(leader);
        }
        if Instant::now() >= deadline {
            return Err(Error::NoLeader);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Every active node answers, is fresh and ready (`/api/health` 200), and one leads.
pub async fn wait_healthy(ctx: &Ctx, timeout: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let layout = ClusterLayout::load(&ctx.dir)?;
        let answers = futures::future::join_all(layout.active().map(|n| ctx.client.status(&n.cluster))).await;
        let healthy = answers.iter().all(|a| a.as_ref().is_ok_and(|s| s.fresh && s.ready && !s.isolated));
        let leaders = answers.iter().filter(|a| a.as_ref().is_ok_and(|s| s.leader == Some(s.id))).count();
        if healthy && leaders == 1 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: "every node to be fresh and ready with one leader".into(),
                after: timeout,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

fn pick(ctx: &Ctx, fits: impl Fn(&local::NodeEntry) -> bool, what: &str) -> Result<NodeId, Error> {
    let layout = ClusterLayout::load(&ctx.dir)?;
    layout
        .active()
        .filter(|n| fits(n))
        .map(|n| n.id)
        .min()
        .ok_or_else(|| Error::Usage(format!("this scenario needs {what}; the cluster has none")))
}

fn entry(ctx: &Ctx, id: NodeId) -> Result<local::NodeEntry, Error> {
    Ok(ClusterLayout::load(&ctx.dir)?.node_in(id, &ctx.dir)?.clone())
}

async fn kill_and_restart(ctx: &Ctx, id: NodeId, what: &str) -> Result<FaultWindow, Error> {
    let node = entry(ctx, id)?;
    tracing::info!(node = id, "{what}");
    ctx.balancer.take_out(id);
    let from_ms = ctx.history.now_ms();
    if process::stop(&node, Duration::ZERO).await? == local::Stopped::NotRunning {
        return Err(Error::NotRunning { id });
    }
    tokio::time::sleep(ctx.hold).await;
    local::restart(&ctx.dir, id, ctx.node_bin.as_deref(), ctx.ready_timeout).await?;
    let to_ms = ctx.history.now_ms();
    wait_node_ready(ctx, id).await?;
    ctx.balancer.restore(id);
    Ok(FaultWindow { node: id, what: what.into(), from_ms, to_ms: Some(to_ms) })
}

/// Isolation by the node's own fault injection (cluster-secret admin API): its Raft
/// RPCs and forwarded writes are dropped both ways, and its public listener refuses
/// clients and closes their sockets, until healed.
async fn partition(ctx: &Ctx, id: NodeId) -> Result<FaultWindow, Error> {
    let node = entry(ctx, id)?;
    tracing::info!(node = id, "isolating the node from its peers and clients");
    ctx.balancer.take_out(id);
    let from_ms = ctx.history.now_ms();
    let cut = FaultRequest { isolated: true, clients: true };
    ctx.client.fault(&node.cluster, cut).await.map_err(Error::api(format!("{id} ({})", node.cluster)))?;
    tokio::time::sleep(ctx.hold).await;
    let heal = FaultRequest { isolated: false, clients: false };
    let mut healed = ctx.client.fault(&node.cluster, heal).await;
    for _ in 0..10 {
        if healed.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        healed = ctx.client.fault(&node.cluster, heal).await;
    }
    healed.map_err(Error::api(format!("{id} ({})", node.cluster)))?;
    let to_ms = ctx.history.now_ms();
    wait_node_ready(ctx, id).await?;
    ctx.balancer.restore(id);
    Ok(FaultWindow { node: id, what: "isolated (fault injection)".into(), from_ms, to_ms: Some(to_ms) })
}

async fn pause(ctx: &Ctx, id: NodeId) -> Result<FaultWindow, Error> {
    let node = entry(ctx, id)?;
    let pid = process::running_pid(&node).ok_or(Error::NotRunning { id })?;
    let pid = Pid::from_raw(i32::try_from(pid).map_err(|_| Error::NotRunning { id })?);
    let signal = |sig: Signal| {
        kill(pid, sig).map_err(|errno| Error::Process {
            what: format!("sending {sig} to node {id}"),
            source: std::io::Error::from(errno),
        })
    };
    tracing::info!(node = id, "SIGSTOP");
    ctx.balancer.take_out(id);
    let from_ms = ctx.history.now_ms();
    signal(Signal::SIGSTOP)?;
    tokio::time::sleep(ctx.hold).await;
    signal(Signal::SIGCONT)?;
    let to_ms = ctx.history.now_ms();
    tracing::info!(node = id, "SIGCONT");
    wait_node_ready(ctx, id).await?;
    ctx.balancer.restore(id);
    Ok(FaultWindow { node: id, what: "SIGSTOP".into(), from_ms, to_ms: Some(to_ms) })
}

/// Every node in turn, edges and followers first, the leader last.
async fn rolling_restart(ctx: &Ctx, leader: NodeId) -> Result<Vec<FaultWindow>, Error> {
    let layout = ClusterLayout::load(&ctx.dir)?;
    let mut order: Vec<NodeId> = layout.active().map(|n| n.id).filter(|id| *id != leader).collect();
    order.push(leader);
    let mut faults = Vec::new();
    for id in order {
        tracing::info!(node = id, "draining");
        ctx.balancer.drain(id);
        let drained_by = Instant::now() + DRAIN_WAIT;
        while ctx.balancer.clients_on(id) > 0 && Instant::now() < drained_by {
            tokio::time::sleep(POLL).await;
        }
        // The window opens before the transfer: any leaderless time it causes is this node's.
        let from_ms = ctx.history.now_ms();
        let what = if leader == id && ctx.transfer {
            format!("drain, {}, SIGTERM, start", hand_over(ctx, id).await?)
        } else {
            "drain, SIGTERM, start".to_owned()
        };
        let (node, stopped) = local::stop_node(&ctx.dir, id, false).await?;
        tracing::info!(node = id, ?stopped, "stopped; starting again");
        local::restart(&ctx.dir, node.id, ctx.node_bin.as_deref(), ctx.ready_timeout).await?;
        let to_ms = ctx.history.now_ms();
        wait_node_ready(ctx, id).await?;
        wait_healthy(ctx, ctx.ready_timeout).await?;
        ctx.balancer.restore(id);
        faults.push(FaultWindow { node: id, what, from_ms, to_ms: Some(to_ms) });
    }
    Ok(faults)
}

/// Planned leadership transfer away from `leader` (`chatctl transfer-leader`);
/// returns what to call the step in the report.
async fn hand_over(ctx: &Ctx, leader: NodeId) -> Result<String, Error> {
    let node = entry(ctx, leader)?;
    let handover = ctx
        .client
        .transfer_leader(&node.cluster, None)
        .await
        .map_err(Error::api(format!("{leader} ({})", node.cluster)))?;
    tracing::info!(from = handover.from, to = handover.to, took_ms = handover.took_ms, "leadership handed over");
    Ok(format!("leadership to node {} in {} ms", handover.to, handover.took_ms))
}

/// Node `id` is fresh and ready again (it follows a leader or leads, and is caught up).
async fn wait_node_ready(ctx: &Ctx, id: NodeId) -> Result<(), Error> {
    let node = entry(ctx, id)?;
    let deadline = Instant::now() + ctx.ready_timeout;
    loop {
        if let Ok(s) = ctx.client.status(&node.cluster).await {
            let member = s.role.is_some_and(|r| matches!(r, MemberRole::Voter | MemberRole::Learner));
            if member && s.fresh && s.ready && !s.isolated {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: format!("node {id} to be fresh and ready again"),
                after: ctx.ready_timeout,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
