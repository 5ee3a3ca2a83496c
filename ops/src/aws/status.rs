//! `chatctl aws status`: the cluster's instances by role with their EC2 state,
//! and the Raft view `chatctl status` gives, asked from the nodes' cluster
//! listeners (their private addresses, or `--via` a tunnel) with the secret `up`
//! stored in SSM Parameter Store.

use chat_raft::api::MemberRole;
use chat_raft::client::ClusterClient;
use serde::Serialize;

use super::args::{AwsStatusArgs, ClusterArgs};
use super::ec2::{self, Ec2, Instance};
use super::plan::Role;
use super::secrets;
use crate::status::{self, ClusterStatus, NodeState, Probe};
use crate::table::Table;
use crate::target::{Seed, Target};
use crate::Error;

/// One instance in `status --json`.
#[derive(Debug, Serialize)]
pub struct InstanceReport<'a> {
    pub role: Role,
    /// `chat:node-id`.
    pub key: &'a str,
    pub instance_id: &'a str,
    pub state: &'a str,
    pub zone: &'a str,
    pub private_ip: Option<&'a str>,
    pub public_ip: Option<&'a str>,
    pub instance_type: &'a str,
    /// The node's state in the Raft view (chat nodes, when the cluster answered).
    pub raft_state: Option<NodeState>,
}

impl<'a> InstanceReport<'a> {
    fn new(i: &'a Instance, raft: Option<&ClusterStatus>) -> Self {
        InstanceReport {
            role: i.role,
            key: &i.key,
            instance_id: &i.id,
            state: &i.state,
            zone: &i.zone,
            private_ip: i.private_ip.as_deref(),
            public_ip: i.public_ip.as_deref(),
            instance_type: &i.instance_type,
            raft_state: raft_state(i, raft),
        }
    }
}

/// `status --json`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    cluster: &'a str,
    region: &'a str,
    instances: Vec<InstanceReport<'a>>,
    raft: Option<ClusterStatus>,
    raft_error: Option<String>,
}

pub async fn status(args: AwsStatusArgs) -> Result<(), Error> {
    let target = &args.target;
    let ec2 = Ec2::connect(&target.ec2).await?;
    let instances = ec2::instances(&ec2, &target.cluster).await?;
    let raft = if args.ec2_only {
        Err("not asked (--ec2-only)".to_string())
    } else {
        raft_view(&ec2, target, &instances).await.map(|(_, _, merged)| merged).map_err(|e| e.to_string())
    };
    if args.json {
        let report = Report {
            cluster: &target.cluster,
            region: &ec2.region,
            instances: instances.iter().map(|i| InstanceReport::new(i, raft.as_ref().ok())).collect(),
            raft_error: raft.as_ref().err().cloned(),
            raft: raft.ok(),
        };
        println!("{}", serde_json::to_string_pretty(&report).expect("the report always serializes"));
        return Ok(());
    }
    println!("cluster {} in {}: {} instances", target.cluster, ec2.region, instances.len());
    for role in Role::ALL {
        let n = instances.iter().filter(|i| i.role == role).count();
        if n > 0 {
            let running = instances.iter().filter(|i| i.role == role && i.state == "running").count();
            println!("  {}: {n} ({running} running)", role.as_str());
        }
    }
    print!("{}", instances_table(&instances, raft.as_ref().ok()));
    match raft {
        Ok(merged) => print!("raft view:\n{}", merged.render()),
        Err(why) => println!("raft view: unavailable: {why}"),
    }
    Ok(())
}

/// A chat node's state in the Raft view: found by its id, or, for an edge of the
/// Auto Scaling group (whose id only the instance knows), by its cluster address.
fn raft_state(i: &Instance, raft: Option<&ClusterStatus>) -> Option<NodeState> {
    let node = match i.node_id() {
        Some(id) => raft?.node(id),
        None if i.role.is_chat_node() && i.key == super::edge_group::GROUP_KEY => {
            let addr = i.cluster_addr()?;
            raft?.nodes.iter().find(|n| n.cluster == addr)
        }
        None => return None,
    };
    Some(node.map_or(NodeState::Unreachable, |n| n.state))
}

