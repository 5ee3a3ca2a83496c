//! The autoscaled edges (issue 15), as data and scripts: the names of the launch
//! template, Auto Scaling group, lifecycle hook, scaling policy and target group
//! `up` creates for a cluster, and the programs a chat node of the group runs. Pure
//! (the `asg` module makes the calls), so plan, up, down and the tests share them.
//!
//! An edge the group launches has no slot in the plan, so it
//!
//! - takes its Raft node id from its instance id ([`group_node_id`]: unique, never
//!   reused, and apart from the plan's small ids);
//! - joins by itself: `chat-join` (after chat-node starts) asks the voters, whose
//!   private addresses are in the template, to add it as a learner, unless its own
//!   `/cluster/status` already names a role;
//! - leaves by itself: `chat-lifecycle` reads the instance's target lifecycle state
//!   from the instance metadata service (IMDSv2) every few seconds; once the group
//!   wants it `Terminated` (the termination hook holds the instance in
//!   `Terminating:Wait`), it stops chat-node, which drains it first (`chat-drain`,
//!   below), removes itself from the membership through a voter and completes the
//!   lifecycle action, so the group terminates it without waiting for the hook's
//!   timeout.
//!
//! Every chat node (voters and fixed edges too) drains before it stops: `chat-drain`
//! is chat-node's `ExecStop`, which systemd runs before it sends SIGTERM, on any stop
//! of the unit (a shutdown, a termination without the hook, `systemctl stop`). It
//! starts the node's drain (`/admin/drain`: new sockets refused, `/api/health` 503 so
//! the load balancer stops routing here, current sockets asked to move and cut after
//! 3 s) and waits until no socket is left or [`DRAIN_LIMIT_S`] passed. The decisions
//! of both scripts are the small functions of [`DRAIN_DECISION`], unit-tested below.

use std::fmt::Write;

use chat_raft::NodeId;

use super::lb_guidance::PUBLIC_PORT;
use super::plan::GroupSize;
use super::user_data::{sh_quote, CLUSTER_PORT};

/// The scaling policy's target: the group's average CPU. Chat traffic on a t3.small
/// (Socket.IO frames, JSON, fan-out) is CPU-bound long before memory or network, and
/// EC2 publishes this metric for the group without any agent.
pub const TARGET_CPU_PERCENT: f64 = 60.0;
/// Seconds a new edge's CPU is left out of the group's average (boot, catching up).
pub const WARMUP_S: i32 = 300;
/// How long the termination hook holds an instance at most; the drain, stop and
/// membership removal take well under it. After it the group terminates anyway.
pub const HOOK_TIMEOUT_S: i32 = 180;
/// The longest `chat-drain` waits for the sockets to leave (the node itself cuts
/// them after 3 s).
pub const DRAIN_LIMIT_S: u32 = 20;
/// The target group's deregistration delay: requests in flight finish; sockets have
/// left already.
pub const DEREGISTRATION_DELAY_S: u32 = 30;
/// Node ids of group edges: 2^52 plus the low 52 bits of the instance id, so at
/// most 2^53 - 1 (exact as a JSON number in a browser) and never a plan's id.
pub const GROUP_NODE_ID_BASE: NodeId = 1 << 52;

/// The value of `chat:node-id` on the group's instances: they have no plan slot.
pub const GROUP_KEY: &str = "group";

pub fn launch_template(cluster: &str) -> String {
    format!("chat-{cluster}-edge")
}

pub fn group(cluster: &str) -> String {
    format!("chat-{cluster}-edges")
}

pub fn hook(cluster: &str) -> String {
    format!("chat-{cluster}-edge-drain")
}

pub fn policy(cluster: &str) -> String {
    format!("chat-{cluster}-edge-cpu")
}

/// The target group of every chat node (the plan's voters and edges, registered by
/// `up`, and the group's edges, registered by the group): the one an ALB listener
/// forwards to. At most 32 characters: the plan refuses longer cluster names with a
/// group.
pub fn target_group(cluster: &str) -> String {
    format!("chat-{cluster}-nodes")
}

