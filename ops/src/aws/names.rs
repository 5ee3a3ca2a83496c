//! The names of everything `chatctl aws up` creates for a cluster besides instances
//! and security groups, all derived from the cluster name so that `down` finds them
//! again without a state file: the SSM parameters holding the secrets, the instance
//! role and its policy, the log group and the alarms. Pure, so `plan` prints exactly
//! the names `up` creates.

use serde_json::json;

/// The secrets every chat node needs, as SSM SecureString parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// `CHAT_CLUSTER_SECRET`: authenticates the cluster listeners to each other.
    Cluster,
    /// `CHAT_JWT_SECRET`: signs the clients' session tokens.
    Jwt,
}

impl Secret {
    pub const ALL: [Secret; 2] = [Secret::Cluster, Secret::Jwt];

    /// The environment variable chat-node reads it from.
    pub fn env(self) -> &'static str {
        match self {
            Secret::Cluster => "CHAT_CLUSTER_SECRET",
            Secret::Jwt => "CHAT_JWT_SECRET",
        }
    }

    fn leaf(self) -> &'static str {
        match self {
            Secret::Cluster => "cluster-secret",
            Secret::Jwt => "jwt-secret",
        }
    }
}

/// `/chat/NAME`: the one parameter path of a cluster; the instance role may read
/// only below it.
pub fn parameter_path(cluster: &str) -> String {
    format!("/chat/{cluster}")
}

/// `/chat/NAME/cluster-secret`, `/chat/NAME/jwt-secret`.
pub fn parameter(cluster: &str, secret: Secret) -> String {
    format!("{}/{}", parameter_path(cluster), secret.leaf())
}

/// The IAM role of the chat nodes, and the instance profile that carries it (same name).
pub fn node_role(cluster: &str) -> String {
    format!("chat-{cluster}-node")
}

/// The inline policy of [`node_role`].
pub fn node_policy_name(cluster: &str) -> String {
    format!("chat-{cluster}-node")
}

/// Who may assume [`node_role`]: EC2 instances.
pub fn ec2_trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ec2.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    })
    .to_string()
}

/// What a chat node may do with its role: read its cluster's parameters and nothing
/// else in SSM (SecureStrings under the AWS-managed key `aws/ssm` need no KMS grant
/// of their own: that key lets SSM decrypt for any principal of the account allowed
/// to read the parameter); write its log lines into its cluster's log group; let its
/// cluster's edge group terminate it once drained (a group edge completes its own
/// termination hook); publish metrics in the `Chat` namespace only.
pub fn node_policy(cluster: &str, region: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ReadClusterSecrets",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:GetParameters"],
            "Resource": format!("arn:aws:ssm:{region}:*:parameter{}/*", parameter_path(cluster))
        }, {
            "Sid": "ShipLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": format!("arn:aws:logs:{region}:*:log-group:{}:*", super::monitoring::log_group(cluster))
        }, {
            "Sid": "CompleteOwnTermination",
            "Effect": "Allow",
            "Action": "autoscaling:CompleteLifecycleAction",
            "Resource": format!(
                "arn:aws:autoscaling:{region}:*:autoScalingGroup:*:autoScalingGroupName/{}",
                super::edge_group::group(cluster)
            )
        }, {
            "Sid": "PublishMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": { "StringEquals": { "cloudwatch:namespace": super::monitoring::NAMESPACE } }
        }]
    })
    .to_string()
}

/// What `chatctl aws plan` prints about the resources `up` creates besides the
/// instances: kept here, next to the names, so plan and up cannot drift apart.
pub fn render(cluster: &str) -> String {
    let role = node_role(cluster);
    format!(
        "also created by up:\n  - secrets: SSM SecureString parameters {} and {} (never in tags or user data; \
         each chat node reads them at every start with its role)\n  - IAM role and instance profile {role} on \
         the voters and edges: ssm:GetParameter on {}/* only\n  - every instance: IMDSv2 required (HttpTokens \
         required, hop limit 1)\n",
        parameter(cluster, Secret::Cluster),
        parameter(cluster, Secret::Jwt),
        parameter_path(cluster),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_parameter_path_per_cluster() {
        assert_eq!(parameter("event", Secret::Cluster), "/chat/event/cluster-secret");
        assert_eq!(parameter("event", Secret::Jwt), "/chat/event/jwt-secret");
        assert_eq!(Secret::Jwt.env(), "CHAT_JWT_SECRET");
        assert_eq!(node_role("event"), "chat-event-node");
        let text = render("event");
        assert!(text.contains("/chat/event/cluster-secret and /chat/event/jwt-secret"), "{text}");
        assert!(text.contains("IMDSv2 required"), "{text}");
    }

    #[test]
    fn the_node_role_reads_only_its_own_clusters_parameters() {
        let policy: serde_json::Value = serde_json::from_str(&node_policy("event", "eu-west-1")).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        let ssm = statements.iter().find(|s| s["Sid"] == "ReadClusterSecrets").unwrap();
        assert_eq!(ssm["Resource"], "arn:aws:ssm:eu-west-1:*:parameter/chat/event/*");
        assert_eq!(ssm["Action"], json!(["ssm:GetParameter", "ssm:GetParameters"]));
        let logs = statements.iter().find(|s| s["Sid"] == "ShipLogs").unwrap();
        assert_eq!(logs["Resource"], "arn:aws:logs:eu-west-1:*:log-group:/chat/event/nodes:*");
        let hook = statements.iter().find(|s| s["Sid"] == "CompleteOwnTermination").unwrap();
        assert_eq!(
            hook["Resource"],
            "arn:aws:autoscaling:eu-west-1:*:autoScalingGroup:*:autoScalingGroupName/chat-event-edges"
        );
        let metrics = statements.iter().find(|s| s["Sid"] == "PublishMetrics").unwrap();
        assert_eq!(metrics["Condition"]["StringEquals"]["cloudwatch:namespace"], "Chat");
        let trust: serde_json::Value = serde_json::from_str(&ec2_trust_policy()).unwrap();
        assert_eq!(trust["Statement"][0]["Principal"]["Service"], "ec2.amazonaws.com");
    }
}
