//! Reading back what chatctl did on the emulator, through the SDK: the live
//! instances of a cluster, their tags, states and user data, and security groups.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, Instance, InstanceAttributeName, SecurityGroup, Tag};
use aws_sdk_ec2::Client;
use base64::Engine;

pub async fn live(ec2: &Client, cluster: &str) -> Vec<Instance> {
    let answer = ec2
        .describe_instances()
        .filters(Filter::builder().name("tag:chat:cluster").values(cluster).build())
        .send()
        .await
        .unwrap();
    let all = answer.reservations().iter().flat_map(|r| r.instances().iter().cloned());
    all.filter(|i| {
        i.state().and_then(|s| s.name()).is_some_and(|n| !matches!(n.as_str(), "terminated" | "shutting-down"))
    })
    .collect()
}

pub fn tag(i: &Instance, key: &str) -> String {
    i.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).unwrap_or_default().to_string()
}

pub fn state(i: &Instance) -> &str {
    i.state().and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or_default()
}

pub fn by_key(instances: &[Instance]) -> BTreeMap<String, Instance> {
    instances.iter().map(|i| (tag(i, "chat:node-id"), i.clone())).collect()
}

pub async fn user_data(ec2: &Client, id: &str) -> String {
    let answer = ec2
        .describe_instance_attribute()
        .instance_id(id)
        .attribute(InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let b64 = answer.user_data().and_then(|v| v.value()).unwrap_or_default();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
}

pub async fn groups(ec2: &Client, cluster: &str) -> BTreeMap<String, SecurityGroup> {
    let answer = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("tag:chat:cluster").values(cluster).build())
        .send()
        .await
        .unwrap();
    answer.security_groups().iter().map(|g| (tag_of(g.tags(), "chat:role"), g.clone())).collect()
}

pub fn tag_of(tags: &[Tag], key: &str) -> String {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).unwrap_or_default().to_string()
}

/// (port, source) of every inbound rule: a group id or a CIDR.
pub fn rules(g: &SecurityGroup) -> BTreeSet<(i32, String)> {
    let mut out = BTreeSet::new();
    for p in g.ip_permissions() {
        let port = p.from_port().unwrap();
        assert_eq!(p.to_port(), Some(port));
        out.extend(p.user_id_group_pairs().iter().map(|u| (port, u.group_id().unwrap().to_string())));
        out.extend(p.ip_ranges().iter().map(|r| (port, r.cidr_ip().unwrap().to_string())));
    }
    out
}

pub fn private_ip(i: &Instance) -> String {
    i.private_ip_address().unwrap().to_string()
}