/// The Raft node id of the group edge running as `instance_id` (`i-` and 8 or 17
/// hex digits): [`GROUP_NODE_ID_BASE`] + its last 13 hex digits. The user data
/// computes the same in bash ([`NODE_ID_SH`]).
pub fn group_node_id(instance_id: &str) -> Option<NodeId> {
    let hex = instance_id.strip_prefix("i-")?;
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let low = &hex[hex.len().saturating_sub(13)..];
    Some(GROUP_NODE_ID_BASE + NodeId::from_str_radix(low, 16).ok()?)
}

/// Bash: `INSTANCE_ID` and `NODE_ID` of this instance (after the user data's
/// prelude has `$TOKEN`).
pub const NODE_ID_SH: &str = r#"INSTANCE_ID=$(curl -sS -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/instance-id)
NODE_ID=$(( (1 << 52) + 16#$(printf '%s' "${INSTANCE_ID#i-}" | tail -c 13) ))
"#;

/// The decisions of `chat-drain` and `chat-lifecycle`, as bash functions without
/// side effects (sourced by both; the tests call them directly).
///
/// - `leave_now STATE`: whether the instance's target lifecycle state (from the
///   metadata service; empty when it could not be read) means the group is
///   terminating it. Only `Terminated` does: `InService`, the warm-pool states and
///   an unreadable state keep the node serving (a metadata hiccup must not take a
///   healthy edge out).
/// - `drain_done SOCKETS ELAPSED LIMIT`: whether to stop waiting for the sockets to
///   leave: none left, or the node no longer reports a count (it stopped), or
///   ELAPSED seconds reached LIMIT.
pub const DRAIN_DECISION: &str = r#"leave_now() {
    [ "$1" = "Terminated" ]
}
drain_done() {
    local sockets=$1 elapsed=$2 limit=$3
    case "$sockets" in
        '' | *[!0-9]*) return 0 ;;
    esac
    [ "$sockets" -eq 0 ] || [ "$elapsed" -ge "$limit" ]
}
"#;

/// Where the scripts live on the instance.
pub const LIB: &str = "/usr/local/lib/chat";
/// What the user data learns about the instance at boot, for the scripts:
/// `INSTANCE_ID`, `NODE_ID`, `PRIVATE_IP` (shell assignments).
pub const INSTANCE_ENV: &str = "/etc/chat/instance.env";

/// `chat-drain`, chat-node's `ExecStop` (root): drain, then wait for the sockets.
/// Never fails: a node that cannot be drained is still stopped.
pub fn drain_script() -> String {
    let mut s = String::from("#!/bin/bash\nset -uo pipefail\n");
    let _ = writeln!(s, ". {LIB}/drain-decision");
    let _ = writeln!(s, "LIMIT=${{DRAIN_LIMIT_S:-{DRAIN_LIMIT_S}}}");
    let _ = writeln!(s, "SECRETS=${{SECRETS:-/run/chat/secrets.env}}");
    s.push_str(&ports_line());
    let _ = write!(
        s,
        r#". "$SECRETS" 2>/dev/null || exit 0
curl -fsS --max-time 5 -X POST -H "x-cluster-secret: $CHAT_CLUSTER_SECRET" -H 'content-type: application/json' \
    -d '{{"drain":true}}' "http://127.0.0.1:$CLUSTER_PORT/admin/drain" >/dev/null || exit 0
start=$(date +%s)
while :; do
    sockets=$(curl -fsS --max-time 2 -H "x-cluster-secret: $CHAT_CLUSTER_SECRET" "http://127.0.0.1:$CLUSTER_PORT/metrics" | awk '$1 == "chat_sockets_connected" {{ print $2 }}')
    elapsed=$(( $(date +%s) - start ))
    if drain_done "$sockets" "$elapsed" "$LIMIT"; then
        echo "chat-drain: ${{sockets:-no}} sockets left after ${{elapsed}} s"
        exit 0
    fi
    sleep 1
done
"#
    );
    s
}

