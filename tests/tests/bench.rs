//! `chatctl bench` as CI runs it: a compressed 300-user ramp (100, +100 every 5 s,
//! hold 10 s) against a local 3-node cluster started with `chatctl local up --lb`,
//! through the real binaries. The run must exit 0 and its JSON must show zero failed
//! connections and requests and nothing lost, duplicated or out of order. Then the
//! same cluster through its HAProxy: a 100-user run through it, and a killed node is
//! taken out of the pool by the health check while requests keep succeeding. One
//! cluster for both keeps the test to about a minute and one cluster's CPU. A second,
//! small run floods `chatMessage` from one extra socket (`--flood`) and checks that
//! the report shows the flood and keeps it out of the other users' loss check.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat_tests::local_up::{chatctl, LocalUp};
use chat_tests::wait_until;
use serde_json::Value;

/// The last warnings and errors of every node's log, to say why a run failed.
fn print_node_warnings(up: &LocalUp) {
    for id in 1..=3 {
        let log = std::fs::read_to_string(up.dir().join(format!("node-{id}/node.log"))).unwrap_or_default();
        let bad: Vec<&str> = log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
        eprintln!("--- node {id}: last warnings and errors of {} ---", bad.len());
        for line in &bad[bad.len().saturating_sub(15)..] {
            eprintln!("{line}");
        }
    }
}

fn layout(up: &LocalUp) -> Result<Value> {
    Ok(serde_json::from_slice(&std::fs::read(up.dir().join("cluster.json"))?)?)
}

/// Run `chatctl bench` to the end (it bounds itself with --max-duration) and return
/// its exit success and JSON report.
fn bench(up: &LocalUp, extra: &[&str]) -> Result<(bool, Value)> {
    let json = up.dir().join(format!("bench-{}.json", rand::random::<u32>()));
    let out = Command::new(chatctl()?)
        .args(["bench", "--data-dir"])
        .arg(up.dir())
        .args(extra)
        .args(["--max-duration", "2m", "--json"])
        .arg(&json)
        .stdin(Stdio::null())
        .output()?;
    // Shown on failure: the live lines and the human report.
    let _ = std::io::stderr().write_all(&out.stderr);
    let _ = std::io::stderr().write_all(&out.stdout);
    let report: Value = serde_json::from_slice(&std::fs::read(&json).context("the JSON report")?)?;
    if !out.status.success() {
        print_node_warnings(up);
    }
    Ok((out.status.success(), report))
}

fn assert_clean(report: &Value, users: u64) {
    let n = |path: &str| report.pointer(path).and_then(Value::as_u64).unwrap_or(u64::MAX);
    assert_eq!(n("/connections/failed"), 0, "failed connections");
    assert_eq!(n("/connections/attempted"), users, "one socket per user");
    assert_eq!(n("/requests/failed"), 0, "failed REST requests");
    assert!(n("/requests/total") >= 3 * users, "register, list and create/join per user");
    for field in ["lost", "duplicated", "out_of_order", "unacknowledged"] {
        assert_eq!(n(&format!("/messages/{field}")), 0, "messages {field}");
    }
    assert!(n("/messages/delivered") > 0, "something was delivered");
    assert!(n("/messages/expected") > 0, "deliveries were owed");
    assert_eq!(n("/server_errors/total"), 0, "server errors: {}", report["server_errors"]);
    assert_eq!(n("/users_max"), users);
    assert!(report["latency_ms"]["p99"].as_f64().is_some_and(|p| p > 0.0));
    assert_eq!(report["ok"], true);
}

fn haproxy_installed() -> Result<bool> {
    if Command::new("haproxy").arg("-v").stdout(Stdio::null()).status().is_ok() {
        return Ok(true);
    }
    let why = "haproxy is not installed (scripts/test.sh installs it)";
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        bail!("{why}");
    }
    let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPED the load balancer test: {why} !!!!!!!!\n");
    Ok(false)
}

/// Each server's status (`UP`, `DOWN`, ...) from HAProxy's CSV statistics.
async fn lb_servers(http: &reqwest::Client, stats: &str) -> Result<Vec<(String, String)>> {
    let csv = http.get(format!("http://{stats}/;csv")).send().await?.text().await?;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().context("CSV header")?.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).with_context(|| format!("no {name} column"));
    let (px, sv, status) = (col("pxname")?, col("svname")?, col("status")?);
    Ok(lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.get(px) == Some(&"nodes") && f.get(sv).is_some_and(|s| s.starts_with("node")))
        .map(|f| (f[sv].to_string(), f[status].to_string()))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_ramp_loses_nothing_direct_and_through_haproxy() -> Result<()> {
    let lb = haproxy_installed()?;
    let up = LocalUp::start(if lb { &["--lb"] } else { &[] }, &[]).await?;

    // 300 users straight to the three nodes' public listeners.
    let profile = ["--start", "100", "--step", "100", "--every", "5s", "--max", "300", "--hold", "10s"];
    let (ok, report) = bench(&up, &profile)?;
    assert!(ok, "chatctl bench exited non-zero: {}", report["failures"]);
    assert_clean(&report, 300);
    let steps = report["steps"].as_array().context("steps")?;
    let users: Vec<u64> = steps.iter().filter_map(|s| s["users_target"].as_u64()).collect();
    assert_eq!(users, vec![100, 200, 300]);
    let sampled = report["nodes"].as_array().context("nodes")?;
    assert!(sampled.iter().filter(|n| n["name"].as_str().is_some_and(|n| n.starts_with("node"))).count() == 3);

    if lb {
        through_haproxy(&up).await?;
    }
    Ok(())
}

