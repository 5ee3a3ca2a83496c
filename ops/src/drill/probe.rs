//! The drill's own measurements, independent of the chat load: every node's
//! `/cluster/status` polled every few tens of milliseconds, and a stream of small
//! probe writes (an empty `TouchSessions`, which changes nothing) through the nodes
//! in the balancer's rotation. From these and the fault windows come `leaderless_ms`,
//! `write_recovery_ms` and `node_catch_up_ms`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chat_raft::api::ServerState;
use chat_raft::client::ClusterClient;
use chat_raft::{Command, NodeId};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::balancer::Balancer;

/// How often each node's status is asked for.
const STATUS_EVERY: Duration = Duration::from_millis(25);
/// A node that does not answer within this is counted as not answering.
const STATUS_TIMEOUT: Duration = Duration::from_millis(400);
/// How often a probe write starts.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// A probe write not committed within this has failed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// One answer (or silence) of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatusSample {
    pub at_ms: u64,
    pub node: NodeId,
    /// `None`: no answer in time.
    pub state: Option<NodeView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NodeView {
    pub leader: bool,
    pub term: u64,
    pub applied: u64,
    pub fresh: bool,
}

/// One probe write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WriteSample {
    pub invoked_ms: u64,
    pub done_ms: u64,
    pub ok: bool,
}

/// A fault the scenario put on `node`, from `from_ms` until `to_ms` (when the node
/// was healed, resumed or started again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultWindow {
    pub node: NodeId,
    pub what: String,
    pub from_ms: u64,
    pub to_ms: Option<u64>,
}

/// The running probes; [`Probes::finish`] stops them and hands back the samples.
pub struct Probes {
    stop: watch::Sender<bool>,
    status: JoinSet<Vec<StatusSample>>,
    writes: tokio::task::JoinHandle<Vec<WriteSample>>,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes").finish_non_exhaustive()
    }
}

/// Everything the probes saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Samples {
    pub status: Vec<StatusSample>,
    pub writes: Vec<WriteSample>,
}

impl Probes {
    /// Start polling `nodes` (id, cluster address) and writing through them.
    pub fn start(client: &ClusterClient, nodes: &[(NodeId, String)], start: Instant, balancer: Balancer) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let mut status = JoinSet::new();
        for (id, addr) in nodes {
            status.spawn(poll_status(client.clone(), *id, addr.clone(), start, stop_rx.clone()));
        }
        let writes = tokio::spawn(write_stream(client.clone(), nodes.to_vec(), start, balancer, stop_rx));
        Self { stop, status, writes }
    }

    pub async fn finish(mut self) -> Samples {
        let _ = self.stop.send(true);
        let mut samples = Samples::default();
        while let Some(node) = self.status.join_next().await {
            samples.status.extend(node.unwrap_or_default());
        }
        samples.status.sort_by_key(|s| (s.at_ms, s.node));
        samples.writes = self.writes.await.unwrap_or_default();
        samples.writes.sort_by_key(|w| w.invoked_ms);
        samples
    }
}

fn ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

async fn poll_status(
    client: ClusterClient,
    node: NodeId,
    addr: String,
    start: Instant,
    mut stop: watch::Receiver<bool>,
) -> Vec<StatusSample> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(STATUS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return samples,
        }
        let answer = tokio::time::timeout(STATUS_TIMEOUT, client.status(&addr)).await.ok().and_then(Result::ok);
        let state = answer.map(|s| NodeView {
            leader: s.state == ServerState::Leader,
            term: s.term,
            applied: s.last_applied,
            fresh: s.fresh,
        });
        samples.push(StatusSample { at_ms: ms(start), node, state });
    }
}

