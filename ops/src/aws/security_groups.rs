//! The cluster's two security groups and their rules, created or completed by
//! `up`:
//!
//! - `chat-NAME-lb`, for the load balancer: HTTP and HTTPS from anywhere.
//! - `chat-NAME-cluster`, on every instance: the public listener (5001) only from
//!   the load balancer's group; the cluster listener (7001), MongoDB (27017), Redis
//!   (6379) and Sentinel (26379) only from the cluster's own group; 7001 also from
//!   `--admin-cidr` when given (where chatctl runs).
//!
//! No secret is kept here: they live in SSM Parameter Store (`secrets`).

use std::collections::BTreeSet;

use super::ec2::{self, failed, Ec2, Group, TAG_CLUSTER, TAG_ROLE};
use super::lb_guidance::PUBLIC_PORT;
use super::plan::{Plan, Role};
use super::user_data::{CLUSTER_PORT, MONGO_PORT, REDIS_PORT, SENTINEL_PORT};
use crate::Error;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};

/// `chat:role` of the load balancer's group.
pub const LB: &str = "lb";
/// `chat:role` of the instances' group.
pub const CLUSTER: &str = "cluster";

/// The groups of a cluster, ready for instances.
#[derive(Debug, Clone)]
pub struct ClusterGroups {
    pub cluster: Group,
}

/// Who may reach a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Group(String),
    Cidr(String),
}

/// One inbound TCP rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub port: u16,
    pub from: Source,
}

/// Names of the groups `up` creates for `cluster`.
pub fn group_name(cluster: &str, role: &str) -> String {
    format!("chat-{cluster}-{role}")
}

/// The rules the plan needs on the cluster group.
pub fn cluster_rules(plan: &Plan, lb: &str, cluster: &str, admin_cidr: Option<&str>) -> Vec<Rule> {
    let from_self = |port| Rule { port, from: Source::Group(cluster.to_string()) };
    let mut rules = vec![Rule { port: PUBLIC_PORT, from: Source::Group(lb.to_string()) }, from_self(CLUSTER_PORT)];
    if plan.count(Role::Mongo) > 0 {
        rules.push(from_self(MONGO_PORT));
    }
    if plan.count(Role::Redis) > 0 {
        rules.extend([from_self(REDIS_PORT), from_self(SENTINEL_PORT)]);
    }
    if let Some(cidr) = admin_cidr {
        rules.push(Rule { port: CLUSTER_PORT, from: Source::Cidr(cidr.to_string()) });
    }
    rules
}

/// The rules of the load balancer's group.
pub fn lb_rules() -> Vec<Rule> {
    [80, 443].into_iter().map(|port| Rule { port, from: Source::Cidr("0.0.0.0/0".into()) }).collect()
}

/// Create what is missing of the two groups and their rules.
/// `created` gets every group created, for error reports.
pub async fn ensure(
    ec2: &Ec2,
    plan: &Plan,
    vpc_id: &str,
    admin_cidr: Option<&str>,
    created: &mut Vec<String>,
) -> Result<ClusterGroups, Error> {
    let cluster_name = &plan.spec.cluster;
    let mut existing = ec2::groups(ec2, cluster_name).await?;
    let lb = match existing.remove(LB) {
        Some(group) => group,
        None => create(ec2, cluster_name, LB, vpc_id, created).await?,
    };
    let cluster = match existing.remove(CLUSTER) {
        Some(group) => group,
        None => create(ec2, cluster_name, CLUSTER, vpc_id, created).await?,
    };
    authorize_missing(ec2, &lb, lb_rules()).await?;
    authorize_missing(ec2, &cluster, cluster_rules(plan, &lb.id, &cluster.id, admin_cidr)).await?;
    Ok(ClusterGroups { cluster })
}