/// The node's own ports (the user data runs chat-node on these; overridable for tests).
fn ports_line() -> String {
    format!("CLUSTER_PORT=${{CLUSTER_PORT:-{CLUSTER_PORT}}}\nPUBLIC_PORT=${{PUBLIC_PORT:-{PUBLIC_PORT}}}\n")
}

/// `VOTERS`: the voters' cluster listeners, which forward membership changes to the
/// leader (overridable for tests).
fn voters_line(voters: &[String]) -> String {
    let list: Vec<String> = voters.iter().map(|v| format!("{v}:{CLUSTER_PORT}")).collect();
    format!("VOTERS=${{VOTERS:-{}}}\n", sh_quote(&list.join(" ")))
}

/// `chat-join` (root, a oneshot unit after chat-node, retried by systemd until it
/// succeeds): wait until the own node answers; if it belongs to no membership yet,
/// ask each voter in turn to add it as a learner (a voter forwards to the leader).
/// `$NODE_ID` and `$PRIVATE_IP` come from [`INSTANCE_ENV`].
pub fn join_script(voters: &[String]) -> String {
    let mut s = String::from("#!/bin/bash\nset -uo pipefail\n");
    s.push_str(&voters_line(voters));
    s.push_str(&ports_line());
    let _ = write!(
        s,
        r#"SECRETS=${{SECRETS:-/run/chat/secrets.env}}
. "$SECRETS"
. "${{INSTANCE_ENV:-{INSTANCE_ENV}}}"
BODY="{{\"id\":$NODE_ID,\"addr\":{{\"public\":\"$PRIVATE_IP:$PUBLIC_PORT\",\"cluster\":\"$PRIVATE_IP:$CLUSTER_PORT\"}}}}"
own=$(curl -fsS --max-time 5 -H "x-cluster-secret: $CHAT_CLUSTER_SECRET" "http://127.0.0.1:$CLUSTER_PORT/cluster/status") || exit 1
case "$own" in
    *'"role":null'*) ;;
    *) echo "chat-join: node $NODE_ID is a member already"; exit 0 ;;
esac
for voter in $VOTERS; do
    if curl -fsS --max-time 300 -X POST -H "x-cluster-secret: $CHAT_CLUSTER_SECRET" \
        -H 'content-type: application/json' -d "$BODY" "http://$voter/admin/add-learner" >/dev/null; then
        echo "chat-join: node $NODE_ID added as a learner through $voter"
        exit 0
    fi
done
echo "chat-join: no voter added node $NODE_ID; retrying"
exit 1
"#
    );
    s
}

