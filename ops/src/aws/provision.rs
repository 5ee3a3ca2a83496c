//! `chatctl aws up`: create what the plan says and the cluster lacks, then bring
//! it into service.
//!
//! 1. Compare the plan with the instances tagged `chat:cluster` = NAME (by their
//!    `chat:node-id` key) and list what is missing; ask before creating anything.
//! 2. Create the security groups and rules that are missing (`security_groups`),
//!    the secrets in SSM Parameter Store (`secrets`) and the nodes' IAM role and
//!    instance profile that may read them (`iam`), the log group and the alarms
//!    (`cloudwatch`).
//! 3. Create the missing instances, stores first because the nodes' user data
//!    names them: the Redis master, its replicas, the MongoDB members, the MongoDB
//!    initiator (it knows the members' addresses), then voters and edges. Each
//!    role round-robin over the zones' default subnets ([`Plan::spread`]). Every
//!    instance requires IMDSv2 (session tokens): a request forged through a node
//!    (SSRF) cannot read the role's credentials with a plain GET.
//!    Then, when the plan has an edge group (`asg`): its target group, launch
//!    template (user data naming the voters just launched), Auto Scaling group,
//!    termination hook and scaling policy. Its edges join by themselves.
//! 4. Start planned instances found stopped; wait until every one runs (the
//!    group's edges are the group's business).
//! 5. Unless `--no-join`: bootstrap the voters and add the edges through the
//!    cluster admin API, exactly as `chatctl local up` does (`local::bootstrap`).
//!
//! Running it again creates nothing that exists. On any failure the error says
//! what exists now.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_ec2::types::{
    HttpTokensState, IamInstanceProfileSpecification, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceType, ResourceType,
};
use base64::Engine;
use chat_raft::client::ClusterClient;
use tokio::time::Instant;

use super::args::UpArgs;
use super::confirm::confirm;
use super::ec2::{self, failed, Ec2, Instance, TAG_CLUSTER, TAG_NODE_ID, TAG_ROLE};
use super::network::{self, Network};
use super::plan::{Plan, Role, Slot};
use super::secrets::{self, Secrets};
use super::security_groups::{self, ClusterGroups, CLUSTER, LB};
use super::status::instances_table;
use super::user_data::{self, NodeBoot};
use super::{asg, cloudwatch, edge_group, iam};
use crate::local::{bootstrap, ClusterLayout, LocalRole, NodeEntry};
use crate::Error;

const POLL: Duration = Duration::from_secs(2);

pub async fn up(args: UpArgs) -> Result<(), Error> {
    let plan = Plan::new(args.plan.spec())?;
    let ec2 = Ec2::connect(&args.ec2).await?;
    let mut created = Vec::new();
    match run(&args, &plan, &ec2, &mut created).await {
        Ok(()) => Ok(()),
        // Refused before anything changed (no confirmation, bad flag): nothing to report.
        Err(err @ (Error::Usage(_) | Error::PlanRefused(_))) if created.is_empty() => Err(err),
        Err(err) => {
            let exists = ec2::what_exists(&ec2, &plan.spec.cluster, &created).await;
            match err {
                Error::Ec2 { .. } => Err(ec2::with_exists(err, exists)),
                other => {
                    println!("{}", exists.trim_start());
                    Err(other)
                }
            }
        }
    }
}

