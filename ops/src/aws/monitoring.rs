//! Alarms and logs of a cluster on AWS (issue 15), as data: the CloudWatch alarms
//! `up` creates, the metrics they watch and how the chat nodes publish them, the
//! log group and the CloudWatch agent configuration that ships the nodes' JSON logs
//! there. Pure (the `cloudwatch` module makes the calls), so plan, up and the tests
//! share one definition.
//!
//! The CloudWatch agent drops Prometheus histograms, so the nodes do not rely on its
//! Prometheus scraping: `chat-metrics`, a systemd timer on every chat node, reads the
//! node's own `/metrics` once a minute and publishes four values in namespace
//! [`NAMESPACE`] with the dimension `Cluster` = NAME:
//!
//! | metric | from the node's `/metrics` | alarm |
//! |---|---|---|
//! | `chat_raft_leader` | the gauge itself (leader id, 0: none) | no leader: Maximum < 1 for 2 min (no data counts too) |
//! | `chat_raft_fresh` | the gauge itself (1: reads here are linearizable) | node not ready: Minimum < 1 for 3 min |
//! | `chat_fanout_seconds_p99` | 99th percentile of `chat_fanout_seconds` over the minute (bucket upper bound) | delivery p99 > 0.25 s for 3 min |
//! | `chat_store_failed_percent` | `chat_messages_rejected_total{reason="store_failed"}` / (that + `chat_messages_accepted_total`) over the minute | error rate > 1 % for 2 min |

use std::fmt::Write;

use serde_json::json;

/// CloudWatch namespace of the metrics `chat-metrics` publishes.
pub const NAMESPACE: &str = "Chat";
/// How often `chat-metrics` publishes, and the period of every alarm.
pub const PERIOD_S: i32 = 60;
/// Where chat-node writes its JSON log lines (stderr, appended by systemd).
pub const NODE_LOG: &str = "/var/log/chat/node.log";
/// Days CloudWatch Logs keeps the nodes' lines.
pub const LOG_RETENTION_DAYS: i32 = 14;

/// The log group of a cluster: every chat node's lines, one stream per instance.
pub fn log_group(cluster: &str) -> String {
    format!("/chat/{cluster}/nodes")
}

/// Which way an alarm's threshold is crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    Below,
    Above,
}

/// One CloudWatch alarm of a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    /// Suffix of the alarm name `chat-NAME-<what>`.
    pub what: &'static str,
    pub metric: &'static str,
    /// `Maximum`, `Minimum`.
    pub statistic: &'static str,
    pub crossing: Crossing,
    pub threshold: f64,
    /// Consecutive periods of [`PERIOD_S`] before it fires.
    pub periods: i32,
    /// Whether a period without data counts as breaching (no node publishing at all).
    pub missing_breaches: bool,
    pub description: &'static str,
}

impl Alarm {
    pub fn name(&self, cluster: &str) -> String {
        format!("chat-{cluster}-{}", self.what)
    }
}

/// The alarms `up` creates and `down` deletes.
pub const ALARMS: [Alarm; 4] = [
    Alarm {
        what: "no-leader",
        metric: "chat_raft_leader",
        statistic: "Maximum",
        crossing: Crossing::Below,
        threshold: 1.0,
        periods: 2,
        missing_breaches: true,
        description: "No chat node reports a Raft leader (or none publishes): writes are refused.",
    },
    Alarm {
        what: "node-not-ready",
        metric: "chat_raft_fresh",
        statistic: "Minimum",
        crossing: Crossing::Below,
        threshold: 1.0,
        periods: 3,
        missing_breaches: false,
        description: "A chat node cannot serve linearizable reads (cut off from the leader, or catching up).",
    },
    Alarm {
        what: "delivery-p99",
        metric: "chat_fanout_seconds_p99",
        statistic: "Maximum",
        crossing: Crossing::Above,
        threshold: 0.25,
        periods: 3,
        missing_breaches: false,
        description: "The 99th percentile of cross-node message fan-out is above 250 ms on some node.",
    },
    Alarm {
        what: "error-rate",
        metric: "chat_store_failed_percent",
        statistic: "Maximum",
        crossing: Crossing::Above,
        threshold: 1.0,
        periods: 2,
        missing_breaches: false,
        description: "More than 1 % of chat messages failed to store on some node.",
    },
];

