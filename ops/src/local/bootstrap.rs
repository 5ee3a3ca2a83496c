//! Bringing a started local cluster into service: wait until every node answers,
//! initialize the membership with the voters (only once in a cluster's life), add
//! the edges that are not members yet as learners, and wait for a leader.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chat_raft::api::NodeStatus;
use chat_raft::client::ClusterClient;
use chat_raft::NodeId;
use tokio::time::Instant;

use super::layout::{ClusterLayout, LocalRole};
use crate::status::{self, Probe};
use crate::target::Seed;
use crate::Error;

const POLL: Duration = Duration::from_millis(200);
/// How often "still waiting" is repeated while nothing changes.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Returns fail-fast errors while waiting, such as a node process that exited.
pub type Check<'a> = &'a (dyn Fn() -> Result<(), Error> + Sync);

/// Bootstrap the cluster of `layout`; each phase may take up to `timeout`. Returns
/// the leader's id.
pub async fn bootstrap(
    layout: &ClusterLayout,
    client: &ClusterClient,
    timeout: Duration,
    check: Check<'_>,
) -> Result<NodeId, Error> {
    let answers = wait_all_answer(layout, client, timeout, check).await?;
    if answers.values().all(|s| s.members.is_empty()) {
        init(layout, client).await?;
    } else {
        tracing::info!("membership already initialized; resuming the cluster");
    }
    let leader = wait_leader(layout, client, timeout, check).await?;
    add_missing_learners(layout, client, &leader, timeout).await?;
    Ok(leader.id)
}

async fn wait_all_answer(
    layout: &ClusterLayout,
    client: &ClusterClient,
    timeout: Duration,
    check: Check<'_>,
) -> Result<BTreeMap<NodeId, NodeStatus>, Error> {
    let deadline = Instant::now() + timeout;
    let total = layout.active().count();
    let mut answers = BTreeMap::new();
    let mut last_progress: Option<(usize, Instant)> = None;
    loop {
        let pending = layout.active().filter(|n| !answers.contains_key(&n.id));
        let replies =
            futures::future::join_all(pending.map(|n| async move { (n.id, client.status(&n.cluster).await) }));
        answers.extend(replies.await.into_iter().filter_map(|(id, r)| r.ok().map(|s| (id, s))));
        if answers.len() == total {
            tracing::info!(total, "every node answers");
            return Ok(answers);
        }
        check()?;
        let now = Instant::now();
        if now >= deadline {
            let missing: Vec<String> =
                layout.active().filter(|n| !answers.contains_key(&n.id)).map(|n| n.id.to_string()).collect();
            return Err(Error::Timeout {
                what: format!("node(s) {} to answer /cluster/status (see their node.log)", missing.join(", ")),
                after: timeout,
            });
        }
        let changed = last_progress.is_none_or(|(n, at)| n != answers.len() || now - at >= PROGRESS_EVERY);
        if changed {
            tracing::info!(answering = answers.len(), total, "waiting for nodes to answer");
            last_progress = Some((answers.len(), now));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `/admin/init` on the first voter with every voter of the layout.
async fn init(layout: &ClusterLayout, client: &ClusterClient) -> Result<(), Error> {
    let voters: BTreeMap<NodeId, _> = layout.with_role(LocalRole::Voter).map(|n| (n.id, n.addr())).collect();
    let first = layout
        .with_role(LocalRole::Voter)
        .min_by_key(|n| n.id)
        .ok_or_else(|| Error::Usage("the cluster file lists no voter; a cluster needs at least one".into()))?;
    tracing::info!(node = first.id, voters = ?voters.keys().collect::<Vec<_>>(), "initializing the membership");
    client.init(&first.cluster, voters).await.map_err(Error::api(format!("{} ({})", first.id, first.cluster)))?;
    Ok(())
}

async fn wait_leader(
    layout: &ClusterLayout,
    client: &ClusterClient,
    timeout: Duration,
    check: Check<'_>,
) -> Result<NodeStatus, Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let probes = status::probe(client, Seed::from_layout(layout)).await;
        let merged = status::merge(&probes);
        if let Some(leader) = merged.leader {
            tracing::info!(leader, term = merged.term, "leader elected");
            return Ok(answer_of(probes, leader).expect("the leader answered"));
        }
        check()?;
        if Instant::now() >= deadline {
            return Err(Error::Timeout { what: "a leader to be elected".into(), after: timeout });
        }
        tokio::time::sleep(POLL).await;
    }
}

fn answer_of(probes: Vec<Probe>, id: NodeId) -> Option<NodeStatus> {
    probes.into_iter().filter_map(|p| p.status).find(|s| s.id == id)
}

/// Add every edge of the layout that is not in the leader's membership. Retries
/// while the cluster is between leaders.
async fn add_missing_learners(
    layout: &ClusterLayout,
    client: &ClusterClient,
    leader: &NodeStatus,
    timeout: Duration,
) -> Result<(), Error> {
    let members: BTreeSet<NodeId> = leader.members.iter().map(|m| m.id).collect();
    for edge in layout.with_role(LocalRole::Edge).filter(|n| !members.contains(&n.id)) {
        let deadline = Instant::now() + timeout;
        loop {
            match client.add_learner(&leader.cluster, edge.id, edge.addr()).await {
                Ok(_) => break,
                Err(e) if e.is_retryable() && Instant::now() < deadline => {
                    tracing::info!(node = edge.id, error = %e, "adding learner; retrying");
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Err(Error::api(format!("{} ({})", leader.id, leader.cluster))(e)),
            }
        }
        tracing::info!(node = edge.id, "added as learner");
    }
    Ok(())
}
