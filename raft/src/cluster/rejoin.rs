//! A node that restarts into a running cluster holds its own elections back until it
//! hears from the leader.
//!
//! Without this, a restarted follower deposed a healthy leader: its election timer
//! (200–300 ms) ran out before the leader reached it again, because openraft backs off
//! from a peer that refused connections while it was down. It then campaigned with a
//! higher term; the leader, past its own lease, granted the vote and stepped down, and
//! the cluster was without a leader for 0.6–1.8 s in the `rolling-restart` drill with
//! every node alive (issue 15). openraft 0.9 has no pre-vote; starting with its
//! `enable_elect` off, and turning it on later through its runtime config, is the part
//! of pre-vote that matters here: the node still votes and accepts entries, it only
//! does not start a campaign of its own.
//!
//! The hold ends when a leader's AppendEntries arrived ([`Contact::last_leader_contact`])
//! or after [`RaftSettings::rejoin_hold`], whichever is first: if the whole cluster
//! restarted, or the leader died while this node was down, there is no leader to hear
//! from and elections go on as usual after the hold.
//!
//! A node that stops does the opposite first: [`Cluster::stop_campaigning`]. Its
//! listeners close before Raft does (about a second while clients drain), so the
//! leader's heartbeats no longer reach it; its election timer ran out, it voted for
//! itself in a new term and kept that vote on disk, and after the restart its first
//! answer to the leader carried the higher term and deposed it (300–350 ms without a
//! leader per follower restart in the release `rolling-restart` drill).
//!
//! [`Contact::last_leader_contact`]: crate::contact::Contact::last_leader_contact
//! [`RaftSettings::rejoin_hold`]: crate::RaftSettings::rejoin_hold

use std::time::{Duration, Instant};

use openraft::storage::{RaftLogStorage, StorageHelper};
use tokio::task::JoinHandle;

use super::Cluster;
use crate::types::{NodeId, TypeConfig};
use crate::{Error, StateMachineStore};

/// How often the hold looks for a leader's contact.
const POLL: Duration = Duration::from_millis(10);

/// Whether node `id` starts into a cluster it already belongs to with other voters:
/// then it starts with elections disabled. The membership is read as openraft reads
/// it at start (the applied state, then the log after it), since a young cluster has
/// no snapshot and its membership lives only in the log.
pub(super) async fn is_rejoining<LS>(id: NodeId, log_store: &mut LS, sm: &mut StateMachineStore) -> Result<bool, Error>
where
    LS: RaftLogStorage<TypeConfig>,
{
    let membership =
        StorageHelper::new(log_store, sm).get_membership().await.map_err(|e| Error::Storage(e.to_string()))?;
    let voters: Vec<NodeId> = membership.effective().membership().voter_ids().collect();
    Ok(voters.len() >= 2 && voters.contains(&id))
}

impl Cluster {
    /// A node about to stop never starts a campaign again: elections off, and a rejoin
    /// hold still running (it would turn them on) ended. It still votes and takes
    /// entries until Raft stops.
    pub fn stop_campaigning(&self) {
        if let Some(hold) = self.inner.rejoin_hold.lock().expect("rejoin hold lock").take() {
            hold.abort();
        }
        self.inner.raft.runtime_config().elect(false);
    }

    /// The task that enables elections again once the leader was heard from or the hold
    /// ran out (the node was started with them disabled: [`is_rejoining`]).
    pub(super) fn end_rejoin_hold(&self) -> JoinHandle<()> {
        let cluster = self.clone();
        let me = self.inner.id;
        let hold = self.inner.settings.rejoin_hold();
        tracing::info!(
            node = me,
            hold_ms = hold.as_millis() as u64,
            "rejoining: no campaign until the leader is heard"
        );
        tokio::spawn(async move {
            let started = Instant::now();
            while started.elapsed() < hold && cluster.inner.contact.last_leader_contact().is_none() {
                tokio::time::sleep(POLL).await;
            }
            cluster.inner.raft.runtime_config().elect(true);
            let heard_leader = cluster.inner.contact.last_leader_contact().is_some();
            let waited_ms = started.elapsed().as_millis() as u64;
            tracing::info!(node = me, heard_leader, waited_ms, "rejoined: elections enabled");
        })
    }
}