async fn run(args: &UpArgs, plan: &Plan, ec2: &Ec2, created: &mut Vec<String>) -> Result<(), Error> {
    let cluster = &plan.spec.cluster;
    let network = network::default_network(ec2).await?;
    let zones = plan.spread(network.subnets.len())?;
    let mut by_key: BTreeMap<String, Instance> =
        ec2::instances(ec2, cluster).await?.into_iter().map(|i| (i.key.clone(), i)).collect();
    let groups = ec2::groups(ec2, cluster).await?;
    let missing: Vec<(&Slot, usize)> =
        plan.slots.iter().zip(zones).filter(|(slot, _)| !by_key.contains_key(&slot.key)).collect();
    let missing_groups: Vec<String> = [LB, CLUSTER]
        .into_iter()
        .filter(|role| !groups.contains_key(*role))
        .map(|role| security_groups::group_name(cluster, role))
        .collect();
    println!(
        "cluster {cluster} in {}: {} instances planned, {} exist, {} to create",
        ec2.region,
        plan.total(),
        plan.slots.iter().filter(|s| by_key.contains_key(&s.key)).count(),
        missing.len()
    );
    for extra in by_key.values().filter(|i| plan.slot(&i.key).is_none() && i.key != edge_group::GROUP_KEY) {
        println!("not in this plan, left as it is: {} {} ({})", extra.role.as_str(), extra.key, extra.id);
    }
    let edge_group = asg::existing(ec2, cluster).await?;
    let missing_edge_group = match plan.spec.edge_group {
        Some(size) if !edge_group.group => {
            Some(format!("edge group {} ({}..{})", edge_group::group(cluster), size.min, size.max))
        }
        _ => None,
    };
    if plan.spec.edge_group.is_none() && edge_group.group {
        println!("not in this plan, left as it is: edge group {}", edge_group::group(cluster));
    }
    if missing.is_empty() && missing_groups.is_empty() && missing_edge_group.is_none() {
        println!("nothing to create");
    } else {
        let names: Vec<String> = missing.iter().map(|(s, _)| format!("{} {}", s.role.as_str(), s.key)).collect();
        let all: Vec<String> = names.iter().chain(&missing_groups).chain(&missing_edge_group).cloned().collect();
        println!("to create: {}", all.join(", "));
        confirm(
            &format!(
                "create {} t3.small instances{} and {} security groups for cluster {cluster}",
                missing.len(),
                missing_edge_group.as_ref().map_or(String::new(), |g| format!(", an {g}")),
                missing_groups.len()
            ),
            args.yes,
        )?;
    }
    let groups = security_groups::ensure(ec2, plan, &network.vpc_id, args.admin_cidr.as_deref(), created).await?;
    let secrets = secrets::ensure(ec2, cluster, created).await?;
    let profile = iam::ensure(ec2, cluster, created).await?;
    cloudwatch::ensure(ec2, cluster, &args.alarm_action, created).await?;
    let ami = if !missing.is_empty() || plan.spec.edge_group.is_some() {
        network::image(ec2, args.ami.as_deref()).await?
    } else {
        String::new()
    };
    if !missing.is_empty() {
        let mut order = missing;
        order.sort_by_key(|(slot, _)| launch_order(slot));
        for (slot, zone) in order {
            let script = script(plan, &ec2.region, slot, &by_key, args.binary_url.as_deref())?;
            let profile = slot.role.is_chat_node().then_some(profile.as_str());
            let at = Placement { network: &network, zone, ami: &ami, groups: &groups, profile };
            let instance = launch(ec2, plan, slot, &at, &script).await?;
            created.push(format!("{} {} ({})", slot.role.as_str(), slot.key, instance.id));
            by_key.insert(slot.key.clone(), instance);
        }
    }
    if let Some(size) = plan.spec.edge_group {
        // After the voters: the group's edges join and leave through their addresses.
        let script = user_data::node_script(&NodeBoot {
            cluster,
            region: &ec2.region,
            node_id: None,
            role: Role::Edge,
            binary_url: args.binary_url.as_deref(),
            mongo_hosts: hosts(plan, Role::Mongo, &by_key, "")?,
            redis_hosts: hosts(plan, Role::Redis, &by_key, "")?,
            voters: hosts(plan, Role::Voter, &by_key, "")?,
        });
        let template =
            asg::Template { ami: &ami, security_group: &groups.cluster.id, profile: &profile, script: &script };
        let subnets: Vec<String> = network.subnets.iter().map(|(_, id)| id.clone()).collect();
        asg::ensure(ec2, cluster, size, &network.vpc_id, &subnets, &template, created).await?;
    }
    start_stopped(ec2, plan, &by_key).await?;
    let running = wait_running(ec2, plan, args.ready_timeout).await?;
    if plan.spec.edge_group.is_some() {
        asg::register_nodes(ec2, cluster, &running).await?;
    }
    print!("{}", instances_table(&running, None));
    if args.no_join {
        println!("--no-join: instances and groups are in place; the cluster was not bootstrapped");
        return Ok(());
    }
    join(&running, &secrets, args.ready_timeout).await
}