/// The instances as a table, by role then key, with each chat node's Raft state
/// when the cluster answered.
pub fn instances_table(instances: &[Instance], raft: Option<&ClusterStatus>) -> String {
    let mut header = vec!["role", "chat:node-id", "instance", "state", "zone", "private ip", "public ip"];
    if raft.is_some() {
        header.push("raft");
    }
    let mut table = Table::new(&header);
    for i in instances {
        let mut row = vec![
            i.role.as_str().into(),
            i.key.clone(),
            i.id.clone(),
            i.state.clone(),
            i.zone.clone(),
            i.private_ip.clone().unwrap_or_default(),
            i.public_ip.clone().unwrap_or_default(),
        ];
        if raft.is_some() {
            row.push(raft_state(i, raft).map_or("-", NodeState::as_str).to_string());
        }
        table.row(row);
    }
    table.to_string()
}

/// The cluster secret: `--secret`, else the SSM parameter `up` wrote.
async fn secret(ec2: &Ec2, target: &ClusterArgs) -> Result<String, Error> {
    match &target.secret {
        Some(secret) => Ok(secret.clone()),
        None => secrets::cluster_secret(ec2, &target.cluster).await,
    }
}

/// Ask the cluster listeners (through `--via`, else at the chat nodes' private
/// addresses) and merge the answers like `chatctl status`.
pub async fn raft_view(
    ec2: &Ec2,
    target: &ClusterArgs,
    instances: &[Instance],
) -> Result<(ClusterClient, Vec<Probe>, ClusterStatus), Error> {
    let secret = secret(ec2, target).await?;
    if let Some(via) = &target.via {
        return status::gather(&Target::Remote { addr: via.clone(), secret }).await;
    }
    let seeds: Vec<Seed> = instances
        .iter()
        .filter(|i| i.state == "running")
        .filter_map(|i| {
            Some(Seed {
                id: Some(i.node_id()?),
                public: i.private_ip.as_ref().map(|ip| format!("{ip}:{}", super::lb_guidance::PUBLIC_PORT)),
                cluster: i.cluster_addr()?,
                role: Some(if i.role == Role::Voter { MemberRole::Voter } else { MemberRole::Learner }),
            })
        })
        .collect();
    let tried = seeds.iter().map(|s| s.cluster.clone()).collect::<Vec<_>>().join(", ");
    if seeds.is_empty() {
        return Err(Error::Unreachable { tried: "no running chat node instance".into() });
    }
    let client = ClusterClient::new(secret);
    let probes = status::probe(&client, seeds).await;
    if probes.iter().all(|p| p.status.is_none()) {
        return Err(Error::Usage(format!(
            "no node answered on its cluster listener (tried {tried}); it is reachable only from the cluster's \
             security group and --admin-cidr: run chatctl there, or through a tunnel with --via ADDR"
        )));
    }
    let merged = status::merge(&probes);
    Ok((client, probes, merged))
}

#[cfg(test)]
mod tests {
    use chat_raft::api::MemberRole;

    use super::*;
    use crate::status::NodeReport;

    #[test]
    fn group_edges_are_found_in_the_raft_view_by_their_cluster_address() {
        let instance = |key: &str, ip: &str| Instance {
            id: format!("i-{key}"),
            role: Role::Edge,
            key: key.into(),
            state: "running".into(),
            zone: "us-east-1a".into(),
            private_ip: Some(ip.into()),
            public_ip: None,
            instance_type: "t3.small".into(),
        };
        let report = |id, cluster: &str| NodeReport {
            id,
            role: MemberRole::Learner,
            state: NodeState::Learner,
            last_applied: 9,
            public: String::new(),
            cluster: cluster.into(),
        };
        let raft = ClusterStatus {
            leader: Some(1),
            term: 2,
            nodes: vec![report(4, "10.0.0.4:7001"), report((1 << 52) + 7, "10.0.0.9:7001")],
        };
        assert_eq!(raft_state(&instance("4", "10.0.0.4"), Some(&raft)), Some(NodeState::Learner));
        assert_eq!(raft_state(&instance("group", "10.0.0.9"), Some(&raft)), Some(NodeState::Learner));
        assert_eq!(raft_state(&instance("group", "10.0.0.10"), Some(&raft)), Some(NodeState::Unreachable));
        assert_eq!(raft_state(&instance("group", "10.0.0.9"), None), None);
    }
}
