//! What a drill prints: the measured numbers and the checker's verdict as a table,
//! and the same as JSON (`--json FILE`). Timings are reported, never judged; the
//! verdict alone decides the exit status.

use serde::Serialize;

use super::load::Recovery;
use super::probe::FaultWindow;
use super::scenario::Scenario;
use crate::table::Table;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    /// No guarantee was violated (the exit status).
    pub passed: bool,
    /// Whether the drill ran its own load (`--no-load`: false).
    pub load: bool,
    pub duration_ms: u64,
    /// Time after the fault during which no reachable node led in the newest term.
    pub leaderless_ms: Option<u64>,
    /// `leaderless_ms` split by fault (each from its start to the next fault's).
    pub leaderless_by_fault_ms: Vec<u64>,
    /// From each fault to the first probe write begun after it that committed (worst).
    pub write_recovery_ms: Option<u64>,
    /// Clients' worst time from losing their connection (or from the fault that cut
    /// it) to having read back everything they missed; without load, `node_catch_up_ms`.
    pub catch_up_ms: Option<u64>,
    /// A returning node's time to apply what the leader had applied when it came back.
    pub node_catch_up_ms: Option<u64>,
    /// Clients' worst time from losing their connection to being connected again.
    pub reconnect_ms: Option<u64>,
    /// Client-visible failures left after retrying, plus messages never acknowledged.
    pub failed_requests: u64,
    pub unacknowledged_messages: u64,
    pub probe_writes: u64,
    pub probe_writes_failed: u64,
    /// Chat clients whose connection broke (drains excluded).
    pub disconnected_clients: u64,
    /// Chat clients still disconnected at the end.
    pub unrecovered_clients: u64,
    pub messages_sent: u64,
    pub acknowledged: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub missed: u64,
    pub single_login_violations: u64,
    pub participants_diverged: u64,
    /// Requests refused because the other device's login replaced the session (expected).
    pub stale_session_refusals: u64,
    /// Every violation, one line each (the checker's and the read-back's).
    pub checker_errors: Vec<String>,
    /// The first few client-visible failures, for the operator.
    pub failures: Vec<String>,
    pub faults: Vec<FaultWindow>,
    pub recoveries: Vec<Recovery>,
}

impl Report {
    /// The table the operator reads.
    pub fn render(&self) -> String {
        let ms = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| format!("{v} ms"));
        let mut table = Table::new(&["measure", "value"]);
        let rows: Vec<(&str, String)> = vec![
            ("scenario", self.scenario.name().to_string()),
            ("leaderless", ms(self.leaderless_ms)),
            ("write recovery", ms(self.write_recovery_ms)),
            (if self.load { "clients caught up" } else { "caught up (node; no load)" }, ms(self.catch_up_ms)),
            ("clients reconnected", ms(self.reconnect_ms)),
            ("node caught up", ms(self.node_catch_up_ms)),
            ("failed requests", self.failed_requests.to_string()),
            ("unacknowledged messages", self.unacknowledged_messages.to_string()),
            ("probe writes failed", format!("{} of {}", self.probe_writes_failed, self.probe_writes)),
            ("disconnected clients", format!("{} ({} not back)", self.disconnected_clients, self.unrecovered_clients)),
            ("messages acknowledged", format!("{} of {} sent", self.acknowledged, self.messages_sent)),
            ("lost", self.lost.to_string()),
            ("duplicated", self.duplicated.to_string()),
            ("out of order", self.out_of_order.to_string()),
            ("missed by a member", self.missed.to_string()),
            ("single-login violations", self.single_login_violations.to_string()),
            ("participants diverged", self.participants_diverged.to_string()),
            ("stale-session refusals (expected)", self.stale_session_refusals.to_string()),
        ];
        for (name, value) in rows {
            table.row(vec![name.to_string(), value]);
        }
        let mut out = table.to_string();
        for (i, f) in self.faults.iter().enumerate() {
            let to = f.to_ms.map_or_else(|| "-".into(), |t| t.to_string());
            let leaderless =
                self.leaderless_by_fault_ms.get(i).map_or_else(String::new, |l| format!(", leaderless {l} ms"));
            out.push_str(&format!("fault: node {} {} from {} ms to {to} ms{leaderless}\n", f.node, f.what, f.from_ms));
        }
        for failure in self.failures.iter().take(10) {
            out.push_str(&format!("failed: {failure}\n"));
        }
        for error in self.checker_errors.iter().take(50) {
            out.push_str(&format!("VIOLATION {error}\n"));
        }
        if self.checker_errors.len() > 50 {
            out.push_str(&format!("... and {} more violations\n", self.checker_errors.len() - 50));
        }
        out.push_str(if self.passed { "result: PASSED (no guarantee violated)\n" } else { "result: FAILED\n" });
        out
    }
}

/// The worst client catch-up: each recovery measured from the start of the fault
/// window its disconnect fell in (a paused node is noticed only later), else from the
/// disconnect itself. Returns (catch-up, reconnect) maxima.
pub fn client_times(recoveries: &[Recovery], faults: &[FaultWindow]) -> (Option<u64>, Option<u64>) {
    let origin = |r: &Recovery| {
        faults
            .iter()
            .filter(|f| f.from_ms <= r.down_ms && f.to_ms.is_none_or(|to| r.down_ms <= to))
            .map(|f| f.from_ms)
            .min()
            .unwrap_or(r.down_ms)
    };
    let catch_up = recoveries.iter().map(|r| r.caught_up_ms.saturating_sub(origin(r))).max();
    let reconnect = recoveries.iter().map(|r| r.reconnected_ms.saturating_sub(r.down_ms)).max();
    (catch_up, reconnect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_catch_up_counts_from_the_fault_that_cut_the_connection() {
        let faults = vec![FaultWindow { node: 1, what: "SIGSTOP".into(), from_ms: 1000, to_ms: Some(4000) }];
        let recoveries = vec![
            Recovery { client: "a".into(), down_ms: 3000, reconnected_ms: 3200, caught_up_ms: 3400 },
            Recovery { client: "b".into(), down_ms: 6000, reconnected_ms: 6100, caught_up_ms: 6150 },
        ];
        assert_eq!(client_times(&recoveries, &faults), (Some(2400), Some(200)));
        assert_eq!(client_times(&[], &faults), (None, None));
    }
}
