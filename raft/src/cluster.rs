//! The [`Cluster`] handle: the one door through which a node writes and reads the
//! replicated control state.
//!
//! Writes ([`Cluster::propose`]) are batched, sent to the leader (locally or
//! forwarded over the cluster listener, retried across leader changes with the same
//! request ids so each applies once), and acknowledged only after every live node has
//! applied them. Reads ([`Cluster::read`]) are served from the local replica, but only
//! while this node is *fresh*: a leader within its quorum lease, or a follower that
//! heard from the leader within its lease and applied what the leader had committed.
//! Together these make local reads behave as if linearizable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{ChangeMembers, RaftMetrics};
use tokio::task::JoinHandle;

use crate::api::{Member, MemberRole, NodeStatus, ServerState, WriteAck};
use crate::apply_wait::PeersApplied;
use crate::client::ClusterClient;
use crate::command::{Command, Outcome, Proposal, Request};
use crate::contact::Contact;
use crate::network::Network;
use crate::proposer::Proposer;
use crate::state::ClusterState;
use crate::state_machine::StateMachineStore;
use crate::types::{NodeAddr, NodeId, Raft, TypeConfig};
use crate::{liveness, Error, RaftSettings};

mod handover;
mod rejoin;

/// How long a read waits for this node to become fresh before giving up.
const READ_WAIT: Duration = Duration::from_millis(1500);

/// Handle to this node's Raft member. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    id: NodeId,
    addr: NodeAddr,
    raft: Raft,
    sm: StateMachineStore,
    client: ClusterClient,
    contact: Contact,
    settings: RaftSettings,
    proposer: Mutex<Option<Proposer>>,
    /// On the leader, every write (this node's and forwarded ones) queues here, so
    /// requests from all nodes that arrive while one entry is being appended share the
    /// next entry.
    leader_queue: Mutex<Option<Proposer>>,
    peers_applied: PeersApplied,
    leader_since: Mutex<Option<Instant>>,
    forwarded: std::sync::atomic::AtomicU64,
    stale_since: Mutex<Option<Instant>>,
    /// Held shared by every leader append, exclusively by a planned leadership transfer
    /// (`handover.rs`): the transfer waits for the appends in flight and holds back new
    /// ones, so the chosen successor can be fully caught up before it campaigns.
    writes_open: tokio::sync::RwLock<()>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The task ending a rejoin hold while it runs (`rejoin`).
    rejoin_hold: Mutex<Option<JoinHandle<()>>>,
}

