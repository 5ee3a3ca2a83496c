//! The EC2 client (credentials and region from the standard AWS chain, an optional
//! endpoint for emulators) and what a cluster has on EC2: its instances and its
//! security groups, found by their `chat:cluster` tag. Every SDK error becomes an
//! [`Error::Ec2`] here, classified by [`Ec2Problem`].

use std::collections::BTreeMap;
use std::fmt::Write;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::ResourceType;
use aws_sdk_ec2::types::{Filter, Tag, TagSpecification};
use chat_raft::NodeId;

use super::args::Ec2Args;
use super::failure::Ec2Problem;
use super::plan::Role;
use super::user_data::CLUSTER_PORT;
use crate::Error;

pub const TAG_CLUSTER: &str = "chat:cluster";
pub const TAG_ROLE: &str = "chat:role";
pub const TAG_NODE_ID: &str = "chat:node-id";

/// States of an instance that still exists (not shutting down or terminated).
const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

/// A connected EC2 client, and the configuration the other services' clients
/// (SSM, IAM, CloudWatch, Auto Scaling, ...) are made from.
#[derive(Debug, Clone)]
pub struct Ec2 {
    pub client: aws_sdk_ec2::Client,
    pub config: aws_config::SdkConfig,
    pub region: String,
}

impl Ec2 {
    /// Load the standard AWS configuration chain, with `--region` and
    /// `--endpoint-url` (or `AWS_ENDPOINT_URL`) on top.
    pub async fn connect(args: &Ec2Args) -> Result<Ec2, Error> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &args.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &args.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let region = config.region().map(ToString::to_string).ok_or_else(|| {
            Error::Usage("no AWS region: set AWS_REGION (or a profile's region) or pass --region".into())
        })?;
        Ok(Ec2 { client: aws_sdk_ec2::Client::new(&config), config, region })
    }
}

/// Turn an SDK error of `action` (the EC2 operation) into [`Error::Ec2`].
pub fn failed<E, R>(action: &str) -> impl FnOnce(SdkError<E, R>) -> Error + '_
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    failed_at("EC2", action)
}

/// Turn an SDK error of `action` of `service` (SSM, IAM, CloudWatch, ...) into
/// [`Error::Ec2`]: every AWS SDK shares the error metadata, so one classification.
pub fn failed_at<'a, E, R>(service: &'a str, action: &'a str) -> impl FnOnce(SdkError<E, R>) -> Error + 'a
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |err| {
        let detail = match (err.code(), err.message()) {
            (Some(code), message) => format!("{code}: {}", message.unwrap_or("no message")),
            _ => chain(&err),
        };
        let problem = match &err {
            SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
                err.code().map_or(Ec2Problem::Refused, Ec2Problem::from_code)
            }
            _ if detail.to_ascii_lowercase().contains("credential") => Ec2Problem::BadCredentials,
            _ => Ec2Problem::Unreachable,
        };
        Error::Ec2 { action: format!("{service} {action}"), problem, detail, exists: String::new() }
    }
}

/// The error and its sources, without the debug dump `DisplayErrorContext` appends.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// A filter on one tag value.
pub fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder().name(format!("tag:{key}")).values(value).build()
}

pub fn filter(name: &str, values: &[&str]) -> Filter {
    let mut f = Filter::builder().name(name);
    for v in values {
        f = f.values(*v);
    }
    f.build()
}

pub fn tags(resource: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(resource);
    for (k, v) in pairs {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    spec.build()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

/// One instance of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub role: Role,
    /// `chat:node-id`: the Raft id of a chat node, `mongo-N` / `redis-N` otherwise.
    pub key: String,
    pub state: String,
    pub zone: String,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub instance_type: String,
}

impl Instance {
    pub fn node_id(&self) -> Option<NodeId> {
        self.role.is_chat_node().then(|| self.key.parse().ok()).flatten()
    }

    /// The cluster listener chatctl talks to (the private address).
    pub fn cluster_addr(&self) -> Option<String> {
        self.private_ip.as_ref().map(|ip| format!("{ip}:{CLUSTER_PORT}"))
    }
}

/// One security group of the cluster.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
}