/// `chat-lifecycle` (root, a simple unit on group edges): poll the target
/// lifecycle state; when the group terminates the instance, stop chat-node (which
/// drains it), leave the membership and complete the lifecycle action.
pub fn lifecycle_script(cluster: &str, region: &str, voters: &[String]) -> String {
    let mut s = String::from("#!/bin/bash\nset -uo pipefail\n");
    let _ = writeln!(s, ". {LIB}/drain-decision");
    s.push_str(&voters_line(voters));
    let _ = write!(
        s,
        r#"SECRETS=${{SECRETS:-/run/chat/secrets.env}}
IMDS=${{IMDS:-http://169.254.169.254}}
POLL_S=${{POLL_S:-5}}
. "${{INSTANCE_ENV:-{INSTANCE_ENV}}}"
while :; do
    token=$(curl -sS --max-time 2 -X PUT "$IMDS/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
    state=$(curl -fsS --max-time 2 -H "X-aws-ec2-metadata-token: $token" \
        "$IMDS/latest/meta-data/autoscaling/target-lifecycle-state")
    if leave_now "$state"; then
        break
    fi
    sleep "$POLL_S"
done
echo "chat-lifecycle: the group terminates this instance: draining and stopping node $NODE_ID"
systemctl stop chat-node
. "$SECRETS"
for voter in $VOTERS; do
    if curl -fsS --max-time 30 -X POST -H "x-cluster-secret: $CHAT_CLUSTER_SECRET" \
        -H 'content-type: application/json' -d "{{\"id\":$NODE_ID}}" "http://$voter/admin/remove" >/dev/null; then
        echo "chat-lifecycle: node $NODE_ID removed from the membership through $voter"
        break
    fi
done
aws autoscaling complete-lifecycle-action --region {region} --auto-scaling-group-name {group} \
    --lifecycle-hook-name {hook} --instance-id "$INSTANCE_ID" --lifecycle-action-result CONTINUE
"#,
        region = sh_quote(region),
        group = sh_quote(&group(cluster)),
        hook = sh_quote(&hook(cluster)),
    );
    s
}

/// What `chatctl aws plan` prints about the edge group.
pub fn render(cluster: &str, size: GroupSize) -> String {
    format!(
        "  - edge group: launch template {template} (t3.small, IMDSv2, role {role}), Auto Scaling group {group} \
         ({min}..{max}, starting at {min}, every zone's default subnet), target tracking policy {policy} (average \
         CPU {TARGET_CPU_PERCENT}%), termination hook {hook} ({HOOK_TIMEOUT_S} s: the edge drains, leaves the \
         membership, completes it), target group {tg} (HTTP :5001, GET /api/health, deregistration {DEREGISTRATION_DELAY_S} s; \
         every voter and edge in it: forward your ALB listener to it); group edges join as learners by themselves\n",
        template = launch_template(cluster),
        role = super::names::node_role(cluster),
        group = group(cluster),
        min = size.min,
        max = size.max,
        policy = policy(cluster),
        hook = hook(cluster),
        tg = target_group(cluster),
    )
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn bash(script: &str) -> std::process::Output {
        Command::new("bash").arg("-c").arg(script).output().unwrap()
    }

    #[test]
    fn group_node_ids_come_from_the_instance_id_in_rust_and_in_bash() {
        for id in ["i-0123456789abcdef0", "i-fffffffffffffffff", "i-1234abcd", "i-00000000000000001"] {
            let script = format!("TOKEN=x\ncurl() {{ printf '%s' {id}; }}\n{NODE_ID_SH}echo $NODE_ID");
            let out = bash(&script);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let from_bash: NodeId = String::from_utf8(out.stdout).unwrap().trim().parse().unwrap();
            assert_eq!(Some(from_bash), group_node_id(id), "{id}");
            assert!(from_bash > GROUP_NODE_ID_BASE && from_bash < 1 << 53, "{id}: {from_bash}");
        }
        assert_eq!(group_node_id("i-0123456789abcdef0"), Some((1 << 52) + 0x456789abcdef0));
        assert_eq!(group_node_id("i-1234abcd"), Some((1 << 52) + 0x1234abcd));
        assert_eq!(group_node_id("sg-123"), None);
        assert_eq!(group_node_id("i-xyz"), None);
    }

    /// Runs `call` after sourcing [`DRAIN_DECISION`]: true when it returns 0.
    fn decides(call: &str) -> bool {
        let out = bash(&format!("{DRAIN_DECISION}{call}"));
        assert!(out.stderr.is_empty(), "{call}: {}", String::from_utf8_lossy(&out.stderr));
        out.status.success()
    }

    #[test]
    fn only_a_terminating_group_takes_an_edge_out() {
        assert!(decides("leave_now Terminated"));
        for state in ["InService", "Warmed:Stopped", "Pending", "''", "'<html>404'"] {
            assert!(!decides(&format!("leave_now {state}")), "{state}");
        }
    }

    #[test]
    fn the_drain_waits_for_the_sockets_up_to_its_limit() {
        // Sockets still there, time left: wait.
        assert!(!decides("drain_done 12 0 20"));
        assert!(!decides("drain_done 1 19 20"));
        // None left, or out of time: stop.
        assert!(decides("drain_done 0 0 20"));
        assert!(decides("drain_done 12 20 20"));
        assert!(decides("drain_done 12 45 20"));
        // The node no longer answers /metrics (already stopped, or broken): stop.
        assert!(decides("drain_done '' 0 20"));
        assert!(decides("drain_done 'curl: (7)' 0 20"));
    }

    /// A directory with stand-ins for `curl` (running `curl_body`, which may keep
    /// state under `$STATE`), `systemctl` and `aws` that record their arguments, the
    /// secrets and the instance's facts.
    struct Sandbox {
        dir: tempfile::TempDir,
    }

    impl Sandbox {
        fn new(curl_body: &str) -> Sandbox {
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("bin");
            std::fs::create_dir(&bin).unwrap();
            for (name, body) in [
                ("curl", format!("echo \"curl $*\" >>\"$STATE/calls\"\n{curl_body}")),
                ("systemctl", "echo \"systemctl $*\" >>\"$STATE/calls\"".to_string()),
                ("aws", "echo \"aws $*\" >>\"$STATE/calls\"".to_string()),
                ("sleep", String::new()),
            ] {
                let path = bin.join(name);
                std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
                std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            }
            std::fs::write(dir.path().join("secrets.env"), "CHAT_CLUSTER_SECRET=s3cret\n").unwrap();
            let facts =
                format!("INSTANCE_ID=i-0000000000000007\nNODE_ID={}\nPRIVATE_IP=10.0.3.9\n", GROUP_NODE_ID_BASE + 7);
            std::fs::write(dir.path().join("instance.env"), facts).unwrap();
            Sandbox { dir }
        }

        /// Run `script` (with the decision file inlined); its success and the calls.
        fn run(&self, script: &str) -> (bool, Vec<String>) {
            let root = self.dir.path();
            let file = root.join("script");
            std::fs::write(&file, script.replace(&format!(". {LIB}/drain-decision"), DRAIN_DECISION)).unwrap();
            // Bounded: a script that never decides to stop is killed after 20 s.
            let out = Command::new("timeout")
                .args(["20", "bash"])
                .arg(&file)
                .env("PATH", format!("{}:{}", root.join("bin").display(), std::env::var("PATH").unwrap()))
                .env("STATE", root)
                .env("SECRETS", root.join("secrets.env"))
                .env("INSTANCE_ENV", root.join("instance.env"))
                .env("IMDS", "http://imds")
                .output()
                .unwrap();
            let calls = std::fs::read_to_string(root.join("calls")).unwrap_or_default();
            eprintln!("{}", String::from_utf8_lossy(&out.stdout));
            (out.status.success(), calls.lines().map(str::to_string).collect())
        }
    }

    #[test]
    fn a_terminating_edge_stops_drained_leaves_the_membership_and_completes_the_hook() {
        // The metadata service says InService twice, then Terminated; the first voter
        // refuses the removal, the second takes it.
        let sandbox = Sandbox::new(
            r#"case "$*" in
    *target-lifecycle-state*) n=$(( $(cat "$STATE/polls" 2>/dev/null || echo 0) + 1 )); echo $n >"$STATE/polls"
        if [ $n -ge 3 ]; then echo Terminated; else echo InService; fi ;;
    *10.0.1.5:7001/admin/remove*) exit 22 ;;
esac"#,
        );
        let voters = ["10.0.1.5".to_string(), "10.0.2.6".to_string()];
        let (ok, calls) = sandbox.run(&lifecycle_script("event", "eu-west-1", &voters));
        assert!(ok, "{calls:#?}");
        let polls = calls.iter().filter(|c| c.contains("target-lifecycle-state")).count();
        assert_eq!(polls, 3, "{calls:#?}");
        let rest: Vec<&String> =
            calls.iter().filter(|c| !c.contains("lifecycle-state") && !c.contains("api/token")).collect();
        let id = GROUP_NODE_ID_BASE + 7;
        assert_eq!(rest[0], "systemctl stop chat-node", "stopping chat-node runs chat-drain first: {calls:#?}");
        assert!(rest[1].contains("http://10.0.1.5:7001/admin/remove") && rest[1].contains(&format!("{{\"id\":{id}}}")));
        assert!(rest[1].contains("x-cluster-secret: s3cret"), "{}", rest[1]);
        assert!(rest[2].contains("http://10.0.2.6:7001/admin/remove"), "{calls:#?}");
        assert_eq!(
            rest[3],
            "aws autoscaling complete-lifecycle-action --region eu-west-1 --auto-scaling-group-name chat-event-edges \
             --lifecycle-hook-name chat-event-edge-drain --instance-id i-0000000000000007 \
             --lifecycle-action-result CONTINUE"
        );
        assert_eq!(rest.len(), 4, "{calls:#?}");
    }

    #[test]
    fn chat_drain_starts_the_drain_and_waits_for_the_sockets() {
        // Three sockets, then one, then none.
        let sandbox = Sandbox::new(
            r#"case "$*" in
    */metrics*) n=$(( $(cat "$STATE/scrapes" 2>/dev/null || echo 0) + 1 )); echo $n >"$STATE/scrapes"
        case $n in 1) s=3 ;; 2) s=1 ;; *) s=0 ;; esac
        printf 'chat_sockets_connected_total 99\nchat_sockets_connected %s\n' $s ;;
    */admin/drain*) echo '{"node":4,"draining":true,"sockets":3}' ;;
