//! The edges' Auto Scaling group on AWS ([`edge_group`] names and scripts it):
//! `up` creates the target group, the launch template, the group, its termination
//! hook and its scaling policy as far as they are missing, and brings the group's
//! bounds, the hook, the policy and the template's user data up to date; `down`
//! removes hook, policy and group (with its instances), then template and target
//! group.

use std::time::Duration;

use aws_sdk_autoscaling::types::{
    LaunchTemplateSpecification, MetricType, PredefinedMetricSpecification, Tag as AsgTag, TargetTrackingConfiguration,
};
use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag as Ec2Tag,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, Tag as ElbTag, TargetDescription, TargetGroupAttribute, TargetTypeEnum,
};
use base64::Engine;
use tokio::time::Instant;

use super::ec2::{failed, failed_at, Ec2, Instance, TAG_CLUSTER, TAG_ROLE};
use super::edge_group::{self, DEREGISTRATION_DELAY_S, GROUP_KEY, HOOK_TIMEOUT_S, TARGET_CPU_PERCENT, WARMUP_S};
use super::lb_guidance::PUBLIC_PORT;
use super::plan::GroupSize;
use crate::Error;

const POLL: Duration = Duration::from_secs(2);

fn autoscaling(ec2: &Ec2) -> aws_sdk_autoscaling::Client {
    aws_sdk_autoscaling::Client::new(&ec2.config)
}

fn elb(ec2: &Ec2) -> aws_sdk_elasticloadbalancingv2::Client {
    aws_sdk_elasticloadbalancingv2::Client::new(&ec2.config)
}

/// What the launch template holds.
pub struct Template<'a> {
    pub ami: &'a str,
    pub security_group: &'a str,
    pub profile: &'a str,
    pub script: &'a str,
}

/// What of a cluster's edge group exists.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Existing {
    pub group: bool,
    pub template: bool,
    /// The target group's ARN.
    pub target_group: Option<String>,
}

impl Existing {
    pub fn is_empty(&self) -> bool {
        !self.group && !self.template && self.target_group.is_none()
    }
}

pub async fn existing(ec2: &Ec2, cluster: &str) -> Result<Existing, Error> {
    Ok(Existing {
        group: group_exists(ec2, cluster).await?,
        template: template_exists(ec2, cluster).await?,
        target_group: target_group_arn(ec2, cluster).await?,
    })
}

async fn group_exists(ec2: &Ec2, cluster: &str) -> Result<bool, Error> {
    let answer = autoscaling(ec2)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(edge_group::group(cluster))
        .send()
        .await
        .map_err(failed_at("Auto Scaling", "DescribeAutoScalingGroups"))?;
    Ok(!answer.auto_scaling_groups().is_empty())
}

async fn template_exists(ec2: &Ec2, cluster: &str) -> Result<bool, Error> {
    match ec2
        .client
        .describe_launch_templates()
        .launch_template_names(edge_group::launch_template(cluster))
        .send()
        .await
    {
        Ok(answer) => Ok(!answer.launch_templates().is_empty()),
        Err(err) if err.as_service_error().and_then(|e| e.meta().code()).is_some_and(|c| c.contains("NotFound")) => {
            Ok(false)
        }
        Err(err) => Err(failed("DescribeLaunchTemplates")(err)),
    }
}

async fn target_group_arn(ec2: &Ec2, cluster: &str) -> Result<Option<String>, Error> {
    match elb(ec2).describe_target_groups().names(edge_group::target_group(cluster)).send().await {
        Ok(answer) => Ok(answer.target_groups().first().and_then(|t| t.target_group_arn()).map(str::to_string)),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_target_group_not_found_exception()) => Ok(None),
        Err(err) => Err(failed_at("ELB", "DescribeTargetGroups")(err)),
    }
}

