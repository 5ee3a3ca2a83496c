//! Failover drills in CI: the real `chatctl drill` binary against a 3-node cluster
//! run by the real `chatctl local up`, each with the drill's own small bounded load.
//! `kill-leader`, `partition-leader` and `rolling-restart` must pass with nothing
//! lost, duplicated, out of order, no single-login violation and no checker error;
//! and a deliberately broken node (`CHAT_UNSAFE_ACK_BEFORE_COMMIT`, which echoes a
//! message to its sender a second before storing it) must make `kill-leader` fail
//! with the lost messages named. Timings are printed, never asserted. `rolling-restart`
//! hands leadership over before stopping the leader (planned leadership transfer):
//! exactly one handover, and no client request may fail. Issue 15's goal of under
//! 100 ms without a leader per restart is not met yet (hundreds of ms to 1.8 s
//! measured), so the per-restart times are printed.
//!
//! The drills run one at a time (a lock), so two clusters never share the 2 cores.

use std::process::{Command, Output};

use anyhow::{Context, Result};
use chat_tests::local_up::{chatctl, LocalUp};
use serde_json::Value;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `chatctl drill SCENARIO` with a small load; its output and JSON report.
async fn drill(cluster: &LocalUp, scenario: &str) -> Result<(Output, Value)> {
    let json = cluster.dir().join(format!("{scenario}.json"));
    let mut command = Command::new(chatctl()?);
    command
        .args(["drill", scenario, "--data-dir"])
        .arg(cluster.dir())
        .args(["--users-per-node", "2", "--rooms", "2", "--churn-users", "2"])
        .args(["--warmup", "2s", "--hold", "2s", "--after", "2s", "--settle", "20s"])
        .arg("--json")
        .arg(&json)
        .env("RUST_LOG", "warn,chat_ops=info");
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    println!("--- chatctl drill {scenario} ({})", output.status);
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    let report = std::fs::read(&json).with_context(|| format!("{} not written", json.display()))?;
    Ok((output, serde_json::from_slice(&report)?))
}

fn number(report: &Value, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("{field} missing from the report: {report}"))
}

/// The guarantees every passing drill must show in its JSON.
fn assert_passed(scenario: &str, output: &Output, report: &Value) {
    assert!(output.status.success(), "drill {scenario} failed: {report}");
    assert_eq!(report["passed"], true, "{report}");
    for field in ["lost", "duplicated", "out_of_order", "single_login_violations", "missed", "participants_diverged"] {
        assert_eq!(number(report, field), 0, "{scenario}: {field} in {report}");
    }
    assert_eq!(report["checker_errors"].as_array().map(Vec::len), Some(0), "{report}");
    // The load really ran and the checker really had something to check.
    assert!(number(report, "acknowledged") > 20, "{scenario}: too few acknowledged messages: {report}");
    assert!(number(report, "messages_sent") >= number(report, "acknowledged"));
    for field in ["leaderless_ms", "write_recovery_ms", "failed_requests"] {
        assert!(report.get(field).is_some(), "{field} missing: {report}");
    }
}

/// A rolling restart with leadership transfer: every node restarted, the leader's
/// restart handed over, and not one failed client request.
fn assert_restarts_were_seamless(report: &Value) {
    let faults = report["faults"].as_array().expect("faults in the report");
    assert_eq!(faults.len(), 3, "every node restarts once: {report}");
    let handed_over = faults.iter().filter(|f| f["what"].as_str().is_some_and(|w| w.contains("leadership to"))).count();
    assert_eq!(handed_over, 1, "the leader's restart hands leadership over: {report}");
    let leaderless = report["leaderless_by_fault_ms"].as_array().expect("leaderless_by_fault_ms");
    assert_eq!(leaderless.len(), 3, "{report}");
    println!("rolling-restart: leaderless per restart {leaderless:?} ms");
    assert_eq!(number(report, "failed_requests"), 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_leader_partition_leader_and_rolling_restart_keep_every_guarantee() -> Result<()> {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = LocalUp::start(&[], &[]).await?;
    for scenario in ["kill-leader", "partition-leader", "rolling-restart"] {
        let (output, report) = drill(&cluster, scenario).await?;
        assert_passed(scenario, &output, &report);
        if scenario == "rolling-restart" {
            assert_restarts_were_seamless(&report);
        }
        println!(
            "{scenario}: leaderless {} ms, write recovery {} ms, clients caught up {} ms, failed requests {}",
            report["leaderless_ms"], report["write_recovery_ms"], report["catch_up_ms"], report["failed_requests"]
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checker_catches_a_node_that_acknowledges_before_storing() -> Result<()> {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = LocalUp::start(&[], &[("CHAT_UNSAFE_ACK_BEFORE_COMMIT", "true")]).await?;
    let (output, report) = drill(&cluster, "kill-leader").await?;
    assert_eq!(output.status.code(), Some(1), "the drill must fail: {report}");
    assert_eq!(report["passed"], false, "{report}");
    assert!(number(&report, "lost") > 0, "no lost message reported: {report}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let named: Vec<&str> = stdout.lines().filter(|l| l.starts_with("VIOLATION lost: drill-")).collect();
    assert!(!named.is_empty(), "the lost messages are not named:\n{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("guarantee violation"));
    println!("caught: {}", named.join("\n"));
    Ok(())
}