esac"#,
        );
        let (ok, calls) = sandbox.run(&drain_script());
        assert!(ok, "{calls:#?}");
        assert!(calls[0].contains("-X POST") && calls[0].contains("http://127.0.0.1:7001/admin/drain"), "{calls:#?}");
        assert!(calls[0].contains("x-cluster-secret: s3cret") && calls[0].contains(r#"{"drain":true}"#));
        let scrapes = calls
            .iter()
            .filter(|c| c.contains("http://127.0.0.1:7001/metrics") && c.contains("x-cluster-secret: s3cret"))
            .count();
        assert_eq!(scrapes, 3, "waits until no socket is left: {calls:#?}");
        assert_eq!(calls.len(), 4, "{calls:#?}");

        // A node that does not take the drain (already stopped) is not waited for.
        let stopped = Sandbox::new("exit 7");
        let (ok, calls) = stopped.run(&drain_script());
        assert!(ok && calls.len() == 1, "{calls:#?}");
    }

    #[test]
    fn chat_join_asks_the_voters_only_while_the_node_has_no_role() {
        let voters = ["10.0.1.5".to_string(), "10.0.2.6".to_string()];
        let fresh = Sandbox::new(
            r#"case "$*" in
    *127.0.0.1:7001/cluster/status*) echo '{"id":7,"role":null,"members":[]}' ;;
    *10.0.1.5:7001/admin/add-learner*) exit 7 ;;
esac"#,
        );
        let (ok, calls) = fresh.run(&join_script(&voters));
        assert!(ok, "{calls:#?}");
        let id = GROUP_NODE_ID_BASE + 7;
        let body = format!(r#"{{"id":{id},"addr":{{"public":"10.0.3.9:5001","cluster":"10.0.3.9:7001"}}}}"#);
        assert!(calls[1].contains("http://10.0.1.5:7001/admin/add-learner") && calls[1].contains(&body), "{calls:#?}");
        assert!(calls[2].contains("http://10.0.2.6:7001/admin/add-learner"), "{calls:#?}");
        assert_eq!(calls.len(), 3);

        let member = Sandbox::new(r#"echo '{"id":7,"role":"learner","members":[{"id":1}]}'"#);
        let (ok, calls) = member.run(&join_script(&voters));
        assert!(ok && calls.len() == 1, "a member asks no voter: {calls:#?}");

        let nobody = Sandbox::new(r#"case "$*" in *cluster/status*) echo '{"role":null}' ;; *) exit 7 ;; esac"#);
        let (ok, calls) = nobody.run(&join_script(&voters));
        assert!(!ok && calls.len() == 3, "fails (systemd retries) when no voter answers: {calls:#?}");
    }
}