/// Create or bring up to date everything of the edge group.
pub async fn ensure(
    ec2: &Ec2,
    cluster: &str,
    size: GroupSize,
    vpc_id: &str,
    subnets: &[String],
    template: &Template<'_>,
    created: &mut Vec<String>,
) -> Result<(), Error> {
    let target_group = ensure_target_group(ec2, cluster, vpc_id, created).await?;
    ensure_template(ec2, cluster, template, created).await?;
    let client = autoscaling(ec2);
    let name = edge_group::group(cluster);
    if group_exists(ec2, cluster).await? {
        client
            .update_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .min_size(size.min as i32)
            .max_size(size.max as i32)
            .send()
            .await
            .map_err(failed_at("Auto Scaling", "UpdateAutoScalingGroup"))?;
    } else {
        let tag = |key: &str, value: &str| {
            AsgTag::builder()
                .resource_id(&name)
                .resource_type("auto-scaling-group")
                .key(key)
                .value(value)
                .propagate_at_launch(true)
                .build()
        };
        client
            .create_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_name(edge_group::launch_template(cluster))
                    .version("$Latest")
                    .build(),
            )
            .min_size(size.min as i32)
            .max_size(size.max as i32)
            .desired_capacity(size.min as i32)
            .vpc_zone_identifier(subnets.join(","))
            .target_group_arns(&target_group)
            // EC2 health only: a node answering 503 on /api/health (cut off from the
            // quorum, draining) is taken out of the target group, not replaced.
            .health_check_type("EC2")
            .health_check_grace_period(WARMUP_S)
            .default_instance_warmup(WARMUP_S)
            .tags(tag(TAG_CLUSTER, cluster))
            .tags(tag(TAG_ROLE, "edge"))
            .tags(tag(super::ec2::TAG_NODE_ID, GROUP_KEY))
            .tags(tag("Name", &format!("chat-{cluster}-edge-group")))
            .send()
            .await
            .map_err(failed_at("Auto Scaling", "CreateAutoScalingGroup"))?;
        println!("created Auto Scaling group {name} ({}..{} edges)", size.min, size.max);
        created.push(format!("Auto Scaling group {name}"));
    }
    client
        .put_lifecycle_hook()
        .auto_scaling_group_name(&name)
        .lifecycle_hook_name(edge_group::hook(cluster))
        .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
        .heartbeat_timeout(HOOK_TIMEOUT_S)
        .default_result("CONTINUE")
        .send()
        .await
        .map_err(failed_at("Auto Scaling", "PutLifecycleHook"))?;
    client
        .put_scaling_policy()
        .auto_scaling_group_name(&name)
        .policy_name(edge_group::policy(cluster))
        .policy_type("TargetTrackingScaling")
        .estimated_instance_warmup(WARMUP_S)
        .target_tracking_configuration(
            TargetTrackingConfiguration::builder()
                .predefined_metric_specification(
                    PredefinedMetricSpecification::builder()
                        .predefined_metric_type(MetricType::AsgAverageCpuUtilization)
                        .build(),
                )
                .target_value(TARGET_CPU_PERCENT)
                .build(),
        )
        .send()
        .await
        .map_err(failed_at("Auto Scaling", "PutScalingPolicy"))?;
    println!(
        "edge group {name}: {}..{} edges, termination hook {}, scaling on average CPU {TARGET_CPU_PERCENT}%, \
         target group {}",
        size.min,
        size.max,
        edge_group::hook(cluster),
        edge_group::target_group(cluster)
    );
    Ok(())
}