/// Stores before the nodes that name them; the MongoDB initiator after its members.
fn launch_order(slot: &Slot) -> (u8, u32) {
    match slot.role {
        Role::Redis => (0, slot.index),
        Role::Mongo if slot.index > 1 => (1, slot.index),
        Role::Mongo => (2, 0),
        Role::Voter => (3, slot.index),
        Role::Edge => (4, slot.index),
    }
}

/// Private addresses of the planned instances of `role`, in plan order.
fn hosts(plan: &Plan, role: Role, by_key: &BTreeMap<String, Instance>, except: &str) -> Result<Vec<String>, Error> {
    plan.slots
        .iter()
        .filter(|s| s.role == role && s.key != except)
        .map(|s| {
            by_key.get(&s.key).and_then(|i| i.private_ip.clone()).ok_or_else(|| {
                Error::Usage(format!("{} has no private address yet; run `chatctl aws up` again", s.key))
            })
        })
        .collect()
}

fn script(
    plan: &Plan,
    region: &str,
    slot: &Slot,
    by_key: &BTreeMap<String, Instance>,
    binary_url: Option<&str>,
) -> Result<String, Error> {
    let cluster = plan.spec.cluster.as_str();
    Ok(match slot.role {
        Role::Redis => {
            let master = match slot.index {
                1 => None,
                _ => Some(by_key.get("redis-1").and_then(|i| i.private_ip.clone()).ok_or_else(|| {
                    Error::Usage("redis-1 has no private address yet; run `chatctl aws up` again".into())
                })?),
            };
            user_data::redis_script(cluster, slot.index, master.as_deref(), plan.count(Role::Redis) / 2 + 1)
        }
        Role::Mongo if slot.index == 1 => {
            user_data::mongo_script(cluster, 1, Some(&hosts(plan, Role::Mongo, by_key, &slot.key)?))
        }
        Role::Mongo => user_data::mongo_script(cluster, slot.index, None),
        Role::Voter | Role::Edge => user_data::node_script(&NodeBoot {
            cluster,
            region,
            node_id: Some(slot.node_id.expect("chat nodes have ids")),
            role: slot.role,
            binary_url,
            mongo_hosts: hosts(plan, Role::Mongo, by_key, "")?,
            redis_hosts: hosts(plan, Role::Redis, by_key, "")?,
            voters: Vec::new(),
        }),
    })
}

/// Where and how an instance is launched.
struct Placement<'a> {
    network: &'a Network,
    /// Index into `network.subnets`.
    zone: usize,
    ami: &'a str,
    groups: &'a ClusterGroups,
    /// The instance profile (chat nodes only: the stores need no AWS access).
    profile: Option<&'a str>,
}

/// How long a just-created instance profile may stay unknown to EC2 (IAM is
/// eventually consistent; RunInstances answers InvalidParameterValue meanwhile).
const PROFILE_PROPAGATION: Duration = Duration::from_secs(90);

/// IMDSv2 only: the metadata service answers only requests with a session token
/// (a PUT first), one hop away.
pub fn metadata_options() -> InstanceMetadataOptionsRequest {
    InstanceMetadataOptionsRequest::builder()
        .http_tokens(HttpTokensState::Required)
        .http_endpoint(InstanceMetadataEndpointState::Enabled)
        .http_put_response_hop_limit(1)
        .build()
}

