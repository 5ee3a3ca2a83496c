//! The openraft network over the cluster listener: each RPC is one HTTP POST with a
//! JSON body, authenticated by the cluster secret. Successful answers are recorded in
//! [`Contact`]; while fault injection isolates this node, every RPC fails as
//! unreachable without touching the wire.
//!
//! AppendEntries outlive openraft's deadline. openraft 0.9 gives each one the
//! heartbeat interval and then drops the call; dropping an HTTP request closes its
//! connection, and a follower still reading a large batch then never receives it, so
//! under load the leader kept resending batches that never arrived, and the follower,
//! hearing nothing, started an election. Here the request runs in a task of its own:
//! a timed-out append still reaches the follower (resetting its election timer and
//! storing the entries). The next append is sent at once, next to it; only when
//! [`DETACHED_APPENDS`] are still running does a new one wait for the oldest. (Waiting
//! for every earlier one made each call spend its deadline on the previous request: a
//! follower answering in 40 to 70 ms then never answered in time again.)

use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::append_budget::{self, APPEND_BODY_BUDGET};
use crate::client::ClusterClient;
use crate::contact::Contact;
use crate::types::{NodeAddr, NodeId, TypeConfig};
use crate::Error;

/// Shortest time an AppendEntries RPC is given before it counts as timed out.
const MIN_APPEND_TTL: Duration = Duration::from_millis(1000);
/// AppendEntries to one peer that may run at once (openraft's current call included).
const DETACHED_APPENDS: usize = 2;

/// Creates one [`PeerLink`] per peer for openraft.
#[derive(Clone)]
pub struct Network {
    client: ClusterClient,
    contact: Contact,
}

impl Network {
    pub fn new(client: ClusterClient, contact: Contact) -> Self {
        Self { client, contact }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> PeerLink {
        let route =
            Route { target, addr: node.cluster.clone(), client: self.client.clone(), contact: self.contact.clone() };
        PeerLink { route, appends_in_flight: Vec::new() }
    }
}

/// The RPC path to one peer.
pub struct PeerLink {
    route: Route,
    /// AppendEntries sent to this peer that may still be running (see the module doc).
    appends_in_flight: Vec<JoinHandle<AppendResult>>,
}

/// Where and how one peer is called; cheap to clone into a detached request.
#[derive(Clone)]
struct Route {
    target: NodeId,
    addr: String,
    client: ClusterClient,
    contact: Contact,
}

type AppendResult = Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, NodeAddr, RaftError<NodeId>>>;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct LinkError(String);

impl Route {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<NodeId, NodeAddr, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        if self.contact.is_isolated() {
            return Err(RPCError::Unreachable(Unreachable::new(&LinkError("isolated by fault injection".into()))));
        }
        let answer: Result<Result<Resp, RaftError<NodeId, E>>, Error> =
            self.client.post(&self.addr, path, req, ttl).await;
        match answer {
            Ok(Ok(resp)) => {
                self.contact.peer_answered(self.target);
                Ok(resp)
            }
            Ok(Err(remote)) => {
                self.contact.peer_answered(self.target);
                Err(RPCError::RemoteError(RemoteError::new(self.target, remote)))
            }
            // Refused or reset: openraft backs off from this peer for a while.
            Err(Error::Network(e)) => Err(RPCError::Unreachable(Unreachable::new(&LinkError(e)))),
            // Slow (a timeout) or a bad answer: retried without backing off.
            Err(e) => Err(RPCError::Network(NetworkError::new(&LinkError(e.to_string())))),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, NodeAddr, RaftError<NodeId>>> {
        // openraft's deadline is the heartbeat interval; a busy 2-core machine can
        // take longer to answer. The request gets at least MIN_APPEND_TTL, detached.
        self.appends_in_flight.retain(|request| !request.is_finished());
        if self.appends_in_flight.len() >= DETACHED_APPENDS {
            // Its answer went to a call openraft gave up on: only its completion matters.
            let _ = self.appends_in_flight.remove(0).await;
        }
        let route = self.route.clone();
        let ttl = option.hard_ttl().max(MIN_APPEND_TTL);
        // A batch over the body budget is cut; the rest goes in the next call.
        let cut_at = append_budget::fit(&mut rpc, APPEND_BODY_BUDGET);
        self.appends_in_flight.push(tokio::spawn(async move { route.call("/raft/append", &rpc, ttl).await }));
        // If openraft gives up on this call, the request stays in the list and runs on.
        let answer = match self.appends_in_flight.last_mut() {
            Some(request) => request.await,
            None => unreachable!("a request was just added"),
        };
        self.appends_in_flight.pop();
        match answer {
            Ok(Ok(AppendEntriesResponse::Success)) if cut_at.is_some() => {
                Ok(AppendEntriesResponse::PartialSuccess(cut_at))
            }
            Ok(answer) => answer,
            Err(e) => Err(RPCError::Network(NetworkError::new(&LinkError(e.to_string())))),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, NodeAddr, RaftError<NodeId, InstallSnapshotError>>>
    {
        self.route.call("/raft/snapshot", &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, NodeAddr, RaftError<NodeId>>> {
        self.route.call("/raft/vote", &rpc, option.hard_ttl()).await
    }
}