async fn ensure_target_group(
    ec2: &Ec2,
    cluster: &str,
    vpc_id: &str,
    created: &mut Vec<String>,
) -> Result<String, Error> {
    if let Some(arn) = target_group_arn(ec2, cluster).await? {
        return Ok(arn);
    }
    let name = edge_group::target_group(cluster);
    let client = elb(ec2);
    let answer = client
        .create_target_group()
        .name(&name)
        .protocol(ProtocolEnum::Http)
        .port(i32::from(PUBLIC_PORT))
        .vpc_id(vpc_id)
        .target_type(TargetTypeEnum::Instance)
        .health_check_protocol(ProtocolEnum::Http)
        .health_check_path("/api/health")
        .health_check_interval_seconds(5)
        .health_check_timeout_seconds(2)
        .healthy_threshold_count(2)
        .unhealthy_threshold_count(2)
        .matcher(Matcher::builder().http_code("200").build())
        .tags(ElbTag::builder().key(TAG_CLUSTER).value(cluster).build())
        .send()
        .await
        .map_err(failed_at("ELB", "CreateTargetGroup"))?;
    let arn = answer
        .target_groups()
        .first()
        .and_then(|t| t.target_group_arn())
        .map(str::to_string)
        .ok_or_else(|| Error::Usage(format!("CreateTargetGroup {name} answered without the group's ARN")))?;
    client
        .modify_target_group_attributes()
        .target_group_arn(&arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value(DEREGISTRATION_DELAY_S.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(failed_at("ELB", "ModifyTargetGroupAttributes"))?;
    println!("created target group {name} (HTTP :{PUBLIC_PORT}, GET /api/health)");
    created.push(format!("target group {name}"));
    Ok(arn)
}

fn template_data(cluster: &str, template: &Template<'_>) -> RequestLaunchTemplateData {
    let name = format!("chat-{cluster}-edge-group");
    let tags = |resource| {
        let mut spec = LaunchTemplateTagSpecificationRequest::builder().resource_type(resource);
        for (key, value) in [(TAG_CLUSTER, cluster), (TAG_ROLE, "edge"), ("Name", name.as_str())] {
            spec = spec.tags(Ec2Tag::builder().key(key).value(value).build());
        }
        spec.build()
    };
    RequestLaunchTemplateData::builder()
        .image_id(template.ami)
        .instance_type(InstanceType::T3Small)
        .security_group_ids(template.security_group)
        .iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder().name(template.profile).build(),
        )
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::Required)
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_put_response_hop_limit(1)
                .build(),
        )
        .user_data(base64::engine::general_purpose::STANDARD.encode(template.script))
        .tag_specifications(tags(ResourceType::Volume))
        .build()
}

/// Create the template, or add a version when the user data changed (new voter
/// addresses, a newer chatctl): the group launches `$Latest`.
async fn ensure_template(
    ec2: &Ec2,
    cluster: &str,
    template: &Template<'_>,
    created: &mut Vec<String>,
) -> Result<(), Error> {
    let name = edge_group::launch_template(cluster);
    if !template_exists(ec2, cluster).await? {
        ec2.client
            .create_launch_template()
            .launch_template_name(&name)
            .version_description("chatctl aws up")
            .launch_template_data(template_data(cluster, template))
            .tag_specifications(super::ec2::tags(ResourceType::LaunchTemplate, &[(TAG_CLUSTER, cluster)]))
            .send()
            .await
            .map_err(failed("CreateLaunchTemplate"))?;
        println!("created launch template {name}");
        created.push(format!("launch template {name}"));
        return Ok(());
    }
    let latest = ec2
        .client
        .describe_launch_template_versions()
        .launch_template_name(&name)
        .versions("$Latest")
        .send()
        .await
        .map_err(failed("DescribeLaunchTemplateVersions"))?;
    let current = latest
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data())
        .and_then(|d| d.user_data())
        .and_then(|u| base64::engine::general_purpose::STANDARD.decode(u).ok());
    if current.as_deref() != Some(template.script.as_bytes()) {
        ec2.client
            .create_launch_template_version()
            .launch_template_name(&name)
            .version_description("chatctl aws up")
            .launch_template_data(template_data(cluster, template))
            .send()
            .await
            .map_err(failed("CreateLaunchTemplateVersion"))?;
        println!("launch template {name}: new version (the edges' user data changed); new edges launch with it");
    }
    Ok(())
}