async fn create(ec2: &Ec2, cluster: &str, role: &str, vpc_id: &str, created: &mut Vec<String>) -> Result<Group, Error> {
    let name = group_name(cluster, role);
    let tags = [(TAG_CLUSTER, cluster), (TAG_ROLE, role), ("Name", name.as_str())];
    let answer = ec2
        .client
        .create_security_group()
        .group_name(&name)
        .description(format!("chat cluster {cluster}: {role} (chatctl aws up)"))
        .vpc_id(vpc_id)
        .tag_specifications(ec2::tags(ResourceType::SecurityGroup, &tags))
        .send()
        .await
        .map_err(failed("CreateSecurityGroup"))?;
    let id = answer.group_id().unwrap_or_default().to_string();
    println!("created security group {name} ({id})");
    created.push(format!("security group {name} ({id})"));
    Ok(Group { id, name })
}

/// The inbound TCP rules `group` has now.
async fn current_rules(ec2: &Ec2, group: &Group) -> Result<BTreeSet<Rule>, Error> {
    let answer = ec2
        .client
        .describe_security_groups()
        .group_ids(&group.id)
        .send()
        .await
        .map_err(failed("DescribeSecurityGroups"))?;
    let mut rules = BTreeSet::new();
    for perm in answer.security_groups().iter().flat_map(|g| g.ip_permissions()) {
        let (Some(from), Some(to)) = (perm.from_port(), perm.to_port()) else { continue };
        if perm.ip_protocol() != Some("tcp") || from != to {
            continue;
        }
        let Ok(port) = u16::try_from(from) else { continue };
        for pair in perm.user_id_group_pairs() {
            if let Some(id) = pair.group_id() {
                rules.insert(Rule { port, from: Source::Group(id.to_string()) });
            }
        }
        for range in perm.ip_ranges() {
            if let Some(cidr) = range.cidr_ip() {
                rules.insert(Rule { port, from: Source::Cidr(cidr.to_string()) });
            }
        }
    }
    Ok(rules)
}

async fn authorize_missing(ec2: &Ec2, group: &Group, wanted: Vec<Rule>) -> Result<(), Error> {
    let have = current_rules(ec2, group).await?;
    let missing: Vec<Rule> = wanted.into_iter().filter(|r| !have.contains(r)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut request = ec2.client.authorize_security_group_ingress().group_id(&group.id);
    for rule in &missing {
        let port = i32::from(rule.port);
        let perm = IpPermission::builder().ip_protocol("tcp").from_port(port).to_port(port);
        let perm = match &rule.from {
            Source::Group(id) => perm.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build()),
            Source::Cidr(cidr) => perm.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
        };
        request = request.ip_permissions(perm.build());
    }
    request.send().await.map_err(failed("AuthorizeSecurityGroupIngress"))?;
    for rule in missing {
        let from = match &rule.from {
            Source::Group(id) => format!("group {id}"),
            Source::Cidr(cidr) => cidr.clone(),
        };
        println!("security group {}: allowed tcp {} from {from}", group.name, rule.port);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::plan::{PlanSpec, INSTANCE_TYPE};
    use super::*;

    #[test]
    fn stores_ports_open_only_inside_the_cluster_group_and_only_when_planned() {
        let spec = |mongo, redis| PlanSpec {
            cluster: "event".into(),
            voters: 3,
            edges: 0,
            mongo,
            redis,
            instance_type: INSTANCE_TYPE.into(),
            hourly_usd: 0.0,
            hours: 0.0,
            edge_group: None,
        };
        let bare = cluster_rules(&Plan::new(spec(0, 0)).unwrap(), "sg-lb", "sg-c", None);
        assert_eq!(
            bare,
            [
                Rule { port: 5001, from: Source::Group("sg-lb".into()) },
                Rule { port: 7001, from: Source::Group("sg-c".into()) },
            ]
        );
        let full = cluster_rules(&Plan::new(spec(3, 1)).unwrap(), "sg-lb", "sg-c", Some("10.9.0.0/16"));
        for port in [27017, 6379, 26379] {
            assert!(full.contains(&Rule { port, from: Source::Group("sg-c".into()) }), "{port}");
        }
        assert!(full.contains(&Rule { port: 7001, from: Source::Cidr("10.9.0.0/16".into()) }));
        assert!(!full.iter().any(|r| r.from == Source::Cidr("0.0.0.0/0".into())));
    }
}
