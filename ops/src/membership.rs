//! Membership and leadership changes: `add-node`, `promote`, `remove-node`,
//! `transfer-leader`. Any member forwards a
//! change to the leader; chatctl sends it to the leader when one is known anyway,
//! which saves a hop and keeps the error messages first-hand.

use chat_raft::api::{AdminOk, Handover};
use chat_raft::client::ClusterClient;
use chat_raft::{NodeAddr, NodeId};

use crate::status;
use crate::target::Target;
use crate::Error;

/// A client, and the node to send a membership change to.
struct Admin {
    client: ClusterClient,
    addr: String,
    /// Names the node in errors: "node 3 (127.0.0.1:7003)".
    label: String,
}

async fn admin(target: &Target) -> Result<Admin, Error> {
    let (client, probes, merged) = status::gather(target).await?;
    let (id, addr) = status::admin_node(&probes, &merged).ok_or(Error::NoLeader)?;
    Ok(Admin { client, label: format!("{id} ({addr})"), addr })
}

/// Add node `id`, reachable at `addr`, as a learner.
pub async fn add_learner(target: &Target, id: NodeId, addr: NodeAddr) -> Result<AdminOk, Error> {
    let admin = admin(target).await?;
    admin.client.add_learner(&admin.addr, id, addr).await.map_err(Error::api(admin.label))
}

/// Promote learner `id` to voter.
pub async fn promote(target: &Target, id: NodeId) -> Result<AdminOk, Error> {
    let admin = admin(target).await?;
    admin.client.promote(&admin.addr, id).await.map_err(Error::api(admin.label))
}

/// Remove node `id` from the membership.
pub async fn remove(target: &Target, id: NodeId) -> Result<AdminOk, Error> {
    let admin = admin(target).await?;
    admin.client.remove(&admin.addr, id).await.map_err(Error::api(admin.label))
}

/// Hand leadership to `to`, or to the most up-to-date other voter (planned maintenance).
pub async fn transfer_leader(target: &Target, to: Option<NodeId>) -> Result<Handover, Error> {
    let admin = admin(target).await?;
    admin.client.transfer_leader(&admin.addr, to).await.map_err(Error::api(admin.label))
}
