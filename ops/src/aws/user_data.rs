//! The user data (a shell script cloud-init runs once, as root, at first boot) of
//! each kind of instance, on Ubuntu 22.04:
//!
//! - chat nodes download chat-node from `--binary-url` and run it as the systemd
//!   unit `chat-node` with its id, role, addresses and stores as flags. The secrets
//!   are in no script: before every start of the unit, `fetch-secrets` reads them
//!   from SSM Parameter Store with the instance role (IMDSv2 credentials) into
//!   `/run/chat/secrets.env` (tmpfs, mode 600: never on disk, not visible in `ps`).
//!   chatctl then bootstraps the voters and joins the edges through the cluster
//!   admin API.
//! - MongoDB instances install `mongodb-org` 7.0 from MongoDB's apt repository with
//!   replica set `chat`; the initiator (`mongo-1`, created last, so it knows the
//!   others' addresses) waits for its peers and runs `rs.initiate`.
//! - Redis instances run `redis-server` (the first as master, the others replicas
//!   of it) and `redis-sentinel` monitoring the master as `mymaster`.
//!
//! Each node advertises its private address (from the instance metadata service):
//! security-group rules that name a group match only private-address traffic.
//! Anyone allowed `ec2:DescribeInstanceAttribute` can read user data: it holds
//! parameter names, never their values.

use std::fmt::Write;

use chat_raft::NodeId;

use super::names::{self, Secret};
use super::plan::Role;
use super::{edge_group, monitoring};

pub const CLUSTER_PORT: u16 = 7001;
pub const MONGO_PORT: u16 = 27017;
pub const REDIS_PORT: u16 = 6379;
pub const SENTINEL_PORT: u16 = 26379;
/// MongoDB replica set name.
pub const REPLICA_SET: &str = "chat";
/// Redis master name at the Sentinels (chat-node's `--redis-master` default).
pub const REDIS_MASTER: &str = "mymaster";
const MONGO_SERIES: &str = "7.0";

/// Everything a chat node's script needs.
#[derive(Debug, Clone)]
pub struct NodeBoot<'a> {
    pub cluster: &'a str,
    /// Region of the SSM parameters the node reads its secrets from.
    pub region: &'a str,
    /// The Raft node id; `None` for an edge of the Auto Scaling group, which takes its
    /// id from its instance id at boot ([`edge_group::group_node_id`]).
    pub node_id: Option<NodeId>,
    pub role: Role,
    /// Where to download chat-node from; `None`: the AMI already has /usr/local/bin/chat-node.
    pub binary_url: Option<&'a str>,
    /// Private addresses of the MongoDB instances (replica set members).
    pub mongo_hosts: Vec<String>,
    /// Private addresses of the Redis instances (each runs a Sentinel).
    pub redis_hosts: Vec<String>,
    /// Private addresses of the voters, through which a group edge joins and leaves
    /// the membership (unused for the others: chatctl joins them).
    pub voters: Vec<String>,
}

/// Single-quote `s` for the shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

