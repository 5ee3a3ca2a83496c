//! Failure detection, run on every node but acting only on the leader: a member that
//! has not answered the leader's RPCs for the grace period is proposed `NodeDown`
//! (its sockets leave the presence state); when it answers again, `NodeUp`.
//!
//! Heartbeats already reach every member several times a second, so their answers
//! are the liveness signal; no extra pings are sent and an idle, healthy cluster
//! proposes nothing.

use std::time::{Duration, Instant};

use crate::command::{Command, Proposal, Request};
use crate::Cluster;

pub(crate) async fn run(cluster: Cluster) {
    let grace = Duration::from_millis(cluster.settings().node_down_grace_ms);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut leader_since: Option<Instant> = None;
    let mut last_tick = Instant::now();
    loop {
        tick.tick().await;
        // A process that was stopped (SIGSTOP, a long GC-like stall) wakes up with every
        // peer's last answer old: that says nothing about the peers. Start counting again.
        let stalled = last_tick.elapsed() > grace / 2;
        last_tick = Instant::now();
        let m = cluster.metrics();
        if m.state != openraft::ServerState::Leader || stalled {
            leader_since = None;
            continue;
        }
        let since = *leader_since.get_or_insert_with(Instant::now);
        for (id, _) in cluster.members() {
            let heard = cluster.contact().peer_last_answer(id).unwrap_or(since).max(since);
            // The leader is alive by definition: a mark a previous leader left on it
            // (while it restarted) must be cleared, or it never hosts sockets again.
            let silent = id != cluster.id() && heard.elapsed() > grace;
            let marked_down = cluster.read_local(|s| s.down_nodes.contains(&id));
            let command = match (silent, marked_down) {
                (true, false) => Command::NodeDown { node: id },
                (false, true) => Command::NodeUp { node: id },
                _ => continue,
            };
            tracing::info!(node = id, ?command, "liveness change");
            // Committed here or not at all: through the proposer, a decision taken by a
            // leader that was cut off would be retried via the next leader once the
            // partition healed, and mark a healthy node down (its sockets then leave the
            // presence state while their clients stay connected).
            let proposal = Proposal { requests: vec![Request::new(command)] };
            if let Err(e) = cluster.commit_as_leader(proposal).await {
                tracing::warn!(node = id, error = %e, "could not record liveness change");
            }
        }
    }
}