impl Cluster {
    /// Start the Raft member `id` on the given storage. `secret` authenticates this
    /// node to its peers; `addr` is how the others reach it.
    pub async fn start<LS>(
        id: NodeId,
        addr: NodeAddr,
        secret: &str,
        settings: RaftSettings,
        log_store: LS,
        sm: StateMachineStore,
    ) -> Result<Self, Error>
    where
        LS: RaftLogStorage<TypeConfig>,
    {
        settings.validate()?;
        let mut log_store = log_store;
        raise_vote_to_applied(id, &mut log_store, &mut sm.clone()).await?;
        let rejoining = rejoin::is_rejoining(id, &mut log_store, &mut sm.clone()).await?;
        let mut config = settings.openraft_config(id)?;
        // A node rejoining its cluster campaigns only after the hold (`rejoin.rs`).
        config.enable_elect = !rejoining;
        let config = Arc::new(config);
        let client = ClusterClient::for_node(secret, id);
        let contact = Contact::default();
        let network = Network::new(client.clone(), contact.clone());
        let raft =
            Raft::new(id, config, network, log_store, sm.clone()).await.map_err(|e| Error::Raft(e.to_string()))?;
        let peers_applied = PeersApplied::new(client.clone(), contact.clone(), settings.lease());
        let cluster = Self {
            inner: Arc::new(Inner {
                id,
                addr,
                raft,
                sm,
                client,
                contact,
                settings,
                proposer: Mutex::new(None),
                leader_queue: Mutex::new(None),
                peers_applied,
                leader_since: Mutex::new(None),
                forwarded: Default::default(),
                stale_since: Mutex::new(Some(Instant::now())),
                writes_open: tokio::sync::RwLock::new(()),
                tasks: Mutex::new(Vec::new()),
                rejoin_hold: Mutex::new(None),
            }),
        };
        let submitter = cluster.clone();
        let (proposer, proposer_task) = Proposer::start(move |proposal| {
            let cluster = submitter.clone();
            async move { cluster.commit(proposal).await }
        });
        *cluster.inner.proposer.lock().expect("proposer lock") = Some(proposer);
        let appender = cluster.clone();
        let (leader_queue, leader_queue_task) = Proposer::start(move |proposal| {
            let cluster = appender.clone();
            async move { cluster.append_as_leader(proposal).await }
        });
        *cluster.inner.leader_queue.lock().expect("leader queue lock") = Some(leader_queue);
        let watcher = tokio::spawn(cluster.clone().watch());
        let detector = tokio::spawn(liveness::run(cluster.clone()));
        let tasks = [proposer_task, leader_queue_task, watcher, detector];
        cluster.inner.tasks.lock().expect("tasks lock").extend(tasks);
        if rejoining {
            let hold = cluster.end_rejoin_hold();
            *cluster.inner.rejoin_hold.lock().expect("rejoin hold lock") = Some(hold);
        }
        Ok(cluster)
    }

    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    pub fn state_machine(&self) -> &StateMachineStore {
        &self.inner.sm
    }

    pub fn contact(&self) -> &Contact {
        &self.inner.contact
    }

    pub fn client(&self) -> &ClusterClient {
        &self.inner.client
    }

    pub fn settings(&self) -> &RaftSettings {
        &self.inner.settings
    }