/// The live instances of `cluster` (pending, running, stopping, stopped), by key.
pub async fn instances(ec2: &Ec2, cluster: &str) -> Result<Vec<Instance>, Error> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = ec2
            .client
            .describe_instances()
            .filters(tag_filter(TAG_CLUSTER, cluster))
            .filters(filter("instance-state-name", &LIVE_STATES))
            .set_next_token(token)
            .send()
            .await
            .map_err(failed("DescribeInstances"))?;
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            let tags = tag_map(i.tags());
            let Some(role) = tags.get(TAG_ROLE).and_then(|r| Role::from_tag(r)) else { continue };
            out.push(Instance {
                id: i.instance_id().unwrap_or_default().to_string(),
                role,
                key: tags.get(TAG_NODE_ID).cloned().unwrap_or_default(),
                state: i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default(),
                zone: i.placement().and_then(|p| p.availability_zone()).unwrap_or_default().to_string(),
                private_ip: i.private_ip_address().map(str::to_string),
                public_ip: i.public_ip_address().map(str::to_string),
                instance_type: i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| (a.role, a.node_id(), &a.key).cmp(&(b.role, b.node_id(), &b.key)));
    Ok(out)
}

/// The security groups tagged with `cluster`, by their `chat:role` (`lb`, `cluster`).
pub async fn groups(ec2: &Ec2, cluster: &str) -> Result<BTreeMap<String, Group>, Error> {
    let answer = ec2
        .client
        .describe_security_groups()
        .filters(tag_filter(TAG_CLUSTER, cluster))
        .send()
        .await
        .map_err(failed("DescribeSecurityGroups"))?;
    Ok(answer
        .security_groups()
        .iter()
        .filter_map(|g| {
            let tags = tag_map(g.tags());
            let group = Group { id: g.group_id()?.to_string(), name: g.group_name().unwrap_or_default().to_string() };
            Some((tags.get(TAG_ROLE)?.clone(), group))
        })
        .collect())
}

/// One line per role and one for the groups: what the cluster has on EC2.
pub fn describe(instances: &[Instance], groups: &BTreeMap<String, Group>) -> String {
    if instances.is_empty() && groups.is_empty() {
        return "\n  nothing (no instance or security group is tagged with this cluster)".into();
    }
    let mut out = String::new();
    for role in Role::ALL {
        let of_role: Vec<String> =
            instances.iter().filter(|i| i.role == role).map(|i| format!("{} {} ({})", i.key, i.id, i.state)).collect();
        if !of_role.is_empty() {
            let _ = write!(out, "\n  {}: {}", role.as_str(), of_role.join(", "));
        }
    }
    if !groups.is_empty() {
        let names: Vec<String> = groups.values().map(|g| format!("{} {}", g.name, g.id)).collect();
        let _ = write!(out, "\n  security groups: {}", names.join(", "));
    }
    out
}

/// "what exists now" for an error message: listed again from EC2, or, when EC2
/// cannot even be asked, what this run itself created.
pub async fn what_exists(ec2: &Ec2, cluster: &str, created_this_run: &[String]) -> String {
    let listed = async { Ok::<_, Error>((instances(ec2, cluster).await?, groups(ec2, cluster).await?)) };
    match listed.await {
        Ok((instances, groups)) => format!("\nwhat exists now on EC2 for cluster {cluster}:{}", describe(&instances, &groups)),
        Err(_) if created_this_run.is_empty() => {
            "\nthis run created nothing; what existed before could not be listed (same error)".to_string()
        }
        Err(_) => format!(
            "\nthis run created {}; the rest could not be listed (same error); `chatctl aws status --cluster {cluster}` \
             shows everything once EC2 answers",
            created_this_run.join(", ")
        ),
    }
}

/// Put `exists` into an [`Error::Ec2`] (other errors are returned unchanged).
pub fn with_exists(err: Error, exists: String) -> Error {
    match err {
        Error::Ec2 { action, problem, detail, .. } => Error::Ec2 { action, problem, detail, exists },
        other => other,
    }
}
