//! Which cluster a command talks to: a local cluster directory (`--data-dir`, its
//! cluster.json names the nodes and the secret) or any node's cluster listener
//! (`--cluster ADDR --secret S`, the membership names the rest).

use std::path::PathBuf;

use chat_raft::api::MemberRole;
use chat_raft::client::ClusterClient;
use chat_raft::NodeId;

use crate::local::layout::{ClusterLayout, LocalRole};
use crate::Error;

#[derive(Debug, Clone)]
pub enum Target {
    /// A cluster started with `chatctl local up`.
    Local { dir: PathBuf },
    /// Any node's cluster listener.
    Remote { addr: String, secret: String },
}

/// A node to ask first, before the membership is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// Known from cluster.json; a remote seed's id comes from its answer.
    pub id: Option<NodeId>,
    pub public: Option<String>,
    pub cluster: String,
    /// What the node was started as, for nodes not yet in a membership.
    pub role: Option<MemberRole>,
}

impl Seed {
    /// Every active node of a local cluster.
    pub fn from_layout(layout: &ClusterLayout) -> Vec<Seed> {
        layout
            .active()
            .map(|n| Seed {
                id: Some(n.id),
                public: Some(n.public.clone()),
                cluster: n.cluster.clone(),
                role: Some(match n.role {
                    LocalRole::Voter => MemberRole::Voter,
                    LocalRole::Edge => MemberRole::Learner,
                }),
            })
            .collect()
    }
}

impl Target {
    /// The cluster secret (from cluster.json for a local cluster).
    pub fn secret(&self) -> Result<String, Error> {
        match self {
            Target::Local { dir } => Ok(ClusterLayout::load(dir)?.secret),
            Target::Remote { secret, .. } => Ok(secret.clone()),
        }
    }

    /// The seeds and a client carrying the cluster secret.
    pub fn connect(&self) -> Result<(ClusterClient, Vec<Seed>), Error> {
        match self {
            Target::Local { dir } => {
                let layout = ClusterLayout::load(dir)?;
                Ok((ClusterClient::new(layout.secret.clone()), Seed::from_layout(&layout)))
            }
            Target::Remote { addr, secret } => {
                let seed = Seed { id: None, public: None, cluster: addr.clone(), role: None };
                Ok((ClusterClient::new(secret.clone()), vec![seed]))
            }
        }
    }
}