const PRELUDE: &str = r#"#!/bin/bash
set -euo pipefail
exec >>/var/log/chat-user-data.log 2>&1
export DEBIAN_FRONTEND=noninteractive
TOKEN=$(curl -sS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
PRIVATE_IP=$(curl -sS -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/local-ipv4)
"#;

/// MongoDB connection string of the replica set, for `--mongodb-uri`.
pub fn mongodb_uri(hosts: &[String]) -> Option<String> {
    if hosts.is_empty() {
        return None;
    }
    let members: Vec<String> = hosts.iter().map(|h| format!("{h}:{MONGO_PORT}")).collect();
    Some(format!("mongodb://{}/chat?replicaSet={REPLICA_SET}", members.join(",")))
}

/// The script of voter or edge `boot.node_id`, or of an edge of the Auto Scaling group.
pub fn node_script(boot: &NodeBoot<'_>) -> String {
    let id = boot.node_id.map_or_else(|| "${NODE_ID}".to_string(), |id| id.to_string());
    let mut flags = format!(
        "--id {id} --role {} --public-addr 0.0.0.0:5001 --cluster-addr 0.0.0.0:{CLUSTER_PORT} \
         --advertise-host ${{PRIVATE_IP}} --data-dir /var/lib/chat/data --log-format json",
        boot.role.as_str()
    );
    if !boot.redis_hosts.is_empty() {
        let sentinels: Vec<String> = boot.redis_hosts.iter().map(|h| format!("{h}:{SENTINEL_PORT}")).collect();
        let _ = write!(flags, " --redis-sentinels {} --redis-master {REDIS_MASTER}", sentinels.join(","));
    }
    // Clients come through the ALB, which appends their address to X-Forwarded-For: the
    // nodes trust that one hop, or every client would share the ALB's address in rate
    // limits and password-failure throttling.
    let mut env = String::from("CHAT_TRUSTED_PROXY_HOPS=1\n");
    if let Some(uri) = mongodb_uri(&boot.mongo_hosts) {
        let _ = writeln!(env, "CHAT_MONGODB_URI={uri}");
    }
    let mut s = String::from(PRELUDE);
    if boot.node_id.is_none() {
        s.push_str(edge_group::NODE_ID_SH);
    }
    let _ = write!(
        s,
        r#"# chat-node {id} ({role}) of cluster {cluster}, written by `chatctl aws up`
apt-get update -q
apt-get install -y -q awscli
{download}{fetch_secrets}{drain}id chat >/dev/null 2>&1 || useradd --system --home-dir /var/lib/chat --create-home --shell /usr/sbin/nologin chat
install -d -o chat -g chat -m 700 /var/lib/chat/data
install -d -m 700 /etc/chat
umask 077
cat >/etc/chat/node.env <<'ENV'
{env}ENV
cat >/etc/systemd/system/chat-node.service <<UNIT
[Unit]
Description=chat-node {id} ({role}) of cluster {cluster}
After=network-online.target
Wants=network-online.target

[Service]
User=chat
ExecStartPre=+/usr/local/lib/chat/fetch-secrets
EnvironmentFile=/etc/chat/node.env
EnvironmentFile=-/run/chat/secrets.env
StandardError=append:{node_log}
ExecStart=/usr/local/bin/chat-node {flags}
ExecStop=+{lib}/chat-drain
TimeoutStopSec=60
Restart=always
RestartSec=2
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
UNIT
chmod 644 /etc/systemd/system/chat-node.service
{monitoring}{group}systemctl daemon-reload
systemctl enable --now chat-node chat-metrics.timer{group_units}
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
    -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json
"#,
        lib = edge_group::LIB,
        drain = drain_setup(),
        group = if boot.node_id.is_none() { group_setup(boot) } else { String::new() },
        group_units = if boot.node_id.is_none() { " chat-join chat-lifecycle" } else { "" },
        node_log = monitoring::NODE_LOG,
        monitoring = monitoring_setup(boot.cluster, boot.region),
        role = boot.role.as_str(),
        cluster = boot.cluster,
        fetch_secrets = fetch_secrets(boot.cluster, boot.region),
        download = boot.binary_url.map_or_else(String::new, |url| format!(
            "curl -fsSL --retry 10 --retry-delay 3 -o /usr/local/bin/chat-node {}\nchmod 755 /usr/local/bin/chat-node\n",
            sh_quote(url)
        )),
    );
    s
}

/// `chat-drain` (chat-node's `ExecStop`) and the decisions it shares with
/// `chat-lifecycle` ([`edge_group`]).
fn drain_setup() -> String {
    format!(
        "cat >{lib}/drain-decision <<'DECISION'\n{decision}DECISION\ncat >{lib}/chat-drain <<'DRAIN'\n{drain}DRAIN\n\
         chmod 700 {lib}/chat-drain\n",
        lib = edge_group::LIB,
        decision = edge_group::DRAIN_DECISION,
        drain = edge_group::drain_script(),
    )
}

/// A group edge's facts for its scripts, `chat-join` (after chat-node, retried
/// until the edge is a learner) and `chat-lifecycle` (leaves when the group
/// terminates the instance).
fn group_setup(boot: &NodeBoot<'_>) -> String {
    let lib = edge_group::LIB;
    format!(
        r#"printf 'INSTANCE_ID=%s\nNODE_ID=%s\nPRIVATE_IP=%s\n' "$INSTANCE_ID" "$NODE_ID" "$PRIVATE_IP" >{env}
cat >{lib}/chat-join <<'JOIN'
{join}JOIN
cat >{lib}/chat-lifecycle <<'LIFECYCLE'
{lifecycle}LIFECYCLE
chmod 700 {lib}/chat-join {lib}/chat-lifecycle
cat >/etc/systemd/system/chat-join.service <<'UNIT'
[Unit]
Description=add this edge to the cluster as a learner
After=chat-node.service
Requires=chat-node.service
StartLimitIntervalSec=0
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={lib}/chat-join
Restart=on-failure
RestartSec=5
[Install]
WantedBy=multi-user.target
UNIT
cat >/etc/systemd/system/chat-lifecycle.service <<'UNIT'
[Unit]
Description=drain and leave the cluster when the Auto Scaling group terminates this instance
After=chat-node.service
[Service]
ExecStart={lib}/chat-lifecycle
Restart=on-failure
RestartSec=5
[Install]
WantedBy=multi-user.target
UNIT
"#,
        env = edge_group::INSTANCE_ENV,
        join = edge_group::join_script(&boot.voters),
        lifecycle = edge_group::lifecycle_script(boot.cluster, boot.region, &boot.voters),
    )
}

/// Logs and metrics of a chat node (issue 15): chat-node's JSON lines go to
/// [`monitoring::NODE_LOG`] (rotated daily, copytruncate: systemd keeps the file
/// open), the CloudWatch agent ships that file to the cluster's log group, and the
/// `chat-metrics` timer publishes the alarms' metrics each minute.
fn monitoring_setup(cluster: &str, region: &str) -> String {
    format!(
        r#"install -d -m 755 /var/log/chat
cat >/etc/logrotate.d/chat-node <<'ROTATE'
{log} {{
    daily
    maxsize 200M
    rotate 3
    compress
    missingok
    copytruncate
}}
ROTATE
curl -fsSL --retry 10 --retry-delay 3 -o /tmp/amazon-cloudwatch-agent.deb https://amazoncloudwatch-agent.s3.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb
dpkg -i -E /tmp/amazon-cloudwatch-agent.deb
install -d -m 755 /opt/aws/amazon-cloudwatch-agent/etc
cat >/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<'AGENT'
{agent}
AGENT
cat >/usr/local/lib/chat/chat-metrics <<'METRICS'
{metrics}METRICS
chmod 755 /usr/local/lib/chat/chat-metrics
cat >/etc/systemd/system/chat-metrics.service <<'UNIT'
[Unit]
Description=publish chat-node's alarm metrics to CloudWatch
[Service]
Type=oneshot
ExecStart=/usr/local/lib/chat/chat-metrics
UNIT
cat >/etc/systemd/system/chat-metrics.timer <<'UNIT'
[Unit]
Description=publish chat-node's alarm metrics every minute
[Timer]
OnBootSec=60
OnUnitActiveSec={period}
AccuracySec=1
[Install]
WantedBy=timers.target
UNIT
"#,
        log = monitoring::NODE_LOG,
        agent = monitoring::agent_config(cluster),
        metrics = monitoring::metrics_script(cluster, region),
        period = monitoring::PERIOD_S,
    )
}

/// `/usr/local/lib/chat/fetch-secrets`, run as root before every start of
/// chat-node: the secrets from SSM (SecureString, decrypted with the instance
/// role; the AWS CLI takes its credentials from IMDSv2) into a tmpfs file only root
/// reads. A failed read fails the start, and systemd retries it.
fn fetch_secrets(cluster: &str, region: &str) -> String {
    let mut s = String::from(
        "install -d -m 755 /usr/local/lib/chat\ncat >/usr/local/lib/chat/fetch-secrets <<'FETCH'\n#!/bin/bash\n\
         set -euo pipefail\numask 077\ninstall -d -m 700 /run/chat\n",
    );
    let _ = writeln!(
        s,
        "get() {{ aws ssm get-parameter --region {} --with-decryption --name \"$1\" --query Parameter.Value --output text; }}",
        sh_quote(region)
    );
    // One assignment per secret: a failed read in an assignment stops the script (set -e),
    // where one inside another command's arguments would not.
    for secret in Secret::ALL {
        let _ = writeln!(s, "{}=$(get {})", secret.env(), sh_quote(&names::parameter(cluster, secret)));
    }
    let pairs: Vec<String> = Secret::ALL.iter().map(|secret| format!("{0}=\"${0}\"", secret.env())).collect();
    let _ = writeln!(s, "printf '%s\\n' {} >/run/chat/secrets.env.new", pairs.join(" "));
    s.push_str(
        "mv /run/chat/secrets.env.new /run/chat/secrets.env\nFETCH\nchmod 700 /usr/local/lib/chat/fetch-secrets\n",
    );
    s
}

/// The script of MongoDB instance `index`. `initiate_with`: the other members'
/// private addresses, for the initiator only.
pub fn mongo_script(cluster: &str, index: u32, initiate_with: Option<&[String]>) -> String {
    let mut s = String::from(PRELUDE);
    let _ = write!(
        s,
        r#"# MongoDB {index} (replica set {REPLICA_SET}) of cluster {cluster}, written by `chatctl aws up`
apt-get update -q
apt-get install -y -q gnupg curl
curl -fsSL https://www.mongodb.org/static/pgp/server-{MONGO_SERIES}.asc | gpg --dearmor --yes -o /usr/share/keyrings/mongodb-server-{MONGO_SERIES}.gpg
echo "deb [ arch=amd64,arm64 signed-by=/usr/share/keyrings/mongodb-server-{MONGO_SERIES}.gpg ] https://repo.mongodb.org/apt/ubuntu jammy/mongodb-org/{MONGO_SERIES} multiverse" >/etc/apt/sources.list.d/mongodb-org-{MONGO_SERIES}.list
apt-get update -q
apt-get install -y -q mongodb-org
sed -i 's/^  bindIp: .*/  bindIp: 0.0.0.0/' /etc/mongod.conf
grep -q '^replication:' /etc/mongod.conf || printf 'replication:\n  replSetName: {REPLICA_SET}\n' >>/etc/mongod.conf
systemctl enable mongod
systemctl restart mongod
until mongosh --quiet --eval 'db.adminCommand({{ping: 1}}).ok' >/dev/null 2>&1; do sleep 2; done
"#
    );
    if let Some(peers) = initiate_with {
        let mut members = vec![format!("{{_id: 0, host: \"${{PRIVATE_IP}}:{MONGO_PORT}\"}}")];
        for (i, peer) in peers.iter().enumerate() {
            let _ = writeln!(
                s,
                "until mongosh --quiet --host {peer} --eval 'db.adminCommand({{ping: 1}}).ok' >/dev/null 2>&1; do sleep 5; done"
            );
            members.push(format!("{{_id: {}, host: \"{peer}:{MONGO_PORT}\"}}", i + 1));
        }
        let _ = writeln!(
            s,
            "mongosh --quiet --eval \"try {{ rs.status().ok }} catch (e) {{ rs.initiate({{_id: '{REPLICA_SET}', members: [{}]}}) }}\"",
            members.join(", ")
        );
    }
    s
}

/// The script of Redis instance `index`: `master` is `None` on the master itself.
/// Every Redis instance also runs a Sentinel; `quorum` Sentinels must agree on a failover.
pub fn redis_script(cluster: &str, index: u32, master: Option<&str>, quorum: u32) -> String {
    let mut s = String::from(PRELUDE);
    let master_ip = master.map_or_else(|| "${PRIVATE_IP}".to_string(), str::to_string);
    let _ = write!(
        s,
        r#"# Redis {index} with Sentinel of cluster {cluster}, written by `chatctl aws up`
apt-get update -q
apt-get install -y -q redis-server redis-sentinel
sed -i -e 's/^bind .*/bind 0.0.0.0/' -e 's/^protected-mode yes/protected-mode no/' /etc/redis/redis.conf
"#
    );
    if master.is_some() {
        let _ = writeln!(
            s,
            "grep -q '^replicaof ' /etc/redis/redis.conf || echo 'replicaof {master_ip} {REDIS_PORT}' >>/etc/redis/redis.conf"
        );
    }
    let _ = write!(
        s,
        r#"systemctl restart redis-server
sed -i -e 's/^bind .*/bind 0.0.0.0/' -e 's/^protected-mode yes/protected-mode no/' -e '/^sentinel monitor /d' /etc/redis/sentinel.conf
grep -q '^bind ' /etc/redis/sentinel.conf || echo 'bind 0.0.0.0' >>/etc/redis/sentinel.conf
echo "sentinel monitor {REDIS_MASTER} {master_ip} {REDIS_PORT} {quorum}" >>/etc/redis/sentinel.conf
systemctl enable redis-sentinel
systemctl restart redis-sentinel
"#
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> NodeBoot<'static> {
        NodeBoot {
            cluster: "event",
            region: "eu-west-1",
            node_id: Some(4),
            role: Role::Edge,
            binary_url: Some("https://example.com/chat-node?a=1&b='x'"),
            mongo_hosts: vec!["10.0.1.5".into(), "10.0.2.6".into()],
            redis_hosts: vec!["10.0.1.7".into()],
            voters: vec![],
        }
    }

    #[test]
    fn node_script_runs_chat_node_with_its_real_flags() {
        let s = node_script(&boot());
        assert!(s.starts_with("#!/bin/bash\n"));
        assert!(s.contains("-o /usr/local/bin/chat-node 'https://example.com/chat-node?a=1&b='\\''x'\\'''"), "{s}");
        assert!(s.contains(
            "ExecStart=/usr/local/bin/chat-node --id 4 --role edge --public-addr 0.0.0.0:5001 \
             --cluster-addr 0.0.0.0:7001 --advertise-host ${PRIVATE_IP} --data-dir /var/lib/chat/data \
             --log-format json --redis-sentinels 10.0.1.7:26379 --redis-master mymaster\n"
        ));
        // The secrets come from SSM at each start, never from the script itself.
        assert!(s.contains("ExecStartPre=+/usr/local/lib/chat/fetch-secrets\n"), "{s}");
        assert!(s.contains("EnvironmentFile=-/run/chat/secrets.env\n"), "{s}");
        assert!(s.contains(
            "aws ssm get-parameter --region 'eu-west-1' --with-decryption --name \"$1\" --query Parameter.Value"
        ));
        assert!(s.contains("CHAT_CLUSTER_SECRET=$(get '/chat/event/cluster-secret')\n"), "{s}");
        assert!(s.contains("CHAT_JWT_SECRET=$(get '/chat/event/jwt-secret')\n"), "{s}");
        assert!(
            s.contains(
                "printf '%s\\n' CHAT_CLUSTER_SECRET=\"$CHAT_CLUSTER_SECRET\" CHAT_JWT_SECRET=\"$CHAT_JWT_SECRET\" \
             >/run/chat/secrets.env.new\n"
            ),
            "{s}"
        );
        assert!(!s.contains("CHAT_CLUSTER_SECRET=\n") && !s.contains("node.env <<'ENV'\nCHAT_CLUSTER"), "{s}");
        assert!(s.contains("CHAT_TRUSTED_PROXY_HOPS=1\n"), "the nodes trust the ALB's one hop: {s}");
        assert!(s.contains("CHAT_MONGODB_URI=mongodb://10.0.1.5:27017,10.0.2.6:27017/chat?replicaSet=chat\n"));
        assert!(s.contains("systemctl enable --now chat-node chat-metrics.timer"));
        // Logs: JSON lines into the file the CloudWatch agent ships to the cluster's group.
        assert!(s.contains("--data-dir /var/lib/chat/data --log-format json"), "{s}");
        assert!(s.contains("StandardError=append:/var/log/chat/node.log\n"), "{s}");
        assert!(s.contains("\"log_group_name\":\"/chat/event/nodes\""), "{s}");
        assert!(s.contains("amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s"), "{s}");
        assert!(s.contains("aws cloudwatch put-metric-data --region 'eu-west-1' --namespace Chat"), "{s}");
    }

    #[test]
    fn every_node_drains_before_it_stops_and_group_edges_join_and_leave_by_themselves() {
        let fixed = node_script(&boot());
        assert!(fixed.contains("ExecStop=+/usr/local/lib/chat/chat-drain\nTimeoutStopSec=60\n"), "{fixed}");
        assert!(fixed.contains("cat >/usr/local/lib/chat/chat-drain <<'DRAIN'\n#!/bin/bash\n"), "{fixed}");
        assert!(fixed.contains(edge_group::DRAIN_DECISION), "{fixed}");
        assert!(!fixed.contains("chat-join") && !fixed.contains("NODE_ID="), "{fixed}");

        let voters = vec!["10.0.1.5".to_string(), "10.0.2.6".to_string()];
        let grouped = node_script(&NodeBoot { node_id: None, voters, ..boot() });
        assert!(grouped.contains("ExecStart=/usr/local/bin/chat-node --id ${NODE_ID} --role edge "), "{grouped}");
        assert!(grouped.contains(edge_group::NODE_ID_SH), "{grouped}");
        assert!(grouped.contains(">/etc/chat/instance.env\n"), "{grouped}");
        assert!(grouped.contains("VOTERS=${VOTERS:-'10.0.1.5:7001 10.0.2.6:7001'}"), "{grouped}");
        assert!(grouped.contains("--lifecycle-hook-name 'chat-event-edge-drain'"), "{grouped}");
        assert!(grouped.contains("systemctl enable --now chat-node chat-metrics.timer chat-join chat-lifecycle\n"));
        // The heredocs are quoted: the scripts keep their own variables for run time.
        assert!(grouped.contains("cat >/usr/local/lib/chat/chat-join <<'JOIN'\n"), "{grouped}");
        let out = std::process::Command::new("bash").arg("-n").arg("-c").arg(&grouped).output().unwrap();
        assert!(out.status.success(), "bash -n: {}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn embedded_stores_without_mongo_or_redis() {
        let s = node_script(&NodeBoot { mongo_hosts: vec![], redis_hosts: vec![], binary_url: None, ..boot() });
        assert!(!s.contains("MONGODB") && !s.contains("--redis"), "{s}");
        assert!(
            !s.contains("-o /usr/local/bin/chat-node") && s.contains("ExecStart=/usr/local/bin/chat-node --id 4"),
            "{s}"
        );
        assert_eq!(mongodb_uri(&[]), None);
    }

    #[test]
    fn mongo_initiator_waits_for_its_peers_and_initiates_once() {
        let peers = vec!["10.0.2.6".to_string(), "10.0.3.7".to_string()];
        let s = mongo_script("event", 1, Some(&peers));
        assert!(s.contains("https://repo.mongodb.org/apt/ubuntu jammy/mongodb-org/7.0 multiverse"), "{s}");
        assert!(s.contains("replSetName: chat"));
        assert!(s.contains("--host 10.0.3.7 --eval"));
        assert!(s.contains(
            "rs.initiate({_id: 'chat', members: [{_id: 0, host: \"${PRIVATE_IP}:27017\"}, \
             {_id: 1, host: \"10.0.2.6:27017\"}, {_id: 2, host: \"10.0.3.7:27017\"}]})"
        ));
        assert!(!mongo_script("event", 2, None).contains("rs.initiate"));
    }

    #[test]
    fn redis_master_and_replicas_all_run_a_sentinel() {
        let master = redis_script("event", 1, None, 2);
        assert!(!master.contains("replicaof"));
        assert!(master.contains("sentinel monitor mymaster ${PRIVATE_IP} 6379 2"), "{master}");
        let replica = redis_script("event", 2, Some("10.0.1.7"), 2);
        assert!(replica.contains("replicaof 10.0.1.7 6379"));
        assert!(replica.contains("sentinel monitor mymaster 10.0.1.7 6379 2"));
    }
}