async fn write_stream(
    client: ClusterClient,
    nodes: Vec<(NodeId, String)>,
    start: Instant,
    balancer: Balancer,
    mut stop: watch::Receiver<bool>,
) -> Vec<WriteSample> {
    let mut running = JoinSet::new();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(WRITE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut turn = 0usize;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        while let Some(Some(done)) = running.try_join_next().map(Result::ok) {
            samples.push(done);
        }
        let usable: Vec<&(NodeId, String)> = nodes.iter().filter(|(id, _)| !balancer.is_out(*id)).collect();
        if usable.is_empty() {
            continue;
        }
        turn += 1;
        let addr = usable[turn % usable.len()].1.clone();
        let client = client.clone();
        running.spawn(async move {
            let invoked_ms = ms(start);
            let write = client.propose(&addr, Command::TouchSessions { touches: Vec::new() });
            let ok = matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(_)));
            WriteSample { invoked_ms, done_ms: ms(start), ok }
        });
    }
    while let Some(done) = running.join_next().await {
        samples.extend(done.ok());
    }
    samples
}

/// Total time from the first fault until `end_ms` during which no node outside a
/// fault window reported itself leader in the newest term seen so far.
pub fn leaderless_ms(status: &[StatusSample], faults: &[FaultWindow], end_ms: u64) -> Option<u64> {
    let first = faults.iter().map(|f| f.from_ms).min()?;
    Some(leaderless_between(status, faults, first, end_ms))
}

/// [`leaderless_ms`] split by fault: each fault's share runs from its start to the
/// next fault's start (the last one's to `end_ms`).
pub fn leaderless_by_fault_ms(status: &[StatusSample], faults: &[FaultWindow], end_ms: u64) -> Vec<u64> {
    (0..faults.len())
        .map(|i| {
            let to = faults.get(i + 1).map_or(end_ms, |next| next.from_ms);
            leaderless_between(status, faults, faults[i].from_ms, to)
        })
        .collect()
}

fn leaderless_between(status: &[StatusSample], faults: &[FaultWindow], first: u64, end_ms: u64) -> u64 {
    let mut latest: BTreeMap<NodeId, Option<NodeView>> = BTreeMap::new();
    let mut max_term = 0;
    let has_leader = |latest: &BTreeMap<NodeId, Option<NodeView>>, max_term: u64, at_ms: u64| {
        latest.iter().any(|(node, view)| {
            view.is_some_and(|v| v.leader && v.term == max_term) && !under_fault(faults, *node, at_ms)
        })
    };
    let mut leaderless = 0;
    let mut gap_since: Option<u64> = None;
    let mut started = false;
    for sample in status.iter().filter(|s| s.at_ms <= end_ms) {
        if !started && sample.at_ms >= first {
            // As the window opens: the leader known just before may be the one the fault hit.
            started = true;
            if !has_leader(&latest, max_term, first) {
                gap_since = Some(first);
            }
        }
        latest.insert(sample.node, sample.state);
        if let Some(view) = sample.state {
            max_term = max_term.max(view.term);
        }
        if sample.at_ms < first {
            continue;
        }
        match (has_leader(&latest, max_term, sample.at_ms), gap_since) {
            (false, None) => gap_since = Some(sample.at_ms),
            (true, Some(since)) => {
                leaderless += sample.at_ms - since;
                gap_since = None;
            }
            _ => {}
        }
    }
    if let Some(since) = gap_since {
        leaderless += end_ms.saturating_sub(since);
    }
    leaderless
}

fn under_fault(faults: &[FaultWindow], node: NodeId, at_ms: u64) -> bool {
    faults.iter().any(|f| f.node == node && f.from_ms <= at_ms && f.to_ms.is_none_or(|to| at_ms < to))
}

/// The longest time, over every fault, from the fault's start until the first
/// probe write begun at or after it succeeded.
pub fn write_recovery_ms(writes: &[WriteSample], faults: &[FaultWindow]) -> Option<u64> {
    faults
        .iter()
        .map(|f| writes.iter().filter(|w| w.ok && w.invoked_ms >= f.from_ms).map(|w| w.done_ms - f.from_ms).min())
        .try_fold(0, |worst, recovery| recovery.map(|r| worst.max(r)))
}

