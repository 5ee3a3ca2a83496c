//! `chatctl aws`: a cluster on EC2 (t3.small only, at most 30 instances), behind
//! the cargo feature `aws` so that the normal build never compiles aws-sdk-ec2.
//!
//! Always compiled (pure, unit-tested without the feature):
//! - [`args`]: the subcommands and flags.
//! - [`plan`]: roles, counts, node ids, the rules, zone spread, cost.
//! - [`lb_guidance`]: the load balancer settings printed with the plan.
//! - [`user_data`]: the first-boot scripts of nodes, MongoDB and Redis instances.
//! - [`failure`]: EC2 error codes classified into what the operator does next.
//! - [`names`]: the names and IAM policies of the cluster's SSM parameters, role, ...
//! - [`monitoring`]: the alarms, the metrics the nodes publish for them, the log group.
//! - [`edge_group`]: the autoscaled edges' names, and the scripts with which they
//!   join, drain and leave by themselves.
//!
//! With the feature (aws-sdk-ec2, aws-config):
//! - `ec2`: the client (standard AWS chain, `--endpoint-url`), the cluster's
//!   instances and groups found by tag, "what exists" for error reports.
//! - `network`: default VPC, one default subnet per zone, the Ubuntu image.
//! - `security_groups`: the load balancer's and the cluster's groups and rules.
//! - `secrets`: the cluster and JWT secrets as SSM SecureString parameters.
//! - `iam`: the chat nodes' role and instance profile (read those parameters).
//! - `cloudwatch`: the log group and alarms.
//! - `asg`: the edges' target group, launch template, Auto Scaling group, hook, policy.
//! - `provision`: `up`. `status`: `status`. `drill`: `drill`. `down`: `down`.
//! - `confirm`: the y/N question (or `--yes`).

pub mod args;
pub mod edge_group;
pub mod failure;
pub mod lb_guidance;
pub mod monitoring;
pub mod names;
pub mod plan;
pub mod user_data;

#[cfg(feature = "aws")]
mod asg;
#[cfg(feature = "aws")]
mod cloudwatch;
#[cfg(feature = "aws")]
mod confirm;
#[cfg(feature = "aws")]
mod down;
#[cfg(feature = "aws")]
mod drill;
#[cfg(feature = "aws")]
mod ec2;
#[cfg(feature = "aws")]
mod iam;
#[cfg(feature = "aws")]
mod network;
#[cfg(feature = "aws")]
mod provision;
#[cfg(feature = "aws")]
mod secrets;
#[cfg(feature = "aws")]
mod security_groups;
#[cfg(feature = "aws")]
mod status;

pub use args::AwsCommand;
pub use failure::Ec2Problem;

use crate::Error;

/// Carry out `chatctl aws ...`.
#[cfg(feature = "aws")]
pub async fn run(command: AwsCommand) -> Result<(), Error> {
    match command {
        AwsCommand::Plan(args) => {
            let plan = plan::Plan::new(args.spec())?;
            print!("{}", plan.render());
            print!("{}", lb_guidance::render(&plan));
            print!("{}", names::render(&plan.spec.cluster));
            print!("{}", monitoring::render(&plan.spec.cluster));
            if let Some(size) = plan.spec.edge_group {
                print!("{}", edge_group::render(&plan.spec.cluster, size));
            }
            Ok(())
        }
        AwsCommand::Up(args) => provision::up(args).await,
        AwsCommand::Status(args) => status::status(args).await,
        AwsCommand::Drill(args) => drill::drill(args.fault).await,
        AwsCommand::Down(args) => down::down(args).await,
    }
}

/// Without the feature every `aws` subcommand says how to get it.
#[cfg(not(feature = "aws"))]
pub async fn run(_command: AwsCommand) -> Result<(), Error> {
    Err(Error::AwsNotBuilt)
}
