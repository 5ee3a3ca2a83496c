//! Planned leadership transfer: the leader hands leadership to an up-to-date voter
//! before a restart, so clients see no election timeout.
//!
//! openraft 0.9 has no transfer API, so the transfer is built from what it has:
//!
//! 1. The leader closes its write gate (`writes_open`): appends in flight finish, new
//!    ones wait, so its log stops growing.
//! 2. It waits until the successor's replicated index reaches its last log index.
//! 3. It asks the successor to campaign at once (`POST /admin/campaign`, which calls
//!    `trigger().elect()` there).
//! 4. The old leader grants that vote: it is not protected by a leader lease of its
//!    own (openraft sets a leader's vote time when it was elected, and a leader of more
//!    than `election_max_ms` passes the lease check), and the successor's log is as
//!    long as its own. With 3 voters, the successor's own vote and the old leader's are
//!    a majority, so it wins in one round trip. With 5, a third vote must come from a
//!    follower, which refuses votes for `election_max_ms` after the last heartbeat
//!    (openraft's leader lease); the successor then wins its next campaign after an
//!    election timeout, still without the dead-leader detection time.
//! 5. The gate opens again; the writes that waited fail with `NotLeader` and are
//!    retried on the new leader with the same request ids.
//!
//! A transfer that does not complete within its deadline opens the gate and fails,
//! leaving the old leader in charge (unless the successor won meanwhile).

use std::time::{Duration, Instant};

use super::Cluster;
use crate::api::{AdminOk, Handover};
use crate::types::NodeId;
use crate::Error;

/// How often the waits below look at the Raft metrics when nothing changed.
const POLL: Duration = Duration::from_millis(5);

impl Cluster {
    /// Hand leadership to `to`, or to the most up-to-date other voter, within `within`.
    /// Only the leader can do this: elsewhere it fails with `NotLeader`.
    pub async fn transfer_leadership(&self, to: Option<NodeId>, within: Duration) -> Result<Handover, Error> {
        let deadline = Instant::now() + within;
        let me = self.inner.id;
        let leader = self.inner.raft.metrics().borrow().current_leader;
        if leader != Some(me) {
            return Err(Error::NotLeader { leader });
        }
        let successor = self.successor(to)?;
        self.wait_leader_lease_passed(deadline).await?;
        let started = Instant::now();
        let gate = tokio::time::timeout_at(deadline.into(), self.inner.writes_open.write())
            .await
            .map_err(|_| self.timeout(within, "the writes in flight to finish"))?;
        let result = self.hand_to(successor, deadline, within).await;
        drop(gate);
        result?;
        let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(from = me, to = successor, took_ms, "leadership handed over");
        Ok(Handover { from: me, to: successor, took_ms })
    }

    /// Campaign now (the successor's half of a transfer). Refused on a non-voter.
    pub async fn campaign(&self) -> Result<(), Error> {
        if !self.voters().contains(&self.inner.id) {
            return Err(Error::Invalid(format!("node {} is not a voter and cannot lead", self.inner.id)));
        }
        tracing::info!(node = self.inner.id, "campaigning on request (leadership transfer)");
        self.inner.raft.trigger().elect().await.map_err(|e| Error::Raft(e.to_string()))
    }

    /// The chosen successor: `to` if it is another voter, else the other voter that
    /// has replicated the most.
    fn successor(&self, to: Option<NodeId>) -> Result<NodeId, Error> {
        let me = self.inner.id;
        let voters = self.voters();
        if let Some(to) = to {
            return match to {
                _ if to == me => Err(Error::Invalid(format!("node {to} already leads"))),
                _ if !voters.contains(&to) => Err(Error::Invalid(format!("node {to} is not a voter"))),
                _ => Ok(to),
            };
        }
        let replicated = self.inner.raft.metrics().borrow().replication.clone().unwrap_or_default();
        voters
            .into_iter()
            .filter(|id| *id != me)
            .max_by_key(|id| (replicated.get(id).copied().flatten().map(|l| l.index), std::cmp::Reverse(*id)))
            .ok_or_else(|| Error::Invalid("no other voter to hand leadership to".into()))
    }

    /// A leader elected less than `election_max_ms` ago would refuse the successor's
    /// vote request under openraft's leader lease; wait that out.
    async fn wait_leader_lease_passed(&self, deadline: Instant) -> Result<(), Error> {
        // `leader_since` is sampled every 20 ms by `watch`: allow for that too.
        let lease = Duration::from_millis(self.inner.settings.election_max_ms + 40);
        loop {
            let since = *self.inner.leader_since.lock().expect("leader_since lock");
            if since.is_some_and(|s| s.elapsed() >= lease) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(lease.as_millis() as u64));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// With the gate closed: catch the successor up, make it campaign, wait until it leads.
    async fn hand_to(&self, successor: NodeId, deadline: Instant, within: Duration) -> Result<(), Error> {
        let addr = self.member_addr(successor).ok_or(Error::NoLeader)?;
        let mut metrics = self.inner.raft.metrics();
        let caught_up = metrics.wait_for(|m| {
            let last = m.last_log_index.unwrap_or(0);
            let matched = m.replication.as_ref().and_then(|r| r.get(&successor).copied().flatten());
            matched.is_some_and(|l| l.index >= last)
        });
        tokio::time::timeout_at(deadline.into(), caught_up)
            .await
            .map_err(|_| self.timeout(within, &format!("node {successor} to catch up")))?
            .map_err(|e| Error::Raft(e.to_string()))?;
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let _: AdminOk = self.inner.client.post(&addr.cluster, "/admin/campaign", &(), remaining).await?;
        let leads = metrics.wait_for(|m| m.current_leader == Some(successor));
        tokio::time::timeout_at(deadline.into(), leads)
            .await
            .map_err(|_| self.timeout(within, &format!("node {successor} to lead")))?
            .map_err(|e| Error::Raft(e.to_string()))?;
        Ok(())
    }

    fn timeout(&self, within: Duration, what: &str) -> Error {
        tracing::warn!(node = self.inner.id, "leadership transfer gave up waiting for {what}");
        Error::Timeout(u64::try_from(within.as_millis()).unwrap_or(u64::MAX))
    }
}