async fn launch(ec2: &Ec2, plan: &Plan, slot: &Slot, at: &Placement<'_>, script: &str) -> Result<Instance, Error> {
    let cluster = plan.spec.cluster.as_str();
    let (zone_name, subnet) = &at.network.subnets[at.zone];
    let name = format!("chat-{cluster}-{}-{}", slot.role.as_str(), slot.key);
    let tags =
        [(TAG_CLUSTER, cluster), (TAG_ROLE, slot.role.as_str()), (TAG_NODE_ID, slot.key.as_str()), ("Name", &name)];
    let deadline = Instant::now() + PROFILE_PROPAGATION;
    let answer = loop {
        let request = ec2
            .client
            .run_instances()
            .image_id(at.ami)
            .instance_type(InstanceType::T3Small)
            .min_count(1)
            .max_count(1)
            .subnet_id(subnet)
            .security_group_ids(&at.groups.cluster.id)
            .metadata_options(metadata_options())
            .set_iam_instance_profile(at.profile.map(|p| IamInstanceProfileSpecification::builder().name(p).build()))
            .user_data(base64::engine::general_purpose::STANDARD.encode(script))
            .tag_specifications(ec2::tags(ResourceType::Instance, &tags))
            .tag_specifications(ec2::tags(ResourceType::Volume, &tags));
        match request.send().await.map_err(failed("RunInstances")) {
            Err(Error::Ec2 { ref detail, .. })
                if detail.contains("InvalidParameterValue")
                    && detail.to_ascii_lowercase().contains("instance profile")
                    && Instant::now() < deadline =>
            {
                println!("the instance profile is not known to EC2 yet; retrying");
                tokio::time::sleep(POLL * 2).await;
            }
            other => break other?,
        }
    };
    let made = answer.instances().first().ok_or_else(|| Error::Ec2 {
        action: "EC2 RunInstances".into(),
        problem: super::Ec2Problem::Refused,
        detail: "the answer lists no instance".into(),
        exists: String::new(),
    })?;
    let instance = Instance {
        id: made.instance_id().unwrap_or_default().to_string(),
        role: slot.role,
        key: slot.key.clone(),
        state: made.state().and_then(|s| s.name()).map_or("pending".into(), |n| n.as_str().to_string()),
        zone: zone_name.clone(),
        private_ip: made.private_ip_address().map(str::to_string),
        public_ip: made.public_ip_address().map(str::to_string),
        instance_type: "t3.small".into(),
    };
    println!(
        "created {} {}: {} in {zone_name} ({})",
        slot.role.as_str(),
        slot.key,
        instance.id,
        instance.private_ip.as_deref().unwrap_or("no address yet")
    );
    Ok(instance)
}

/// Planned instances that exist but are stopped (e.g. by a drill) are started again.
async fn start_stopped(ec2: &Ec2, plan: &Plan, by_key: &BTreeMap<String, Instance>) -> Result<(), Error> {
    for i in by_key.values().filter(|i| i.state == "stopped" && plan.slot(&i.key).is_some()) {
        ec2.client.start_instances().instance_ids(&i.id).send().await.map_err(failed("StartInstances"))?;
        println!("started stopped instance {} ({} {})", i.id, i.role.as_str(), i.key);
    }
    Ok(())
}

/// Wait until every planned instance is running; prints n/N as it changes.
async fn wait_running(ec2: &Ec2, plan: &Plan, timeout: Duration) -> Result<Vec<Instance>, Error> {
    let deadline = Instant::now() + timeout;
    let planned: BTreeSet<&str> = plan.slots.iter().map(|s| s.key.as_str()).collect();
    let mut last = None;
    loop {
        let all = ec2::instances(ec2, &plan.spec.cluster).await?;
        let running = all.iter().filter(|i| planned.contains(i.key.as_str()) && i.state == "running").count();
        if last != Some(running) {
            println!("waiting for instances to run: {running}/{}", planned.len());
            last = Some(running);
        }
        if running == planned.len() {
            return Ok(all);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout { what: format!("{} instances to run", planned.len()), after: timeout });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Bootstrap the voters and add the edges through the cluster admin API.
async fn join(running: &[Instance], secrets: &Secrets, timeout: Duration) -> Result<(), Error> {
    let nodes: Vec<NodeEntry> = running
        .iter()
        .filter_map(|i| {
            let ip = i.private_ip.as_ref()?;
            Some(NodeEntry {
                id: i.node_id()?,
                role: if i.role == Role::Voter { LocalRole::Voter } else { LocalRole::Edge },
                pid: None,
                public: format!("{ip}:{}", super::lb_guidance::PUBLIC_PORT),
                cluster: format!("{ip}:{}", user_data::CLUSTER_PORT),
                data_dir: PathBuf::new(),
                removed: false,
            })
        })
        .collect();
    let layout = ClusterLayout {
        secret: secrets.cluster_secret.clone(),
        jwt_secret: secrets.jwt_secret.clone(),
        nodes,
        lb: None,
        trusted_proxy_hops: 0,
    };
    println!(
        "bootstrapping: waiting for {} nodes to answer on their cluster listener (first boot installs chat-node), \
         then initializing the voters and adding the edges",
        layout.nodes.len()
    );
    let client = ClusterClient::new(secrets.cluster_secret.clone());
    let leader = bootstrap::bootstrap(&layout, &client, timeout, &|| Ok(())).await?;
    println!("cluster is up: leader node {leader}; every edge is a learner");
    Ok(())
}