/// The longest time, over every fault that ended, from its end until the node had
/// applied everything the leader had applied at that moment and was fresh again
/// (faults the samples cannot measure are skipped).
pub fn node_catch_up_ms(status: &[StatusSample], faults: &[FaultWindow]) -> Option<u64> {
    let mut worst = None;
    for f in faults {
        let Some(back) = f.to_ms else { continue };
        // The leader at the return may be the returning node itself (a healed partition).
        let Some(leader_applied) =
            status.iter().filter(|s| s.at_ms >= back).find_map(|s| s.state.filter(|v| v.leader).map(|v| v.applied))
        else {
            continue;
        };
        let Some(caught_up) = status
            .iter()
            .filter(|s| s.at_ms >= back && s.node == f.node)
            .find(|s| s.state.is_some_and(|v| v.fresh && v.applied >= leader_applied))
        else {
            continue;
        };
        let took = caught_up.at_ms - back;
        worst = Some(worst.map_or(took, |w: u64| w.max(took)));
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, node: NodeId, leader: bool, term: u64, applied: u64) -> StatusSample {
        StatusSample { at_ms, node, state: Some(NodeView { leader, term, applied, fresh: true }) }
    }

    fn silent(at_ms: u64, node: NodeId) -> StatusSample {
        StatusSample { at_ms, node, state: None }
    }

    fn kill(node: NodeId, from_ms: u64, to_ms: Option<u64>) -> FaultWindow {
        FaultWindow { node, what: "kill".into(), from_ms, to_ms }
    }

    #[test]
    fn leaderless_time_runs_from_the_fault_until_a_live_node_leads_in_the_newest_term() {
        let status = vec![
            sample(0, 1, true, 1, 10),
            sample(0, 2, false, 1, 10),
            silent(100, 1),
            sample(100, 2, false, 1, 10),
            sample(300, 2, false, 2, 10),
            sample(450, 2, true, 2, 11),
            sample(500, 2, true, 2, 12),
        ];
        // Node 1, the leader, killed at 80: no usable leader from then until 450.
        assert_eq!(leaderless_ms(&status, &[kill(1, 80, None)], 600), Some(370));
        // A faulted node that still claims to lead (an isolated old leader) does not count.
        let isolated = vec![sample(100, 1, true, 1, 10), sample(100, 2, false, 1, 10), sample(200, 2, true, 2, 11)];
        assert_eq!(leaderless_ms(&isolated, &[kill(1, 50, Some(1000))], 300), Some(150));
        // A follower's fault leaves the leader in place: nothing is counted.
        assert_eq!(leaderless_ms(&status, &[kill(3, 20, Some(60))], 90), Some(0));
        assert_eq!(leaderless_ms(&status, &[], 600), None);
        // Split by fault: the second fault's share starts at its own start.
        let two = [kill(1, 80, None), kill(3, 400, None)];
        assert_eq!(leaderless_by_fault_ms(&status, &two, 600), vec![320, 50]);
    }

    #[test]
    fn write_recovery_is_the_first_success_begun_after_each_fault() {
        let writes = vec![
            WriteSample { invoked_ms: 90, done_ms: 95, ok: true },
            WriteSample { invoked_ms: 100, done_ms: 2100, ok: false },
            WriteSample { invoked_ms: 150, done_ms: 700, ok: true },
            WriteSample { invoked_ms: 200, done_ms: 650, ok: true },
            WriteSample { invoked_ms: 5000, done_ms: 5010, ok: true },
        ];
        assert_eq!(write_recovery_ms(&writes, &[kill(1, 100, None)]), Some(550));
        assert_eq!(write_recovery_ms(&writes, &[kill(1, 100, None), kill(2, 4990, None)]), Some(550));
        assert_eq!(write_recovery_ms(&writes, &[kill(1, 6000, None)]), None);
    }

    #[test]
    fn catch_up_waits_for_the_leaders_applied_index_at_the_return() {
        let status = vec![
            sample(1000, 2, true, 2, 50),
            sample(1000, 1, false, 2, 10),
            sample(1100, 1, false, 2, 40),
            sample(1200, 1, false, 2, 55),
        ];
        assert_eq!(node_catch_up_ms(&status, &[kill(1, 0, Some(1000))]), Some(200));
        assert_eq!(node_catch_up_ms(&status, &[kill(1, 0, None)]), None);
        assert_eq!(node_catch_up_ms(&status, &[kill(1, 0, Some(1000)), kill(1, 0, Some(5000))]), Some(200));
    }
}
