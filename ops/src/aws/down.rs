//! `chatctl aws down`: delete the cluster's edge group (Auto Scaling group with its
//! hook and policy, launch template, target group) first, so that it launches no
//! replacements, then terminate exactly the instances tagged `chat:cluster` = NAME,
//! wait until they are gone, then delete the cluster's security groups (the
//! instances' group first: it names the load balancer's), its SSM parameters, its
//! nodes' IAM role and instance profile, its alarms and its log group. Nothing of another cluster is
//! touched: every call names instance or group ids found by the tag, or names
//! derived from the cluster name (`names`).

use std::time::Duration;

use tokio::time::Instant;

use super::args::DownArgs;
use super::confirm::confirm;
use super::ec2::{self, failed, filter, tag_filter, Ec2, TAG_CLUSTER};
use super::security_groups::CLUSTER;
use super::{asg, cloudwatch, edge_group, iam, secrets};
use super::{monitoring, names};
use crate::Error;

const POLL: Duration = Duration::from_secs(2);

pub async fn down(args: DownArgs) -> Result<(), Error> {
    let ec2 = Ec2::connect(&args.ec2).await?;
    let mut done = Vec::new();
    match run(&args, &ec2, &mut done).await {
        Ok(()) => Ok(()),
        Err(err) => {
            let exists = ec2::what_exists(&ec2, &args.cluster, &[]).await;
            if !done.is_empty() {
                println!("done before the failure: {}", done.join(", "));
            }
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

async fn run(args: &DownArgs, ec2: &Ec2, done: &mut Vec<String>) -> Result<(), Error> {
    let cluster = &args.cluster;
    let instances = ec2::instances(ec2, cluster).await?;
    let groups = ec2::groups(ec2, cluster).await?;
    let parameters = secrets::existing(ec2, cluster).await?;
    let role = iam::exists(ec2, cluster).await?;
    let (alarms, log_group) = cloudwatch::existing(ec2, cluster).await?;
    let edge_group = asg::existing(ec2, cluster).await?;
    if instances.is_empty()
        && groups.is_empty()
        && parameters.is_empty()
        && !role
        && alarms.is_empty()
        && !log_group
        && edge_group.is_empty()
    {
        println!("nothing is tagged with cluster {cluster} in {}; nothing to do", ec2.region);
        return Ok(());
    }
    println!("cluster {cluster} in {}:{}", ec2.region, ec2::describe(&instances, &groups));
    if !parameters.is_empty() {
        println!("  SSM parameters: {}", parameters.join(", "));
    }
    if role {
        println!("  IAM role and instance profile: {}", names::node_role(cluster));
    }
    if !alarms.is_empty() {
        println!("  alarms: {}", alarms.join(", "));
    }
    if log_group {
        println!("  log group: {}", monitoring::log_group(cluster));
    }
    if !edge_group.is_empty() {
        let parts = [
            (edge_group.group, format!("Auto Scaling group {} (hook, policy)", edge_group::group(cluster))),
            (edge_group.template, format!("launch template {}", edge_group::launch_template(cluster))),
            (edge_group.target_group.is_some(), format!("target group {}", edge_group::target_group(cluster))),
        ];
        let present: Vec<String> = parts.into_iter().filter(|(exists, _)| *exists).map(|(_, name)| name).collect();
        println!("  edge group: {}", present.join(", "));
    }
    confirm(
        &format!(
            "terminate {} instances and delete {}{} security groups, {} SSM parameters, {} alarms, the log group and \
             the IAM role of cluster {cluster}",
            instances.len(),
            if edge_group.is_empty() { "" } else { "the edge group, " },
            groups.len(),
            parameters.len(),
            alarms.len()
        ),
        args.yes,
    )?;
    // First the group, or it would launch replacements for the instances terminated below.
    if !edge_group.is_empty() {
        asg::delete(ec2, cluster, &edge_group, args.timeout).await?;
        done.push(format!("edge group {} deleted", edge_group::group(cluster)));
    }
    if !instances.is_empty() {
        let ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
        ec2.client
            .terminate_instances()
            .set_instance_ids(Some(ids.clone()))
            .send()
            .await
            .map_err(failed("TerminateInstances"))?;
        println!("terminating {} instances: {}", ids.len(), ids.join(", "));
        done.push(format!("termination of {} requested", ids.join(", ")));
        wait_terminated(ec2, cluster, ids.len(), args.timeout).await?;
    }
    // The instances' group names the load balancer's group in a rule: delete it first.
    let mut ordered: Vec<_> = groups.into_iter().collect();
    ordered.sort_by_key(|(role, _)| role != CLUSTER);
    for (_, group) in ordered {
        delete_group(ec2, &group.id, &group.name, args.timeout).await?;
        done.push(format!("security group {} deleted", group.name));
    }
    secrets::delete(ec2, &parameters).await?;
    if !parameters.is_empty() {
        done.push(format!("SSM parameters {} deleted", parameters.join(", ")));
    }
    if role {
        iam::delete(ec2, cluster).await?;
        done.push(format!("IAM role {} deleted", names::node_role(cluster)));
    }
    cloudwatch::delete(ec2, cluster, &alarms, log_group).await?;
    println!("cluster {cluster} is gone");
    Ok(())
}

/// Wait until no instance of the cluster is pending, running, stopping, stopped
/// or shutting down.
async fn wait_terminated(ec2: &Ec2, cluster: &str, total: usize, timeout: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        let answer = ec2
            .client
            .describe_instances()
            .filters(tag_filter(TAG_CLUSTER, cluster))
            .filters(filter("instance-state-name", &["pending", "running", "stopping", "stopped", "shutting-down"]))
            .send()
            .await
            .map_err(failed("DescribeInstances"))?;
        let left = answer.reservations().iter().map(|r| r.instances().len()).sum::<usize>();
        let terminated = total.saturating_sub(left);
        if last != Some(terminated) {
            println!("terminated: {terminated}/{total}");
            last = Some(terminated);
        }
        if left == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout { what: format!("{total} instances to terminate"), after: timeout });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Delete a group; EC2 refuses while a just-terminated instance still holds it
/// (DependencyViolation), so that is retried until `timeout`.
async fn delete_group(ec2: &Ec2, id: &str, name: &str, timeout: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        match ec2.client.delete_security_group().group_id(id).send().await.map_err(failed("DeleteSecurityGroup")) {
            Ok(_) => {
                println!("deleted security group {name} ({id})");
                return Ok(());
            }
            Err(Error::Ec2 { ref detail, .. })
                if detail.contains("DependencyViolation") && Instant::now() < deadline =>
            {
                tokio::time::sleep(POLL * 2).await;
            }
            Err(e) => return Err(e),
        }
    }
}