/// The CloudWatch agent's configuration: the node's log file into the cluster's
/// log group, one stream per instance. The agent only ships logs here; metrics go
/// through `chat-metrics`.
pub fn agent_config(cluster: &str) -> String {
    json!({
        "agent": { "run_as_user": "root" },
        "logs": {
            "logs_collected": {
                "files": {
                    "collect_list": [{
                        "file_path": NODE_LOG,
                        "log_group_name": log_group(cluster),
                        "log_stream_name": "{instance_id}",
                        "timezone": "UTC"
                    }]
                }
            }
        }
    })
    .to_string()
}

/// The awk program of `chat-metrics`: given the previous scrape (`prev`, may be
/// empty) and the current one, prints `name value` for each metric to publish.
/// Counters are compared with the previous scrape; the p99 is left out when no
/// fan-out happened in the minute, and a counter that went down (node restart)
/// counts from zero.
pub const METRICS_AWK: &str = r#"
/^#/ { next }
{
    name = $1; value = $2 + 0
    if (FILENAME == ARGV[1]) { prev[name] = value; next }
    cur[name] = value
    if (name ~ /^chat_fanout_seconds_bucket\{le="/) {
        le = name; sub(/^chat_fanout_seconds_bucket\{le="/, "", le); sub(/"\}$/, "", le)
        order[++n] = le; bucket[le] = name
    }
}
function delta(key,    d) {
    d = cur[key] - prev[key]
    if (d < 0) d = cur[key]
    return d
}
END {
    if ("chat_raft_leader" in cur) print "chat_raft_leader", cur["chat_raft_leader"]
    if ("chat_raft_fresh" in cur) print "chat_raft_fresh", cur["chat_raft_fresh"]
    total = delta("chat_fanout_seconds_bucket{le=\"+Inf\"}")
    if (total > 0) {
        for (i = 1; i <= n; i++) {
            if (delta(bucket[order[i]]) >= 0.99 * total) {
                p99 = order[i]; if (p99 == "+Inf") p99 = 2 * last
                print "chat_fanout_seconds_p99", p99
                break
            }
            last = order[i]
        }
    }
    failed = delta("chat_messages_rejected_total{reason=\"store_failed\"}")
    stored = delta("chat_messages_accepted_total")
    if (failed + stored > 0) print "chat_store_failed_percent", 100 * failed / (failed + stored)
    else print "chat_store_failed_percent", 0
}
"#;

/// `/usr/local/lib/chat/chat-metrics`: scrape the node, compute with
/// [`METRICS_AWK`], publish with the AWS CLI (instance role, IMDSv2). `$METRICS_URL`
/// and `$STATE_DIR` are overridable for tests.
pub fn metrics_script(cluster: &str, region: &str) -> String {
    let mut s = String::from("#!/bin/bash\nset -euo pipefail\n");
    let _ = writeln!(s, "CLUSTER={}", super::user_data::sh_quote(cluster));
    // `/metrics` is on the cluster listener, behind the cluster secret (issue 12).
    let _ = writeln!(s, "METRICS_URL=${{METRICS_URL:-http://127.0.0.1:{}/metrics}}", super::user_data::CLUSTER_PORT);
    let _ = writeln!(s, "SECRETS=${{SECRETS:-/run/chat/secrets.env}}");
    let _ = writeln!(s, "STATE_DIR=${{STATE_DIR:-/run/chat}}");
    s.push_str(". \"$SECRETS\" 2>/dev/null || exit 0\n");
    s.push_str("mkdir -p \"$STATE_DIR\"\ntouch \"$STATE_DIR/metrics.prev\"\n");
    s.push_str(
        "curl -fsS --max-time 5 -H \"x-cluster-secret: $CHAT_CLUSTER_SECRET\" \"$METRICS_URL\" \
         >\"$STATE_DIR/metrics.cur\" || exit 0\n",
    );
    let _ = writeln!(s, "cat >\"$STATE_DIR/metrics.awk\" <<'AWK'{METRICS_AWK}AWK");
    s.push_str(
        "data=$(awk -f \"$STATE_DIR/metrics.awk\" \"$STATE_DIR/metrics.prev\" \"$STATE_DIR/metrics.cur\" | \
         while read -r name value; do printf 'MetricName=%s,Value=%s,Dimensions=[{Name=Cluster,Value=%s}] ' \
         \"$name\" \"$value\" \"$CLUSTER\"; done)\n",
    );
    s.push_str("mv \"$STATE_DIR/metrics.cur\" \"$STATE_DIR/metrics.prev\"\n");
    // $data unquoted on purpose: one argument per metric.
    let _ = writeln!(
        s,
        "if [ -n \"$data\" ]; then aws cloudwatch put-metric-data --region {} --namespace {NAMESPACE} --metric-data \
         $data; fi",
        super::user_data::sh_quote(region)
    );
    s
}

/// What `chatctl aws plan` prints about alarms and logs.
pub fn render(cluster: &str) -> String {
    let mut out = format!(
        "  - logs: log group {} ({LOG_RETENTION_DAYS} days), one stream per chat node, shipped by the CloudWatch \
         agent from {NODE_LOG} (--log-format json)\n  - alarms (namespace {NAMESPACE}, dimension Cluster={cluster}, \
         published each minute by chat-metrics on every chat node):\n",
        log_group(cluster)
    );
    for alarm in &ALARMS {
        let op = match alarm.crossing {
            Crossing::Below => "<",
            Crossing::Above => ">",
        };
        let _ = writeln!(
            out,
            "      {}: {} {} {op} {} for {} min",
            alarm.name(cluster),
            alarm.statistic,
            alarm.metric,
            alarm.threshold,
            alarm.periods
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const BUCKETS: [&str; 11] =
        ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"];

    /// A `/metrics` text with `fanout[i]` observations at or below bucket i (cumulative).
    fn scrape(leader: u64, fresh: u64, fanout: [u64; 11], accepted: u64, failed: u64) -> String {
        let mut s = format!(
            "# HELP chat_raft_leader x\n# TYPE chat_raft_leader gauge\nchat_raft_leader {leader}\nchat_raft_fresh {fresh}\n\
             chat_messages_accepted_total {accepted}\nchat_messages_rejected_total{{reason=\"session\"}} 7\n\
             chat_messages_rejected_total{{reason=\"store_failed\"}} {failed}\n"
        );
        for (le, n) in BUCKETS.iter().zip(fanout) {
            let _ = writeln!(s, "chat_fanout_seconds_bucket{{le=\"{le}\"}} {n}");
        }
        let _ = writeln!(s, "chat_fanout_seconds_sum 1.5\nchat_fanout_seconds_count {}", fanout[10]);
        s
    }

    fn run_awk(prev: &str, cur: &str) -> Vec<(String, f64)> {
        let dir = tempfile::tempdir().unwrap();
        let (p, c, a) = (dir.path().join("prev"), dir.path().join("cur"), dir.path().join("m.awk"));
        std::fs::write(&p, prev).unwrap();
        std::fs::write(&c, cur).unwrap();
        std::fs::write(&a, METRICS_AWK).unwrap();
        let out = Command::new("awk").arg("-f").arg(&a).arg(&p).arg(&c).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (name, value) = l.split_once(' ').unwrap();
                (name.to_string(), value.parse().unwrap())
            })
            .collect()
    }

    fn get(values: &[(String, f64)], name: &str) -> Option<f64> {
        values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    #[test]
    fn p99_and_error_rate_come_from_the_minutes_deltas() {
        let prev = scrape(2, 1, [100; 11], 1000, 0);
        // 200 new fan-outs: 190 within 5 ms, 8 more within 100 ms, 2 more within 0.5 s.
        let cur = scrape(2, 0, [100, 100, 290, 290, 290, 290, 298, 298, 300, 300, 300], 1198, 2);
        let values = run_awk(&prev, &cur);
        assert_eq!(get(&values, "chat_raft_leader"), Some(2.0));
        assert_eq!(get(&values, "chat_raft_fresh"), Some(0.0));
        // 99 % of 200 = 198: reached at the 0.1 s bucket (190 + 8).
        assert_eq!(get(&values, "chat_fanout_seconds_p99"), Some(0.1));
        assert_eq!(get(&values, "chat_store_failed_percent"), Some(1.0));
    }

    #[test]
    fn no_fanout_no_p99_and_a_restart_counts_from_zero() {
        let same = scrape(0, 1, [5; 11], 10, 0);
        let values = run_awk(&same, &same);
        assert_eq!(get(&values, "chat_fanout_seconds_p99"), None);
        assert_eq!(get(&values, "chat_raft_leader"), Some(0.0));
        assert_eq!(get(&values, "chat_store_failed_percent"), Some(0.0));
        // The node restarted: counters below the previous scrape count from zero.
        let restarted = scrape(1, 1, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4], 3, 1);
        let values = run_awk(&scrape(1, 1, [50; 11], 500, 0), &restarted);
        assert_eq!(get(&values, "chat_fanout_seconds_p99"), Some(2.0), "all in +Inf: twice the last bound");
        assert_eq!(get(&values, "chat_store_failed_percent"), Some(25.0));
        // First run: no previous scrape at all.
        let values = run_awk("", &scrape(1, 1, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 1, 0));
        assert_eq!(get(&values, "chat_fanout_seconds_p99"), Some(0.001));
    }

    #[test]
    fn the_script_publishes_what_the_node_reports() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let calls = dir.path().join("calls");
        let scrape_file = dir.path().join("scrape");
        // Stand-ins for curl (serves the scrape file) and the AWS CLI (records its arguments).
        let fake = |name: &str, body: String| {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        };
        let scrapes = dir.path().join("scrapes");
        fake("curl", format!("printf '%s\\n' \"$*\" >>{}\ncat {}", scrapes.display(), scrape_file.display()));
        let secrets = dir.path().join("secrets.env");
        std::fs::write(&secrets, "CHAT_CLUSTER_SECRET=s3cret\n").unwrap();
        fake("aws", format!("printf '%s\\n' \"$@\" >>{}", calls.display()));
        let script = dir.path().join("chat-metrics");
        std::fs::write(&script, metrics_script("event", "eu-west-1")).unwrap();
        let run = || {
            let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
            let out = Command::new("bash")
                .arg(&script)
                .env("PATH", path)
                .env("STATE_DIR", dir.path().join("state"))
                .env("SECRETS", &secrets)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        std::fs::write(&scrape_file, scrape(3, 1, [0; 11], 10, 0)).unwrap();
        run();
        std::fs::write(&scrape_file, scrape(3, 1, [0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4], 20, 0)).unwrap();
        run();
        // Scraped from the cluster listener, with the cluster secret.
        let scrapes = std::fs::read_to_string(&scrapes).unwrap();
        assert_eq!(
            scrapes.matches("-H x-cluster-secret: s3cret http://127.0.0.1:7001/metrics").count(),
            2,
            "{scrapes}"
        );
        let calls = std::fs::read_to_string(&calls).unwrap();
        let runs: Vec<&str> = calls.split("cloudwatch\n").filter(|r| !r.is_empty()).collect();
        assert_eq!(runs.len(), 2, "{calls}");
        for run in &runs {
            assert!(run.contains("put-metric-data\n--region\neu-west-1\n--namespace\nChat\n--metric-data\n"), "{run}");
            assert!(run.contains("MetricName=chat_raft_leader,Value=3,Dimensions=[{Name=Cluster,Value=event}]\n"));
        }
        assert!(!runs[0].contains("chat_fanout_seconds_p99"), "{}", runs[0]);
        assert!(runs[1].contains("MetricName=chat_fanout_seconds_p99,Value=0.01,"), "{}", runs[1]);
    }

    #[test]
    fn alarms_watch_what_the_nodes_publish() {
        let names: Vec<String> = ALARMS.iter().map(|a| a.name("event")).collect();
        assert_eq!(
            names,
            ["chat-event-no-leader", "chat-event-node-not-ready", "chat-event-delivery-p99", "chat-event-error-rate"]
        );
        for alarm in &ALARMS {
            assert!(METRICS_AWK.contains(&format!("print \"{}\"", alarm.metric)), "{} is not published", alarm.metric);
        }
        let config: serde_json::Value = serde_json::from_str(&agent_config("event")).unwrap();
        let file = &config["logs"]["logs_collected"]["files"]["collect_list"][0];
        assert_eq!(file["log_group_name"], "/chat/event/nodes");
        assert_eq!(file["file_path"], NODE_LOG);
        let text = render("event");
        assert!(text.contains("chat-event-no-leader: Maximum chat_raft_leader < 1 for 2 min"), "{text}");
    }
}