/// Remove hook, policy and group (its instances terminate with it at once: no
/// lifecycle action is waited for, though chat-node still drains as each instance
/// shuts down), then the template and the target group.
pub async fn delete(ec2: &Ec2, cluster: &str, what: &Existing, timeout: Duration) -> Result<(), Error> {
    let client = autoscaling(ec2);
    let name = edge_group::group(cluster);
    if what.group {
        // Without the hook the group's instances terminate at once.
        client
            .delete_lifecycle_hook()
            .auto_scaling_group_name(&name)
            .lifecycle_hook_name(edge_group::hook(cluster))
            .send()
            .await
            .map(drop)
            .map_err(failed_at("Auto Scaling", "DeleteLifecycleHook"))
            .or_else(ignore_missing)?;
        client
            .delete_policy()
            .auto_scaling_group_name(&name)
            .policy_name(edge_group::policy(cluster))
            .send()
            .await
            .map(drop)
            .map_err(failed_at("Auto Scaling", "DeletePolicy"))
            .or_else(ignore_missing)?;
        client
            .delete_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .force_delete(true)
            .send()
            .await
            .map_err(failed_at("Auto Scaling", "DeleteAutoScalingGroup"))?;
        println!("deleting Auto Scaling group {name} with its instances");
        let deadline = Instant::now() + timeout;
        while group_exists(ec2, cluster).await? {
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("Auto Scaling group {name} to be deleted"),
                    after: timeout,
                });
            }
            tokio::time::sleep(POLL).await;
        }
        println!("deleted Auto Scaling group {name}, its termination hook and scaling policy");
    }
    if what.template {
        let template = edge_group::launch_template(cluster);
        ec2.client
            .delete_launch_template()
            .launch_template_name(&template)
            .send()
            .await
            .map_err(failed("DeleteLaunchTemplate"))?;
        println!("deleted launch template {template}");
    }
    if let Some(arn) = &what.target_group {
        let tg = edge_group::target_group(cluster);
        elb(ec2).delete_target_group().target_group_arn(arn).send().await.map_err(|err| {
            let in_use = err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception());
            let mut error = failed_at("ELB", "DeleteTargetGroup")(err);
            if in_use {
                if let Error::Ec2 { detail, .. } = &mut error {
                    detail.push_str(&format!(
                        "; target group {tg} is still used by a load balancer listener: remove it from the \
                         listener's rules, then run down again"
                    ));
                }
            }
            error
        })?;
        println!("deleted target group {tg}");
    }
    Ok(())
}

/// Register the plan's running voters and edges in the target group (the group
/// registers its own edges); registering one again changes nothing.
pub async fn register_nodes(ec2: &Ec2, cluster: &str, running: &[Instance]) -> Result<(), Error> {
    let Some(arn) = target_group_arn(ec2, cluster).await? else { return Ok(()) };
    let nodes: Vec<&Instance> =
        running.iter().filter(|i| i.role.is_chat_node() && i.key != GROUP_KEY && i.state == "running").collect();
    if nodes.is_empty() {
        return Ok(());
    }
    let mut request = elb(ec2).register_targets().target_group_arn(&arn);
    for node in &nodes {
        request = request.targets(TargetDescription::builder().id(&node.id).port(i32::from(PUBLIC_PORT)).build());
    }
    request.send().await.map_err(failed_at("ELB", "RegisterTargets"))?;
    println!(
        "target group {}: {} voters and edges registered (the group registers its own edges); forward the ALB \
         listener to it",
        edge_group::target_group(cluster),
        nodes.len()
    );
    Ok(())
}

/// A hook or policy already gone is not an error.
fn ignore_missing(err: Error) -> Result<(), Error> {
    match err {
        Error::Ec2 { ref detail, .. }
            if ["not found", "no lifecycle hook", "does not exist"]
                .iter()
                .any(|gone| detail.to_ascii_lowercase().contains(gone)) =>
        {
            Ok(())
        }
        other => Err(other),
    }
}
