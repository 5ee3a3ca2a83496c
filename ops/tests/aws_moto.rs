//! `chatctl aws` end to end against the moto EC2 emulator: the real `chatctl`
//! binary run as an operator would, and what it did checked through the SDK
//! (instances, tags, user data, security-group rules). The stop-leader drill asks
//! a real local Raft cluster (`chatctl local up`, reached with `--via`) which node
//! leads, since nothing boots in moto.
#![cfg(feature = "aws")]

mod moto;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use aws_sdk_ec2::types::Instance;
use moto::inspect::{by_key, groups, live, private_ip, rules, state, tag, user_data};
use moto::{chatctl_at, chatctl_command, stderr, stdout, FaultProxy, Moto};

const AMI: &str = "ami-785db401"; // an Ubuntu image moto ships
const URL: &str = "https://releases.example.com/chat-node";

fn plan(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_chatctl")).args(["aws", "plan"]).args(args).output().unwrap();
    eprintln!("$ chatctl aws plan {}\n{}{}", args.join(" "), stdout(&out), stderr(&out));
    out
}

#[test]
fn plan_refuses_31_instances_and_other_types_and_prices_the_event() {
    let out = plan(&["--cluster", "event", "--voters", "5", "--edges", "22", "--mongo", "3", "--redis", "1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("plan refused: 31 instances"), "{}", stderr(&out));
    let out = plan(&["--cluster", "event", "--voters", "3", "--instance-type", "t3.medium"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("only t3.small is allowed"), "{}", stderr(&out));

    let out = plan(&["--cluster", "event", "--voters", "5", "--edges", "21", "--mongo", "3", "--redis", "1"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("30 instances (at most 30)"), "{text}");
    assert!(text.contains("30 x $0.0208/h = $0.6240/h; 96 h = $59.90"), "{text}");
    assert!(text.contains("health check: HTTP GET /api/health"), "{text}");
    assert!(text.contains("idle timeout: 120 s"), "{text}");
    let priced = plan(&["--cluster", "event", "--voters", "3", "--hourly-price", "0.025", "--hours", "10"]);
    assert!(stdout(&priced).contains("3 x $0.0250/h = $0.0750/h; 10 h = $0.75"), "{}", stdout(&priced));
}

const ALPHA: &[&str] = &[
    "aws",
    "up",
    "--cluster",
    "alpha",
    "--voters",
    "3",
    "--edges",
    "2",
    "--mongo",
    "3",
    "--redis",
    "1",
    "--no-join",
    "--binary-url",
    URL,
    "--ami",
    AMI,
    "--admin-cidr",
    "10.9.0.0/16",
    "--yes",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_status_drill_and_down_on_moto() {
    let Some(moto) = Moto::start("up_status_drill_and_down_on_moto", &[]) else { return };
    let ec2 = moto.client();

    // up creates exactly the plan, showing progress.
    let out = moto.chatctl(ALPHA);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "9 instances planned, 0 exist, 9 to create",
        "created voter 1: i-",
        "created mongo mongo-1",
        "waiting for instances to run: 9/9",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let alpha = by_key(&live(&ec2, "alpha").await);
    let keys: Vec<&str> = alpha.keys().map(String::as_str).collect();
    assert_eq!(keys, ["1", "2", "3", "4", "5", "mongo-1", "mongo-2", "mongo-3", "redis-1"]);
    for (key, i) in &alpha {
        assert_eq!(i.instance_type().unwrap().as_str(), "t3.small");
        let role = match key.as_str() {
            "1" | "2" | "3" => "voter",
            "4" | "5" => "edge",
            k => k.split('-').next().unwrap(),
        };
        assert_eq!(tag(i, "chat:role"), role, "{key}");
        assert_eq!(tag(i, "chat:cluster"), "alpha");
    }
    let voter_zones: BTreeSet<&str> =
        ["1", "2", "3"].iter().map(|k| alpha[*k].placement().unwrap().availability_zone().unwrap()).collect();
    assert_eq!(voter_zones.len(), 3, "one voter per zone: {voter_zones:?}");

    // Security groups: public listener only from the LB group, the rest only inside.
    let sgs = groups(&ec2, "alpha").await;
    let (lb, cluster) = (&sgs["lb"], &sgs["cluster"]);
    let (lb_id, cl_id) = (lb.group_id().unwrap().to_string(), cluster.group_id().unwrap().to_string());
    let expected: BTreeSet<(i32, String)> = [
        (5001, lb_id.clone()),
        (7001, cl_id.clone()),
        (7001, "10.9.0.0/16".into()),
        (27017, cl_id.clone()),
        (6379, cl_id.clone()),
        (26379, cl_id.clone()),
    ]
    .into();
    assert_eq!(rules(cluster), expected);
    assert_eq!(rules(lb), [(80, "0.0.0.0/0".to_string()), (443, "0.0.0.0/0".to_string())].into());
    for i in alpha.values() {
        let ids: Vec<&str> = i.security_groups().iter().filter_map(|g| g.group_id()).collect();
        assert_eq!(ids, [cl_id.as_str()]);
    }

    // User data: the node runs its id, role and stores (its secrets come from SSM at
    // start, see secrets_live_in_ssm_not_in_tags_or_user_data); MongoDB forms one set.
    let mongo_ips: Vec<String> = ["mongo-1", "mongo-2", "mongo-3"].iter().map(|k| private_ip(&alpha[*k])).collect();
    let node4 = user_data(&ec2, alpha["4"].instance_id().unwrap()).await;
    assert!(node4.contains(&format!("-o /usr/local/bin/chat-node '{URL}'")), "{node4}");
    assert!(
        node4.contains("ExecStart=/usr/local/bin/chat-node --id 4 --role edge --public-addr 0.0.0.0:5001"),
        "{node4}"
    );
    assert!(node4.contains("CHAT_CLUSTER_SECRET=$(get '/chat/alpha/cluster-secret')"), "{node4}");
    let uri = format!(
        "CHAT_MONGODB_URI=mongodb://{}:27017,{}:27017,{}:27017/chat?replicaSet=chat",
        mongo_ips[0], mongo_ips[1], mongo_ips[2]
    );
    assert!(node4.contains(&uri), "{node4}");
    assert!(node4.contains(&format!("--redis-sentinels {}:26379", private_ip(&alpha["redis-1"]))), "{node4}");
    assert!(user_data(&ec2, alpha["1"].instance_id().unwrap()).await.contains("--id 1 --role voter"));
    let initiator = user_data(&ec2, alpha["mongo-1"].instance_id().unwrap()).await;
    assert!(initiator.contains("repo.mongodb.org/apt/ubuntu jammy/mongodb-org/7.0"), "{initiator}");
    assert!(initiator.contains(&format!("host: \"{}:27017\"", mongo_ips[2])), "{initiator}");
    assert!(!user_data(&ec2, alpha["mongo-2"].instance_id().unwrap()).await.contains("rs.initiate"));
    assert!(user_data(&ec2, alpha["redis-1"].instance_id().unwrap()).await.contains("sentinel monitor mymaster"));

    // A second up creates nothing.
    let again = moto.chatctl(ALPHA);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("9 exist, 0 to create") && stdout(&again).contains("nothing to create"));
    let ids = |m: &BTreeMap<String, Instance>| {
        m.values().map(|i| i.instance_id().unwrap().to_string()).collect::<BTreeSet<_>>()
    };
    assert_eq!(ids(&by_key(&live(&ec2, "alpha").await)), ids(&alpha));
    assert_eq!(groups(&ec2, "alpha").await.len(), 2);

    // Without --yes and without a terminal nothing is created.
    let refused = moto.chatctl(&["aws", "up", "--cluster", "gamma", "--no-join", "--ami", AMI]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("stdin is not a terminal; pass --yes"), "{}", stderr(&refused));
    assert!(live(&ec2, "gamma").await.is_empty() && groups(&ec2, "gamma").await.is_empty());

    // A second cluster, which down of the first must leave alone.
    let beta = moto.chatctl(&["aws", "up", "--cluster", "beta", "--no-join", "--ami", AMI, "--yes"]);
    assert!(beta.status.success(), "{}", stderr(&beta));

    // status lists the instances by role.
    let status = moto.chatctl(&["aws", "status", "--cluster", "alpha", "--ec2-only"]);
    assert!(status.status.success());
    let text = stdout(&status);
    assert!(text.contains("cluster alpha in us-east-1: 9 instances"), "{text}");
    for line in ["voter: 3 (3 running)", "edge: 2 (2 running)", "mongo: 3 (3 running)", "redis: 1 (1 running)"] {
        assert!(text.contains(line), "{line} in {text}");
    }
    let json = moto.chatctl(&["aws", "status", "--cluster", "alpha", "--ec2-only", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["instances"].as_array().unwrap().len(), 9);
    assert_eq!(json["instances"][0]["role"], "voter");
    assert_eq!(json["raft"], serde_json::Value::Null);

    // stop-leader with no cluster to ask stops nothing and says why.
    let blind = moto.chatctl(&["aws", "drill", "stop-leader", "--cluster", "alpha", "--via", "127.0.0.1:1"]);
    assert!(!blind.status.success());
    assert!(stderr(&blind).contains("cannot tell which node leads, so nothing was stopped"), "{}", stderr(&blind));
    assert!(live(&ec2, "alpha").await.iter().all(|i| state(i) == "running"));

    // stop-leader asks a real cluster which node leads and stops that node's instance.
    let leader = stop_leader_drill(&moto).await;
    let after = by_key(&live(&ec2, "alpha").await);
    for (key, i) in &after {
        let expected = if *key == leader.to_string() { "stopped" } else { "running" };
        assert_eq!(state(i), expected, "instance of {key}");
    }

    // down terminates exactly alpha's instances and groups.
    let down = moto.chatctl(&["aws", "down", "--cluster", "alpha", "--yes"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(stdout(&down).contains("terminated: 9/9"), "{}", stdout(&down));
    assert!(live(&ec2, "alpha").await.is_empty());
    assert!(groups(&ec2, "alpha").await.is_empty());
    let beta = live(&ec2, "beta").await;
    assert_eq!(beta.len(), 3);
    assert!(beta.iter().all(|i| state(i) == "running"));
    assert_eq!(groups(&ec2, "beta").await.len(), 2);

    // stop-node and reboot-node act on the named node even when no cluster answers
    // (nothing listens at --via), and say the recovery is not measured.
    let unreachable = ["--cluster", "beta", "--via", "127.0.0.1:1", "--secret", "x"];
    let stop = moto.chatctl(&[&["aws", "drill", "stop-node", "2"][..], &unreachable].concat());
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert!(stdout(&stop).contains("the recovery will not be measured"), "{}", stdout(&stop));
    let reboot = moto.chatctl(&[&["aws", "drill", "reboot-node", "3"][..], &unreachable].concat());
    assert!(reboot.status.success() && stdout(&reboot).contains("reboot requested"), "{}", stdout(&reboot));
    let states: Vec<String> = by_key(&live(&ec2, "beta").await).values().map(|i| state(i).to_string()).collect();
    assert_eq!(states, ["running", "stopped", "running"]);
    // up starts the stopped instance again and creates nothing.
    let restart = moto.chatctl(&["aws", "up", "--cluster", "beta", "--no-join", "--ami", AMI, "--yes"]);
    assert!(restart.status.success(), "{}", stderr(&restart));
    assert!(stdout(&restart).contains("nothing to create") && stdout(&restart).contains("started stopped instance"));
    assert!(live(&ec2, "beta").await.iter().all(|i| state(i) == "running"));
}

/// A local 3-voter cluster (`chatctl local up`), stopped with SIGINT on drop.
struct LocalCluster {
    child: Child,
    dir: tempfile::TempDir,
    /// Kept open: `local up` still prints when it stops.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let _ = self.child.wait();
    }
}

fn local_status(dir: &Path) -> Option<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_chatctl"))
        .args(["status", "--json", "--data-dir"])
        .arg(dir)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// `chatctl local up --nodes 3` in a fresh directory, once it runs.
fn local_cluster() -> LocalCluster {
    let chatctl = Path::new(env!("CARGO_BIN_EXE_chatctl"));
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(chatctl)
        .args(["local", "up", "--nodes", "3", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    // Only once `local up` says "running" is its bootstrap over: a node killed
    // before that makes it stop the whole cluster. It gives up by itself (30 s).
    let mut line = String::new();
    while !line.starts_with("running") {
        line.clear();
        assert!(output.read_line(&mut line).unwrap() > 0, "chatctl local up exited before the cluster ran");
    }
    LocalCluster { child, dir, _stdout: output }
}

/// Runs `aws drill stop-leader` with `--via` a follower of a real local cluster;
/// when chatctl reports the stop, kills that leader's process, as EC2 would.
/// Returns the leader's id.
async fn stop_leader_drill(moto: &Moto) -> u64 {
    let chatctl = Path::new(env!("CARGO_BIN_EXE_chatctl"));
    assert!(
        chatctl.with_file_name("chat-node").exists(),
        "the drill test runs a real cluster: build chat-node first (`cargo build -p chat-node`; scripts/test.sh does)"
    );
    let local = local_cluster();
    let view = local_status(local.dir.path()).expect("status of a running local cluster");
    let leader = view["leader"].as_u64().unwrap();
    let follower = view["nodes"].as_array().unwrap().iter().find(|n| n["id"] != leader).unwrap();
    let via = follower["cluster"].as_str().unwrap().to_string();
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(local.dir.path().join("cluster.json")).unwrap()).unwrap();
    let secret = layout["secret"].as_str().unwrap().to_string();

    // status merges in the Raft view of the same cluster.
    let status = moto.chatctl(&["aws", "status", "--cluster", "alpha", "--via", &via, "--secret", &secret]);
    assert!(status.status.success(), "{}", stderr(&status));
    let text = stdout(&status);
    assert!(text.contains(&format!("raft view:\nleader: {leader}  term: ")), "{text}");
    let row =
        |key: &str| text.lines().find(|l| l.starts_with(&format!("voter  {key} "))).unwrap_or_default().to_string();
    assert!(row(&leader.to_string()).trim_end().ends_with("leader"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("edge   4 ") && l.trim_end().ends_with("unreachable")), "{text}");

    let args =
        ["aws", "drill", "stop-leader", "--cluster", "alpha", "--via", &via, "--secret", &secret, "--timeout", "60s"];
    let mut drill =
        chatctl_command(&moto.url(), &args, true).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(drill.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        eprintln!("drill: {line}");
        if line.starts_with("stop requested") {
            let kill = Command::new(chatctl)
                .args(["local", "stop", "--kill", "--node", &leader.to_string(), "--data-dir"])
                .arg(local.dir.path())
                .output()
                .unwrap();
            assert!(kill.status.success(), "{}", stderr(&kill));
        }
        lines.push(line);
    }
    let status = drill.wait().unwrap();
    let mut errors = String::new();
    std::io::Read::read_to_string(&mut drill.stderr.take().unwrap(), &mut errors).unwrap();
    lines.push(errors);
    let text = lines.join("\n");
    if !status.success() {
        let mut logs = String::new();
        for id in 1..=3 {
            let log = std::fs::read_to_string(local.dir.path().join(format!("node-{id}/node.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            logs += &format!(
                "\n--- node {id} (last 40 lines) ---\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        panic!("the drill failed:\n{text}\nnode logs:{logs}");
    }
    assert!(text.contains(&format!("leader: node {leader} (term")), "{text}");
    assert!(text.contains("new leader: node "), "{text}");
    assert!(!text.contains(&format!("new leader: node {leader} ")), "{text}");
    assert!(text.contains("stopped") && text.contains("s after the request"), "{text}");
    leader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_errors_are_clear_and_say_what_exists() {
    let Some(moto) = Moto::start("ec2_errors_are_clear_and_say_what_exists", &[]) else { return };

    // Nothing listens: the endpoint is unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let up = ["aws", "up", "--cluster", "delta", "--no-join", "--ami", AMI, "--yes"];
    let out = chatctl_at(&format!("http://127.0.0.1:{closed}"), &up, true);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("EC2 DescribeVpcs failed: the EC2 endpoint could not be reached"), "{err}");
    assert!(err.contains("this run created nothing"), "{err}");

    // No credentials anywhere in the chain.
    let out = chatctl_at(&moto.url(), &up, false);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("credentials are missing, wrong, expired"), "{}", stderr(&out));
    assert!(live(&moto.client(), "delta").await.is_empty());

    // A failure half-way (EC2 refuses the admin CIDR after the groups were made)
    // names what exists.
    let ok = moto.chatctl(&up);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let bad = [&up[..], &["--edges", "1", "--admin-cidr", "not-a-cidr"]].concat();
    let out = moto.chatctl(&bad);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("EC2 AuthorizeSecurityGroupIngress failed"), "{err}");
    assert!(err.contains("what exists now on EC2 for cluster delta:"), "{err}");
    assert!(err.contains("voter: 1 i-") && err.contains("chat-delta-cluster sg-"), "{err}");
    assert_eq!(live(&moto.client(), "delta").await.len(), 3, "the edge was not created");

    // Wrong credentials: an emulator that checks them (IAM auth from the first request).
    let Some(strict) =
        Moto::start("ec2_errors_are_clear_and_say_what_exists", &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
    else {
        return;
    };
    let out = strict.chatctl(&up);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("credentials are missing, wrong, expired or not allowed"), "{err}");
    assert!(err.contains("this run created nothing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_no_capacity_half_way_say_what_exists() {
    let Some(moto) = Moto::start("throttling_and_no_capacity_half_way_say_what_exists", &[]) else { return };
    let cases = [
        (
            "eps",
            0,
            "RequestLimitExceeded",
            503,
            "EC2 is throttling API requests; wait a minute and run the command again",
        ),
        ("zeta", 2, "InsufficientInstanceCapacity", 500, "AWS has no t3.small capacity in that zone right now"),
    ];
    for (cluster, pass, code, status, advice) in cases {
        // The first `pass` RunInstances succeed: those voters exist and are named.
        let proxy = FaultProxy::start(&moto, "RunInstances", pass, status, code);
        let up = ["aws", "up", "--cluster", cluster, "--no-join", "--ami", AMI, "--yes"];
        let out = chatctl_at(&proxy.url(), &up, true);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(&format!("EC2 RunInstances failed: {advice}")), "{err}");
        assert!(err.contains(&format!("({code}: injected by the test proxy)")), "{err}");
        assert!(err.contains(&format!("what exists now on EC2 for cluster {cluster}:")), "{err}");
        assert!(err.contains(&format!("security groups: chat-{cluster}-cluster sg-")), "{err}");
        let made = by_key(&live(&moto.client(), cluster).await);
        assert_eq!(made.len(), pass);
        for (key, i) in made {
            assert!(err.contains(&format!("{key} {}", i.instance_id().unwrap())), "{err}");
        }
        // Once EC2 recovers, running `up` again completes the cluster.
        let again = moto.chatctl(&up);
        assert!(again.status.success(), "{}", stderr(&again));
        assert!(stdout(&again).contains(&format!("{pass} exist, {} to create", 3 - pass)), "{}", stdout(&again));
        assert_eq!(live(&moto.client(), cluster).await.len(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_live_in_ssm_not_in_tags_or_user_data() {
    let Some(moto) = Moto::start("secrets_live_in_ssm_not_in_tags_or_user_data", &[]) else { return };
    let (ec2, config) = (moto.client(), moto.config());
    let (ssm, iam) = (aws_sdk_ssm::Client::new(&config), aws_sdk_iam::Client::new(&config));
    let up = [
        "aws",
        "up",
        "--cluster",
        "kappa",
        "--voters",
        "3",
        "--edges",
        "1",
        "--mongo",
        "1",
        "--no-join",
        "--binary-url",
        URL,
        "--ami",
        AMI,
        "--yes",
    ];
    let out = moto.chatctl(&up);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("created SSM parameter /chat/kappa/cluster-secret (SecureString)"),
        "{}",
        stdout(&out)
    );

    // Both secrets are SecureStrings under the cluster's one path.
    let mut values = Vec::new();
    for name in ["/chat/kappa/cluster-secret", "/chat/kappa/jwt-secret"] {
        let p = ssm.get_parameter().name(name).with_decryption(true).send().await.unwrap().parameter.unwrap();
        assert_eq!(p.r#type().unwrap().as_str(), "SecureString", "{name}");
        let value = p.value().unwrap().to_string();
        assert_eq!(value.len(), 48, "{name}");
        values.push(value);
    }

    // Nowhere in tags or user data; every instance requires IMDSv2; only the chat
    // nodes carry the role that reads the parameters.
    let kappa = by_key(&live(&ec2, "kappa").await);
    assert_eq!(kappa.len(), 5);
    let mut tag_values: Vec<String> =
        kappa.values().flat_map(|i| i.tags().iter()).filter_map(|t| t.value()).map(str::to_string).collect();
    for g in groups(&ec2, "kappa").await.values() {
        assert!(g.tags().iter().all(|t| !t.key().unwrap_or_default().contains("secret")), "{g:?}");
        tag_values.extend(g.tags().iter().filter_map(|t| t.value()).map(str::to_string));
    }
    for (key, i) in &kappa {
        let script = user_data(&ec2, i.instance_id().unwrap()).await;
        for value in &values {
            assert!(!script.contains(value.as_str()), "a secret in the user data of {key}");
            assert!(!tag_values.contains(value), "a secret in a tag");
        }
        let tokens = i.metadata_options().and_then(|m| m.http_tokens()).map(|t| t.as_str().to_string());
        assert_eq!(tokens.as_deref(), Some("required"), "IMDSv2 on {key}");
        let profile = i.iam_instance_profile().and_then(|p| p.arn()).unwrap_or_default();
        if key.starts_with("mongo") {
            assert_eq!(profile, "", "the stores need no role");
        } else {
            assert!(profile.ends_with("instance-profile/chat-kappa-node"), "{key}: {profile}");
            assert!(script.contains("CHAT_JWT_SECRET=$(get '/chat/kappa/jwt-secret')"), "{script}");
        }
    }
    let policy =
        iam.get_role_policy().role_name("chat-kappa-node").policy_name("chat-kappa-node").send().await.unwrap();
    let document = urlencoding_decode(policy.policy_document());
    assert!(document.contains("parameter/chat/kappa/*") && document.contains("ssm:GetParameter"), "{document}");

    // A second up reads the same secrets back; status finds the secret there too.
    let again = moto.chatctl(&up);
    assert!(again.status.success() && !stdout(&again).contains("created SSM parameter"), "{}", stdout(&again));
    let same = ssm.get_parameter().name("/chat/kappa/cluster-secret").with_decryption(true).send().await.unwrap();
    assert_eq!(same.parameter.unwrap().value.unwrap(), values[0]);
    let status = moto.chatctl(&["aws", "status", "--cluster", "kappa", "--via", "127.0.0.1:1"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(!stdout(&status).contains("no cluster secret"), "{}", stdout(&status));

    // down removes the parameters and the role.
    let down = moto.chatctl(&["aws", "down", "--cluster", "kappa", "--yes"]);
    assert!(down.status.success(), "{}", stderr(&down));
    for name in ["/chat/kappa/cluster-secret", "/chat/kappa/jwt-secret"] {
        let err = ssm.get_parameter().name(name).send().await.unwrap_err();
        assert!(err.into_service_error().is_parameter_not_found(), "{name} is still there");
    }
    assert!(iam.get_role().role_name("chat-kappa-node").send().await.is_err(), "the role is still there");
    let status = moto.chatctl(&["aws", "status", "--cluster", "kappa", "--via", "127.0.0.1:1"]);
    assert!(stdout(&status).contains("no cluster secret: SSM parameter /chat/kappa/cluster-secret does not exist"));
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_and_log_group_come_with_up_and_go_with_down() {
    let Some(moto) = Moto::start("alarms_and_log_group_come_with_up_and_go_with_down", &[]) else { return };
    let (ec2, config) = (moto.client(), moto.config());
    let (cw, logs) = (aws_sdk_cloudwatch::Client::new(&config), aws_sdk_cloudwatchlogs::Client::new(&config));
    let topic = "arn:aws:sns:us-east-1:123456789012:chat-oncall";
    let up = ["aws", "up", "--cluster", "lambda", "--no-join", "--ami", AMI, "--alarm-action", topic, "--yes"];
    let out = moto.chatctl(&up);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("created log group /chat/lambda/nodes (14 days)"), "{}", stdout(&out));

    let alarms = |cw: aws_sdk_cloudwatch::Client| async move {
        let answer = cw.describe_alarms().alarm_name_prefix("chat-lambda-").send().await.unwrap();
        answer.metric_alarms().to_vec()
    };
    let found = alarms(cw.clone()).await;
    let mut names: Vec<&str> = found.iter().filter_map(|a| a.alarm_name()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["chat-lambda-delivery-p99", "chat-lambda-error-rate", "chat-lambda-no-leader", "chat-lambda-node-not-ready"]
    );
    for a in &found {
        assert_eq!(a.namespace(), Some("Chat"));
        let dims: Vec<(&str, &str)> =
            a.dimensions().iter().map(|d| (d.name().unwrap_or_default(), d.value().unwrap_or_default())).collect();
        assert_eq!(dims, [("Cluster", "lambda")]);
        assert_eq!(a.alarm_actions(), [topic.to_string()]);
        assert_eq!(a.period(), Some(60));
    }
    let no_leader = found.iter().find(|a| a.alarm_name() == Some("chat-lambda-no-leader")).unwrap();
    assert_eq!(no_leader.metric_name(), Some("chat_raft_leader"));
    assert_eq!(no_leader.comparison_operator().unwrap().as_str(), "LessThanThreshold");
    assert_eq!(no_leader.treat_missing_data(), Some("breaching"));
    let group = logs.describe_log_groups().log_group_name_prefix("/chat/lambda/").send().await.unwrap();
    let group = group.log_groups().first().expect("the log group exists");
    assert_eq!((group.log_group_name(), group.retention_in_days()), (Some("/chat/lambda/nodes"), Some(14)));

    // Each chat node ships its JSON log to that group and publishes the alarms' metrics.
    let voter = &by_key(&live(&ec2, "lambda").await)["1"];
    let script = user_data(&ec2, voter.instance_id().unwrap()).await;
    assert!(script.contains("--log-format json") && script.contains("\"log_group_name\":\"/chat/lambda/nodes\""));
    assert!(
        script.contains("--namespace Chat") && script.contains("systemctl enable --now chat-node chat-metrics.timer")
    );

    // A second up changes nothing; down removes alarms and log group, and only lambda's.
    assert!(moto.chatctl(&up).status.success());
    assert_eq!(alarms(cw.clone()).await.len(), 4);
    let other = moto.chatctl(&["aws", "up", "--cluster", "mu", "--no-join", "--ami", AMI, "--yes"]);
    assert!(other.status.success(), "{}", stderr(&other));
    let down = moto.chatctl(&["aws", "down", "--cluster", "lambda", "--yes"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(alarms(cw.clone()).await.is_empty(), "alarms left after down");
    let left = logs.describe_log_groups().log_group_name_prefix("/chat/lambda/").send().await.unwrap();
    assert!(left.log_groups().is_empty(), "log group left after down");
    let mu = cw.describe_alarms().alarm_name_prefix("chat-mu-").send().await.unwrap();
    assert_eq!(mu.metric_alarms().len(), 4, "down of lambda left mu's alarms alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_group_comes_with_up_and_goes_with_down() {
    let Some(moto) = Moto::start("edge_group_comes_with_up_and_goes_with_down", &[]) else { return };
    let (ec2, config) = (moto.client(), moto.config());
    let (asg, elb) = (aws_sdk_autoscaling::Client::new(&config), aws_sdk_elasticloadbalancingv2::Client::new(&config));

    // The plan counts the group at its max against the cap, and says what up creates.
    let over = plan(&[
        "--cluster",
        "nu",
        "--voters",
        "5",
        "--edges",
        "10",
        "--mongo",
        "3",
        "--redis",
        "1",
        "--edge-group-max",
        "12",
    ]);
    assert!(!over.status.success());
    assert!(
        stderr(&over).contains("31 instances") && stderr(&over).contains("edge group up to 12"),
        "{}",
        stderr(&over)
    );
    let planned = plan(&["--cluster", "nu", "--voters", "3", "--edge-group-min", "2", "--edge-group-max", "4"]);
    assert!(planned.status.success(), "{}", stderr(&planned));
    let text = stdout(&planned);
    assert!(text.contains("7 instances (at most 30, the edge group counted at its max)"), "{text}");
    for part in [
        "launch template chat-nu-edge",
        "Auto Scaling group chat-nu-edges (2..4",
        "target tracking policy chat-nu-edge-cpu (average CPU 60%)",
        "termination hook chat-nu-edge-drain (180 s",
        "target group chat-nu-nodes (HTTP :5001",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }

    let up = [
        "aws",
        "up",
        "--cluster",
        "nu",
        "--voters",
        "3",
        "--edge-group-min",
        "2",
        "--edge-group-max",
        "4",
        "--no-join",
        "--binary-url",
        URL,
        "--ami",
        AMI,
        "--yes",
    ];
    let out = moto.chatctl(&up);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("to create: voter 1, voter 2, voter 3,") && text.contains("edge group chat-nu-edges (2..4)"),
        "{text}"
    );
    for line in [
        "created target group chat-nu-nodes",
        "created launch template chat-nu-edge",
        "created Auto Scaling group chat-nu-edges (2..4 edges)",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }

    // The group: its bounds, template, zones and target group.
    let groups_now = asg.describe_auto_scaling_groups().auto_scaling_group_names("chat-nu-edges").send().await.unwrap();
    let group = groups_now.auto_scaling_groups().first().expect("the group exists").clone();
    assert_eq!((group.min_size(), group.max_size(), group.desired_capacity()), (Some(2), Some(4), Some(2)));
    let template = group.launch_template().expect("launched from a template");
    assert_eq!((template.launch_template_name(), template.version()), (Some("chat-nu-edge"), Some("$Latest")));
    let subnets = group.vpc_zone_identifier().unwrap_or_default().split(',').count();
    assert!(subnets >= 3, "every zone's default subnet: {:?}", group.vpc_zone_identifier());
    let tg = elb.describe_target_groups().names("chat-nu-nodes").send().await.unwrap();
    let tg = tg.target_groups().first().expect("the target group exists").clone();
    assert_eq!((tg.port(), tg.health_check_path()), (Some(5001), Some("/api/health")));
    assert_eq!(group.target_group_arns(), [tg.target_group_arn().unwrap().to_string()]);
    // Every chat node behind it: the voters registered by up, the group's edges by the group.
    let nu = by_key(&live(&ec2, "nu").await);
    let mut expected: BTreeSet<String> =
        ["1", "2", "3"].iter().map(|k| nu[*k].instance_id().unwrap().to_string()).collect();
    let members = live(&ec2, "nu").await;
    let group_edges: Vec<&Instance> = members.iter().filter(|i| tag(i, "chat:node-id") == "group").collect();
    assert_eq!(group_edges.len(), 2, "the group launched its two edges");
    for edge in &group_edges {
        assert_eq!(tag(edge, "chat:role"), "edge");
        expected.insert(edge.instance_id().unwrap().to_string());
    }
    let health = elb.describe_target_health().target_group_arn(tg.target_group_arn().unwrap()).send().await.unwrap();
    let registered: BTreeSet<String> =
        health.target_health_descriptions().iter().filter_map(|t| t.target()?.id().map(str::to_string)).collect();
    assert_eq!(registered, expected);
    let tags: BTreeMap<&str, &str> = group
        .tags()
        .iter()
        .filter(|t| t.propagate_at_launch() == Some(true))
        .filter_map(|t| Some((t.key()?, t.value()?)))
        .collect();
    assert_eq!((tags.get("chat:cluster"), tags.get("chat:role")), (Some(&"nu"), Some(&"edge")));

    // The termination hook and the scaling policy.
    let hooks = asg.describe_lifecycle_hooks().auto_scaling_group_name("chat-nu-edges").send().await.unwrap();
    let hook = hooks.lifecycle_hooks().first().expect("the hook exists");
    assert_eq!(hook.lifecycle_hook_name(), Some("chat-nu-edge-drain"));
    assert_eq!(hook.lifecycle_transition(), Some("autoscaling:EC2_INSTANCE_TERMINATING"));
    assert_eq!((hook.heartbeat_timeout(), hook.default_result()), (Some(180), Some("CONTINUE")));
    let policies = asg.describe_policies().auto_scaling_group_name("chat-nu-edges").send().await.unwrap();
    let policy = policies.scaling_policies().first().expect("the policy exists");
    assert_eq!((policy.policy_name(), policy.policy_type()), (Some("chat-nu-edge-cpu"), Some("TargetTrackingScaling")));
    let tracking = policy.target_tracking_configuration().unwrap();
    assert_eq!(tracking.target_value(), Some(60.0));
    let metric = tracking.predefined_metric_specification().unwrap().predefined_metric_type().unwrap();
    assert_eq!(metric.as_str(), "ASGAverageCPUUtilization");

    // The template: t3.small, IMDSv2, the node role, user data that joins through the
    // voters just launched and leaves through the hook; no secret in it.
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_name("chat-nu-edge")
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    let data = versions.launch_template_versions()[0].launch_template_data().unwrap().clone();
    assert_eq!(data.instance_type().map(|t| t.as_str()), Some("t3.small"));
    assert_eq!(data.metadata_options().and_then(|m| m.http_tokens()).map(|t| t.as_str()), Some("required"));
    assert_eq!(data.iam_instance_profile().and_then(|p| p.name()), Some("chat-nu-node"));
    use base64::Engine;
    let script =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data.user_data().unwrap()).unwrap())
            .unwrap();
    let voters: Vec<String> = ["1", "2", "3"].iter().map(|k| format!("{}:7001", private_ip(&nu[*k]))).collect();
    assert!(script.contains(&format!("VOTERS=${{VOTERS:-'{}'}}", voters.join(" "))), "{script}");
    assert!(script.contains("--id ${NODE_ID} --role edge"), "{script}");
    assert!(script.contains("--lifecycle-hook-name 'chat-nu-edge-drain'"), "{script}");
    assert!(script.contains("ExecStop=+/usr/local/lib/chat/chat-drain"), "{script}");
    let ssm = aws_sdk_ssm::Client::new(&config);
    let secret = ssm.get_parameter().name("/chat/nu/cluster-secret").with_decryption(true).send().await.unwrap();
    assert!(!script.contains(secret.parameter().unwrap().value().unwrap()), "the cluster secret is in the user data");

    // A second up creates nothing and keeps the template's version; new bounds reach the group.
    let again = moto.chatctl(&up);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("nothing to create") && !stdout(&again).contains("new version"),
        "{}",
        stdout(&again)
    );
    let wider: Vec<&str> = up.iter().map(|a| if *a == "4" { "6" } else { a }).collect();
    assert!(moto.chatctl(&wider).status.success());
    let groups_now = asg.describe_auto_scaling_groups().auto_scaling_group_names("chat-nu-edges").send().await.unwrap();
    assert_eq!(groups_now.auto_scaling_groups()[0].max_size(), Some(6));

    // down removes group, hook, policy, template and target group, and every instance.
    let down = moto.chatctl(&["aws", "down", "--cluster", "nu", "--yes"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(stdout(&down).contains("edge group: Auto Scaling group chat-nu-edges"), "{}", stdout(&down));
    let left = asg.describe_auto_scaling_groups().auto_scaling_group_names("chat-nu-edges").send().await.unwrap();
    assert!(left.auto_scaling_groups().is_empty(), "the group is still there");
    let policies = asg.describe_policies().auto_scaling_group_name("chat-nu-edges").send().await.unwrap();
    assert!(policies.scaling_policies().is_empty(), "the policy is still there");
    let hooks = asg.describe_lifecycle_hooks().auto_scaling_group_name("chat-nu-edges").send().await;
    assert!(hooks.map_or(true, |h| h.lifecycle_hooks().is_empty()), "the hook is still there");
    let templates = ec2.describe_launch_templates().launch_template_names("chat-nu-edge").send().await;
    assert!(templates.map_or(true, |t| t.launch_templates().is_empty()), "the template is still there");
    let tgs = elb.describe_target_groups().names("chat-nu-nodes").send().await;
    assert!(tgs.map_or(true, |t| t.target_groups().is_empty()), "the target group is still there");
    assert!(live(&ec2, "nu").await.is_empty(), "instances left after down");
}

/// A chat-node started as the user data starts a group edge (fresh, in no
/// membership), killed on drop.
struct LoneEdge(Child);

impl Drop for LoneEdge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The members of a local cluster's membership: id -> role.
fn membership(dir: &Path) -> BTreeMap<u64, String> {
    let view = local_status(dir).expect("status of a running local cluster");
    view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_u64().unwrap(), n["role"].as_str().unwrap_or_default().to_string()))
        .collect()
}

/// The scripts a group edge runs (`chat-join`, `chat-drain`, `chat-lifecycle`, as the
/// user data writes them) against a real local cluster and a real chat-node started
/// as a fresh edge, with real curl; only the metadata service, systemctl and the AWS
/// CLI are stand-ins. The edge joins as a learner, drains, and leaves the membership.
#[test]
fn group_edge_scripts_join_drain_and_leave_a_real_cluster() {
    use chat_ops::aws::edge_group;

    let chatctl = Path::new(env!("CARGO_BIN_EXE_chatctl"));
    let binary = chatctl.with_file_name("chat-node");
    assert!(binary.exists(), "this test runs a real cluster: build chat-node first (`cargo build -p chat-node`)");
    let local = local_cluster();
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(local.dir.path().join("cluster.json")).unwrap()).unwrap();
    let secret = layout["secret"].as_str().unwrap().to_string();
    let voters: Vec<String> =
        layout["nodes"].as_array().unwrap().iter().map(|n| n["cluster"].as_str().unwrap().to_string()).collect();

    // The edge, as its user data starts it: id from the instance id, role edge.
    let instance_id = "i-0a1b2c3d4e5f60718";
    let id = edge_group::group_node_id(instance_id).unwrap();
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (public, cluster) = (free(), free());
    let work = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(work.path().join("edge.log")).unwrap();
    let _edge = LoneEdge(
        Command::new(&binary)
            .args(["--id", &id.to_string(), "--role", "edge"])
            .args(["--public-addr", &format!("127.0.0.1:{public}"), "--cluster-addr", &format!("127.0.0.1:{cluster}")])
            .arg("--data-dir")
            .arg(work.path().join("data"))
            .env("CHAT_CLUSTER_SECRET", &secret)
            .env("CHAT_JWT_SECRET", layout["jwt_secret"].as_str().unwrap())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    std::fs::write(work.path().join("secrets.env"), format!("CHAT_CLUSTER_SECRET={secret}\n")).unwrap();
    let facts = format!("INSTANCE_ID={instance_id}\nNODE_ID={id}\nPRIVATE_IP=127.0.0.1\n");
    std::fs::write(work.path().join("instance.env"), facts).unwrap();
    std::fs::write(work.path().join("drain-decision"), edge_group::DRAIN_DECISION).unwrap();
    // Stand-ins: systemctl and aws record their arguments; curl answers for the
    // metadata service and is the real curl for everything else.
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let calls = work.path().join("calls");
    for (name, body) in [
        ("systemctl", format!("echo \"systemctl $*\" >>{}", calls.display())),
        ("aws", format!("echo \"aws $*\" >>{}", calls.display())),
        (
            "curl",
            r#"case "$*" in
    *http://imds/latest/api/token*) echo token ;;
    *http://imds/latest/meta-data/autoscaling/target-lifecycle-state*) echo Terminated ;;
    *) exec /usr/bin/curl "$@" ;;
esac"#
                .to_string(),
        ),
    ] {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let run = |name: &str, script: String| {
        let lib = format!(". {}/drain-decision", edge_group::LIB);
        let file = work.path().join(name);
        std::fs::write(&file, script.replace(&lib, &format!(". {}/drain-decision", work.path().display()))).unwrap();
        let out = Command::new("timeout")
            .args(["120", "bash"])
            .arg(&file)
            .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
            .env("SECRETS", work.path().join("secrets.env"))
            .env("INSTANCE_ENV", work.path().join("instance.env"))
            .env("VOTERS", voters.join(" "))
            .env("CLUSTER_PORT", cluster.to_string())
            .env("PUBLIC_PORT", public.to_string())
            .env("IMDS", "http://imds")
            .env("POLL_S", "1")
            .output()
            .unwrap();
        eprintln!("$ {name}\n{}{}", stdout(&out), stderr(&out));
        out
    };
    let node_ips = vec!["127.0.0.1".to_string()];

    // chat-join: retried (as systemd does) until the edge listens and a voter added it.
    assert!(!membership(local.dir.path()).contains_key(&id));
    let mut joined = false;
    for _ in 0..60 {
        if run("chat-join", edge_group::join_script(&node_ips)).status.success() {
            joined = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(joined, "chat-join never succeeded; edge log:\n{}", read_log(work.path()));
    assert_eq!(membership(local.dir.path()).get(&id).map(String::as_str), Some("learner"));
    let again = run("chat-join", edge_group::join_script(&node_ips));
    assert!(again.status.success() && stdout(&again).contains("is a member already"), "{}", stdout(&again));

    // chat-drain: the node drains (health 503, draining gauge 1); no socket to wait for.
    let drain = run("chat-drain", edge_group::drain_script());
    assert!(drain.status.success() && stdout(&drain).contains("chat-drain: 0 sockets left"), "{}", stdout(&drain));
    let health = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{public}/api/health")])
        .output()
        .unwrap();
    assert_eq!(stdout(&health), "503", "a drained node leaves the load balancer");

    // chat-lifecycle: the metadata service says Terminated; the edge stops, leaves the
    // membership through a voter, and completes the lifecycle action.
    let leave = run("chat-lifecycle", edge_group::lifecycle_script("event", "eu-west-1", &node_ips));
    assert!(leave.status.success(), "{}", stderr(&leave));
    assert!(stdout(&leave).contains(&format!("node {id} removed from the membership through")), "{}", stdout(&leave));
    let recorded = std::fs::read_to_string(&calls).unwrap();
    let lines: Vec<&str> = recorded.lines().collect();
    assert_eq!(lines[0], "systemctl stop chat-node", "{recorded}");
    assert!(lines[1].starts_with("aws autoscaling complete-lifecycle-action --region eu-west-1"), "{recorded}");
    assert!(lines[1].contains(&format!("--instance-id {instance_id} --lifecycle-action-result CONTINUE")));
    assert!(!membership(local.dir.path()).contains_key(&id), "the edge is still a member");
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("edge.log")).unwrap_or_default()
}
