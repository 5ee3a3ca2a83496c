//! `chatctl aws ...` command-line definitions (clap derive). Always compiled, so
//! the help is the same in every build; only carrying them out needs the `aws`
//! feature.

use std::time::Duration;

use chat_raft::NodeId;
use clap::{Args, Subcommand};

use super::plan::{GroupSize, PlanSpec, DEFAULT_HOURLY_USD, DEFAULT_HOURS, INSTANCE_TYPE};
use crate::duration;

/// Operate a cluster on AWS EC2 (t3.small only, at most 30 instances).
#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:
  chatctl aws plan --cluster event --voters 3 --edges 20 --mongo 3 --redis 1
  chatctl aws up --cluster event --voters 3 --edges 20 --mongo 3 --redis 1 \\
      --binary-url https://bucket.s3.amazonaws.com/chat-node --admin-cidr 10.0.0.0/8
  chatctl aws status --cluster event
  chatctl aws drill stop-leader --cluster event
  chatctl aws down --cluster event

Credentials and region come from the standard AWS chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, \
AWS_REGION, ...). These commands exist only in a chatctl built with \
`cargo build -p chat-ops --features aws`.")]
pub enum AwsCommand {
    /// Print the instances a cluster needs (role, count, type), the cost, and the load
    /// balancer settings. Refuses more than 30 instances and any type but t3.small.
    Plan(PlanArgs),
    /// Create what the plan says and is missing (security groups, instances), wait
    /// until they run, bootstrap the voters and join the edges.
    Up(UpArgs),
    /// The cluster's instances by role with their state, and the Raft view.
    Status(AwsStatusArgs),
    /// Inject a fault on EC2 and measure the recovery.
    Drill(DrillArgs),
    /// Terminate every instance and delete every security group tagged with the cluster.
    Down(DownArgs),
}

/// Region and endpoint, on top of the standard AWS chain.
#[derive(Debug, Clone, Args)]
pub struct Ec2Args {
    /// AWS region [default: from the AWS chain: AWS_REGION, profile].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// EC2 endpoint, for emulators (e.g. http://127.0.0.1:5000 for moto).
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
}

/// What to plan.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Cluster name: the `chat:cluster` tag of everything created.
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
    /// Raft voters (3 or 5).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub voters: u32,
    /// Edges (Raft learners serving clients).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub edges: u32,
    /// MongoDB instances, one replica set (0, 1 or 3; 0: embedded message store).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub mongo: u32,
    /// Redis instances with Sentinel (0 to 3; 0: no cache, per-node rate limits).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub redis: u32,
    /// Instance type; anything but t3.small is refused.
    #[arg(long, value_name = "TYPE", default_value = INSTANCE_TYPE)]
    pub instance_type: String,
    /// USD per instance-hour (t3.small on-demand, us-east-1).
    #[arg(long, value_name = "USD", default_value_t = DEFAULT_HOURLY_USD)]
    pub hourly_price: f64,
    /// Hours the cluster runs, for the total cost (96: a 4-day event).
    #[arg(long, value_name = "H", default_value_t = DEFAULT_HOURS)]
    pub hours: f64,
    /// Most edges of the Auto Scaling group (launched from a launch template, scaled
    /// on CPU, drained before termination); counted in the 30-instance cap. 0: no group.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub edge_group_max: u32,
    /// Fewest edges of the Auto Scaling group (also its starting size).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub edge_group_min: u32,
}

impl PlanArgs {
    pub fn spec(&self) -> PlanSpec {
        PlanSpec {
            cluster: self.cluster.clone(),
            voters: self.voters,
            edges: self.edges,
            mongo: self.mongo,
            redis: self.redis,
            instance_type: self.instance_type.clone(),
            hourly_usd: self.hourly_price,
            hours: self.hours,
            edge_group: (self.edge_group_max > 0 || self.edge_group_min > 0)
                .then_some(GroupSize { min: self.edge_group_min, max: self.edge_group_max }),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub ec2: Ec2Args,
    /// URL the instances download the chat-node binary (Linux x86_64) from.
    #[arg(long, value_name = "URL", required_unless_present = "no_join")]
    pub binary_url: Option<String>,
    /// Create the groups and instances only: no bootstrap (for emulators, where nothing boots).
    #[arg(long)]
    pub no_join: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// AMI to run [default: the newest Canonical Ubuntu 22.04 amd64 image of the region].
    #[arg(long, value_name = "AMI_ID")]
    pub ami: Option<String>,
    /// Also open the cluster listener (7001) to this CIDR: the operator host that runs
    /// chatctl, when it is not in the cluster's security group (e.g. a bastion or VPN).
    #[arg(long, value_name = "CIDR")]
    pub admin_cidr: Option<String>,
    /// How long to wait for the instances to run, then for the nodes to answer.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration::parse)]
    pub ready_timeout: Duration,
    /// Notify this ARN (an SNS topic) when one of the cluster's alarms fires; repeatable.
    #[arg(long, value_name = "ARN")]
    pub alarm_action: Vec<String>,
}

/// Which cluster, and how to reach its cluster listener.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Cluster name (the `chat:cluster` tag).
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
    #[command(flatten)]
    pub ec2: Ec2Args,
    /// Ask the cluster listener at ADDR (e.g. the local end of an SSH or SSM tunnel)
    /// instead of the instances' private addresses.
    #[arg(long, value_name = "ADDR")]
    pub via: Option<String>,
    /// Cluster secret [default: the SSM parameter /chat/NAME/cluster-secret `up` wrote].
    #[arg(long, value_name = "S", env = "CHAT_CLUSTER_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct AwsStatusArgs {
    #[command(flatten)]
    pub target: ClusterArgs,
    /// Only the EC2 view: do not ask the cluster listener.
    #[arg(long)]
    pub ec2_only: bool,
    /// Print JSON: {"cluster", "instances": [...], "raft": <chatctl status --json> | null, "raft_error"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DrillArgs {
    #[command(subcommand)]
    pub fault: Fault,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Fault {
    /// Stop the instance of the node the cluster reports as leader; measure the election.
    StopLeader(DrillOpts),
    /// Stop node ID's instance; measure how long the cluster has no leader.
    StopNode {
        /// Node id (the `chat:node-id` tag).
        id: NodeId,
        #[command(flatten)]
        opts: DrillOpts,
    },
    /// Reboot node ID's instance; measure until it answers again.
    RebootNode {
        /// Node id (the `chat:node-id` tag).
        id: NodeId,
        #[command(flatten)]
        opts: DrillOpts,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DrillOpts {
    #[command(flatten)]
    pub target: ClusterArgs,
    /// How long to wait for recovery.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration::parse)]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// Cluster name (the `chat:cluster` tag).
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
    #[command(flatten)]
    pub ec2: Ec2Args,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// How long to wait for the instances to terminate before deleting the groups.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration::parse)]
    pub timeout: Duration,
}