    /// Write batches this node forwarded to a leader (retries included).
    pub fn forwarded_batches(&self) -> u64 {
        self.inner.forwarded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes refused for not fitting in one log entry (`Error::TooLarge`).
    pub fn oversized_requests(&self) -> u64 {
        let proposer = self.inner.proposer.lock().expect("proposer lock").clone();
        proposer.map_or(0, |p| p.oversized())
    }

    pub fn metrics(&self) -> RaftMetrics<NodeId, NodeAddr> {
        self.inner.raft.metrics().borrow().clone()
    }

    // ----- writes -------------------------------------------------------------------

    /// Commit one command and return its outcome, once every live node applied it.
    pub async fn propose(&self, command: Command) -> Result<Outcome, Error> {
        self.propose_request(Request::new(command)).await.map(|(_, outcome)| outcome)
    }

    /// Commit a request with a caller-chosen id; returns the log index and outcome.
    pub async fn propose_request(&self, request: Request) -> Result<(u64, Outcome), Error> {
        let proposer = self.inner.proposer.lock().expect("proposer lock").clone();
        let Some(proposer) = proposer else {
            return Err(Error::Raft("cluster is shut down".into()));
        };
        proposer.propose(request).await.map_err(unshare)
    }

    /// Commit a batch, forwarding to the leader and retrying across leader changes
    /// until the write deadline. Retries reuse the request ids, so nothing applies twice.
    async fn commit(&self, proposal: Proposal) -> Result<WriteAck, Error> {
        let deadline = Instant::now() + Duration::from_millis(self.inner.settings.write_timeout_ms);
        let mut last_error = Error::NoLeader;
        while Instant::now() < deadline {
            let leader = self.inner.raft.metrics().borrow().current_leader;
            let attempt = match leader {
                Some(leader) if leader == self.inner.id => self.commit_as_leader(proposal.clone()).await,
                Some(leader) => self.commit_via(leader, &proposal, deadline).await,
                None => Err(Error::NoLeader),
            };
            match attempt {
                Ok(ack) => return Ok(ack),
                Err(e) if e.is_retryable() => {
                    last_error = e;
                    self.wait_for_leader_change(leader, Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(match last_error {
            Error::NoLeader => Error::NoLeader,
            _ => Error::Timeout(self.inner.settings.write_timeout_ms),
        })
    }

    /// Leader side of a write: append, commit, apply, then wait until every live
    /// node applied it. Also serves batches forwarded by other nodes. The requests go
    /// through the leader queue, one entry in flight at a time, so batches from every
    /// node that arrive meanwhile share one entry: one append, one flush and one
    /// AppendEntries per follower for all of them.
    pub async fn commit_as_leader(&self, proposal: Proposal) -> Result<WriteAck, Error> {
        let queue = self.inner.leader_queue.lock().expect("leader queue lock").clone();
        let Some(queue) = queue else {
            return Err(Error::Raft("cluster is shut down".into()));
        };
        let committed = futures::future::join_all(proposal.requests.into_iter().map(|r| queue.propose(r))).await;
        let mut ack = WriteAck { index: 0, outcomes: Vec::with_capacity(committed.len()) };
        for result in committed {
            // A request that failed fails the batch; the sender retries it whole with
            // the same request ids, and those that did commit are answered from the
            // deduplication memory.
            let (index, outcome) = result.map_err(unshare)?;
            ack.index = ack.index.max(index);
            ack.outcomes.push(outcome);
        }
        self.wait_peers_applied(ack.index).await;
        Ok(ack)
    }

    /// Append one entry as the leader and wait until it is committed and applied here.
    async fn append_as_leader(&self, proposal: Proposal) -> Result<WriteAck, Error> {
        if self.inner.contact.is_isolated() {
            // An isolated leader cannot reach a quorum; fail fast so callers retry.
            return Err(Error::NotLeader { leader: None });
        }
        // Waits while a leadership transfer is under way; the write then fails with
        // `NotLeader` and is retried on the successor.
        let _open = self.inner.writes_open.read().await;
        let resp = self.inner.raft.client_write(proposal).await.map_err(|e| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Error::NotLeader { leader: f.leader_id },
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => Error::Invalid(e.to_string()),
            RaftError::Fatal(f) => Error::Raft(f.to_string()),
        })?;
        Ok(WriteAck { index: resp.log_id.index, outcomes: resp.data })
    }

    async fn commit_via(&self, leader: NodeId, proposal: &Proposal, deadline: Instant) -> Result<WriteAck, Error> {
        if self.inner.contact.is_isolated() {
            return Err(Error::Network("isolated by fault injection".into()));
        }
        let addr = self.member_addr(leader).ok_or(Error::NoLeader)?;
        self.inner.forwarded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let timeout = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        // A leader that stopped answering (paused, cut off) holds the forwarded batch
        // until it resumes; once this node learns of another leader, retry there at
        // once (same request ids, so nothing applies twice) instead of waiting for it.
        let mut metrics = self.inner.raft.metrics();
        let replaced = async move {
            let _ = metrics.wait_for(|m| m.current_leader != Some(leader)).await;
        };
        let ack = tokio::select! {
            ack = self.inner.client.write(&addr.cluster, proposal, timeout) => ack?,
            () = replaced => return Err(Error::NotLeader { leader: None }),
        };
        // The leader waited for every live node, this one included; make sure this
        // node's own reads reflect the write before answering.
        self.wait_applied(ack.index, Duration::from_millis(self.inner.settings.lease_ms * 4)).await;
        Ok(ack)
    }

    async fn wait_peers_applied(&self, index: u64) {
        let peers: Vec<(NodeId, String)> = self
            .members()
            .into_iter()
            .filter(|(id, _)| *id != self.inner.id)
            .map(|(id, addr)| (id, addr.cluster))
            .collect();
        let since = self.inner.leader_since.lock().expect("leader_since lock").unwrap_or_else(Instant::now);
        self.inner.peers_applied.wait_all(index, &peers, since).await;
    }

    /// The highest log index this node applied.
    pub fn applied_index(&self) -> u64 {
        self.inner.sm.applied_index()
    }

    /// Wait until this node applied `index`, up to `max`; returns the applied index.
    pub async fn wait_applied(&self, index: u64, max: Duration) -> u64 {
        let mut applied = self.inner.sm.watch_applied();
        let _ = tokio::time::timeout(max, applied.wait_for(|a| *a >= index)).await;
        self.inner.sm.applied_index()
    }

    async fn wait_for_leader_change(&self, previous: Option<NodeId>, max: Duration) {
        let mut metrics = self.inner.raft.metrics();
        let _ = tokio::time::timeout(max, metrics.wait_for(|m| m.current_leader != previous)).await;
    }

    // ----- reads --------------------------------------------------------------------

    /// Read the replicated state as a client may: waits (bounded) until this node is
    /// fresh, so the read reflects every write acknowledged before it began.
    pub async fn read<T>(&self, f: impl FnOnce(&ClusterState) -> T) -> Result<T, Error> {
        let deadline = Instant::now() + READ_WAIT;
        loop {
            if self.is_fresh() {
                return Ok(self.inner.sm.read(f));
            }
            if Instant::now() >= deadline {
                return Err(Error::Stale);
            }
            let mut applied = self.inner.sm.watch_applied();
            let _ = tokio::time::timeout(Duration::from_millis(10), applied.changed()).await;
        }
    }

    /// Read this replica as it is, fresh or not (status pages, diagnostics).
    pub fn read_local<T>(&self, f: impl FnOnce(&ClusterState) -> T) -> T {
        self.inner.sm.read(f)
    }

    /// Whether reads on this node reflect every acknowledged write right now.
    pub fn is_fresh(&self) -> bool {
        if self.inner.contact.is_isolated() {
            return false;
        }
        let lease = self.inner.settings.lease();
        let (state, quorum_ack) = {
            let m = self.inner.raft.metrics();
            let m = m.borrow();
            (m.state, m.millis_since_quorum_ack)
        };
        match state {
            openraft::ServerState::Leader => quorum_ack.is_some_and(|ms| Duration::from_millis(ms) < lease),
            openraft::ServerState::Follower | openraft::ServerState::Learner => {
                match self.inner.contact.last_leader_contact() {
                    Some(contact) => contact.at.elapsed() < lease && self.inner.sm.applied_index() >= contact.commit,
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// Whether the node should receive client traffic (`/api/health` 200): fresh now,
    /// or stale for less than `grace` (a normal election must not empty the pool).
    pub fn is_ready(&self, grace: Duration) -> bool {
        if self.inner.contact.clients_blocked() {
            return false;
        }
        match *self.inner.stale_since.lock().expect("stale lock") {
            None => true,
            Some(since) => since.elapsed() < grace && self.has_been_fresh(),
        }
    }

    fn has_been_fresh(&self) -> bool {
        self.inner.contact.last_leader_contact().is_some() || self.inner.leader_since.lock().expect("lock").is_some()
    }

    /// Background task: tracks leadership start and staleness.
    async fn watch(self) {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut was_leader = false;
        loop {
            tick.tick().await;
            let is_leader = self.inner.raft.metrics().borrow().state == openraft::ServerState::Leader;
            if is_leader != was_leader {
                *self.inner.leader_since.lock().expect("lock") = is_leader.then(Instant::now);
                was_leader = is_leader;
            }
            let fresh = self.is_fresh();
            let mut stale = self.inner.stale_since.lock().expect("stale lock");
            match (fresh, stale.is_some()) {
                (true, true) => *stale = None,
                (false, false) => *stale = Some(Instant::now()),
                _ => {}
            }
        }
    }

    // ----- Raft RPCs received over the cluster listener --------------------------------

    pub async fn handle_append(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> {
        let leader = rpc.vote.leader_id().voted_for();
        let term = rpc.vote.leader_id().get_term();
        let commit = rpc.leader_commit.map_or(0, |c| c.index);
        let resp = self.inner.raft.append_entries(rpc).await?;
        if matches!(resp, AppendEntriesResponse::Success | AppendEntriesResponse::PartialSuccess(_)) {
            if let Some(leader) = leader {
                self.inner.contact.leader_heard(leader, term, commit);
            }
        }
        Ok(resp)
    }

    pub async fn handle_vote(&self, rpc: VoteRequest<NodeId>) -> Result<VoteResponse<NodeId>, RaftError<NodeId>> {
        self.inner.raft.vote(rpc).await
    }

    pub async fn handle_snapshot(
        &self,
        rpc: InstallSnapshotRequest<TypeConfig>,
    ) -> Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, openraft::error::InstallSnapshotError>> {
        self.inner.raft.install_snapshot(rpc).await
    }

    // ----- membership -------------------------------------------------------------------

    /// Every member (voters and learners) with its address.
    pub fn members(&self) -> BTreeMap<NodeId, NodeAddr> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        m.membership_config.membership().nodes().map(|(id, addr)| (*id, addr.clone())).collect()
    }

    pub fn voters(&self) -> BTreeSet<NodeId> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        m.membership_config.membership().voter_ids().collect()
    }

    fn member_addr(&self, id: NodeId) -> Option<NodeAddr> {
        self.members().get(&id).cloned()
    }

    /// The cluster address of the current leader, if known and not this node.
    pub fn leader_addr(&self) -> Option<(NodeId, String)> {
        let leader = self.inner.raft.metrics().borrow().current_leader?;
        self.member_addr(leader).map(|a| (leader, a.cluster))
    }

    /// Bootstrap a new cluster with `voters` (must include this node).
    pub async fn initialize(&self, voters: BTreeMap<NodeId, NodeAddr>) -> Result<(), Error> {
        if !voters.contains_key(&self.inner.id) {
            return Err(Error::Invalid(format!("the voter list must include this node ({})", self.inner.id)));
        }
        self.inner.raft.initialize(voters).await.map_err(|e| Error::Invalid(e.to_string()))
    }

    /// Add a learner and wait until it caught up (leader only).
    pub async fn add_learner(&self, id: NodeId, addr: NodeAddr) -> Result<(), Error> {
        self.inner.raft.add_learner(id, addr, true).await.map(|_| ()).map_err(membership_error)
    }

    /// Turn a learner into a voter (leader only).
    pub async fn promote(&self, id: NodeId) -> Result<(), Error> {
        if !self.members().contains_key(&id) {
            return Err(Error::Invalid(format!("node {id} is not a member; add it as a learner first")));
        }
        let change = ChangeMembers::AddVoterIds([id].into_iter().collect());
        self.inner.raft.change_membership(change, false).await.map(|_| ()).map_err(membership_error)
    }

    /// Remove a voter or learner from the cluster (leader only).
    pub async fn remove(&self, id: NodeId) -> Result<(), Error> {
        let ids: BTreeSet<NodeId> = [id].into_iter().collect();
        let change = if self.voters().contains(&id) {
            ChangeMembers::RemoveVoters(ids)
        } else if self.members().contains_key(&id) {
            ChangeMembers::RemoveNodes(ids)
        } else {
            return Err(Error::Invalid(format!("node {id} is not a member")));
        };
        self.inner.raft.change_membership(change, false).await.map(|_| ()).map_err(membership_error)
    }

    // ----- status -----------------------------------------------------------------------

    pub fn status(&self, health_grace: Duration) -> NodeStatus {
        let m = self.metrics();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let mut members: Vec<Member> = membership
            .nodes()
            .map(|(id, addr)| Member {
                id: *id,
                role: if voters.contains(id) { MemberRole::Voter } else { MemberRole::Learner },
                public: addr.public.clone(),
                cluster: addr.cluster.clone(),
            })
            .collect();
        members.sort_by_key(|m| (m.role == MemberRole::Learner, m.id));
        let role = members.iter().find(|mem| mem.id == self.inner.id).map(|mem| mem.role);
        NodeStatus {
            id: self.inner.id,
            role,
            state: match m.state {
                openraft::ServerState::Leader => ServerState::Leader,
                openraft::ServerState::Follower => ServerState::Follower,
                openraft::ServerState::Learner => ServerState::Learner,
                openraft::ServerState::Candidate => ServerState::Candidate,
                openraft::ServerState::Shutdown => ServerState::Shutdown,
            },
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            last_applied: m.last_applied.map_or(0, |l| l.index),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            purged_index: m.purged.map_or(0, |l| l.index),
            fresh: self.is_fresh(),
            ready: self.is_ready(health_grace),
            public: self.inner.addr.public.clone(),
            cluster: self.inner.addr.cluster.clone(),
            members,
            isolated: self.inner.contact.is_isolated(),
        }
    }

    /// Stop background work and Raft. Storage is flushed by its own drop.
    pub async fn shutdown(&self) {
        self.inner.proposer.lock().expect("proposer lock").take();
        self.inner.leader_queue.lock().expect("leader queue lock").take();
        for task in self.inner.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
        self.stop_campaigning();
        self.inner.peers_applied.stop();
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
    }
}

fn membership_error(e: RaftError<NodeId, ClientWriteError<NodeId, NodeAddr>>) -> Error {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Error::NotLeader { leader: f.leader_id },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => Error::Invalid(e.to_string()),
        RaftError::Fatal(f) => Error::Raft(f.to_string()),
    }
}

/// Errors shared by every request of a failed batch are re-created per caller.
/// The error of a request of a batch (shared by every request of the batch).
fn unshare(e: Arc<Error>) -> Error {
    match Arc::try_unwrap(e) {
        Ok(e) => e,
        Err(shared) => clone_error(&shared),
    }
}

fn clone_error(e: &Error) -> Error {
    match e {
        Error::NoLeader => Error::NoLeader,
        Error::Stale => Error::Stale,
        Error::Timeout(ms) => Error::Timeout(*ms),
        Error::NotLeader { leader } => Error::NotLeader { leader: *leader },
        Error::Network(m) => Error::Network(m.clone()),
        Error::Remote { status, message } => Error::Remote { status: *status, message: message.clone() },
        Error::Invalid(m) => Error::Invalid(m.clone()),
        Error::TooLarge { bytes, max } => Error::TooLarge { bytes: *bytes, max: *max },
        Error::Storage(m) => Error::Storage(m.clone()),
        Error::Raft(m) => Error::Raft(m.clone()),
    }
}

/// A node seeded from a restored backup (`chatctl restore`) starts with a snapshot of
/// term T and no vote: its first election would be for term 1, and a leader of term 1
/// cannot append after an entry of term T. A running node's vote is never behind what
/// it applied, so this changes nothing outside a restore: it records a vote for the
/// applied entry's term, from which the next election moves on.
async fn raise_vote_to_applied<LS>(id: NodeId, log_store: &mut LS, sm: &mut StateMachineStore) -> Result<(), Error>
where
    LS: RaftLogStorage<TypeConfig>,
{
    let storage = |e: openraft::StorageError<NodeId>| Error::Storage(e.to_string());
    let (applied, _) = sm.applied_state().await.map_err(storage)?;
    let Some(applied) = applied else { return Ok(()) };
    let vote = log_store.read_vote().await.map_err(storage)?.unwrap_or_default();
    if vote.leader_id().term < applied.leader_id.term {
        tracing::info!(term = applied.leader_id.term, "starting from a restored snapshot: vote raised to its term");
        log_store.save_vote(&openraft::Vote::new(applied.leader_id.term, id)).await.map_err(storage)?;
    }
    Ok(())
}