/// Ten users in two rooms of five for 10 s while one more socket in the first room
/// floods `chatMessage` at 500/s. The nodes allow 200 messages per user per minute, so
/// most of the flood is refused with `RATE_LIMIT_EXCEEDED`; the run must still pass
/// with every owed delivery made, and its report must say what the flooder did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_message_flood_is_reported_and_kept_out_of_the_loss_check() -> Result<()> {
    let up = LocalUp::start(&[], &[("CHAT_CHAT_RATE_LIMIT", "200")]).await?;
    let profile = [
        "--start",
        "10",
        "--max",
        "10",
        "--hold",
        "10s",
        "--room-size",
        "5",
        "--rate",
        "1",
        "--drain",
        "3s",
        "--flood",
        "chatMessage",
        "--flood-rate",
        "500",
    ];
    let (ok, report) = bench(&up, &profile)?;
    assert!(ok, "chatctl bench with a flood exited non-zero: {}", report["failures"]);
    assert_clean(&report, 10);
    let n = |path: &str| report.pointer(path).and_then(Value::as_u64).unwrap_or(0);
    let (delivered, expected) = (n("/messages/delivered"), n("/messages/expected"));
    assert!(delivered >= expected, "every owed delivery made: {}", report["messages"]);
    // The ~200 flood messages the nodes accepted reached the first room's four other
    // members; counted, they would add ~800 deliveries.
    assert!(delivered < expected + 100, "flood messages counted as deliveries: {}", report["messages"]);

    let first_room = n("/first_room_latency_ms/count");
    assert!(first_room > 0 && first_room < delivered, "the flooded room's deliveries measured apart: {first_room}");
    let flood = &report["flood"];
    assert_eq!(flood["event"], "chatMessage", "{flood}");
    assert_eq!(flood["setup_error"], Value::Null, "{flood}");
    let (attempted, sent) = (n("/flood/attempted"), n("/flood/sent"));
    assert!(sent > 500 && attempted >= sent, "the flooder sent for the whole run: {flood}");
    let refused = n("/flood/refusals/RATE_LIMIT_EXCEEDED");
    assert!(refused > sent / 2, "most of the flood refused by the rate limit, counted by code: {flood}");
    assert_eq!(n("/flood/disconnects"), 0, "a flooder that reads is not disconnected: {flood}");
    Ok(())
}

/// A bench run through the balancer, then node 1 is killed: the health check takes
/// it out and requests through the balancer keep succeeding.
async fn through_haproxy(up: &LocalUp) -> Result<()> {
    let layout = layout(up)?;
    let lb = layout["lb"]["public"].as_str().context("cluster.json records lb.public")?.to_string();
    let stats = layout["lb"]["stats"].as_str().context("lb.stats")?.to_string();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let health = http.get(format!("http://{lb}/api/health")).send().await?;
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await?["status"], "ok");
    let servers = lb_servers(&http, &stats).await?;
    assert_eq!(servers.len(), 3, "{servers:?}");

    let profile = ["--via-lb", "--start", "50", "--step", "50", "--every", "5s", "--max", "100", "--hold", "5s"];
    let (ok, report) = bench(up, &profile)?;
    assert!(ok, "chatctl bench through haproxy exited non-zero: {}", report["failures"]);
    assert_clean(&report, 100);
    assert_eq!(report["targets"], serde_json::json!([lb]));

    let killed = Command::new(chatctl()?)
        .args(["local", "stop", "--kill", "--node", "1", "--data-dir"])
        .arg(up.dir())
        .status()?;
    assert!(killed.success());
    wait_until("haproxy to mark node1 DOWN", Duration::from_secs(30), || async {
        let servers = lb_servers(&http, &stats).await.ok()?;
        servers.iter().any(|(name, status)| name == "node1" && status.starts_with("DOWN")).then_some(())
    })
    .await?;
    for _ in 0..20 {
        let r = http.get(format!("http://{lb}/api/health")).send().await?;
        assert_eq!(r.status(), 200, "a request through the balancer after node 1 went down");
    }
    let servers = lb_servers(&http, &stats).await?;
    assert_eq!(servers.iter().filter(|(_, s)| s.starts_with("UP")).count(), 2, "{servers:?}");
    Ok(())
}
