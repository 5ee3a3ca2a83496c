//! What a bench run reports: the JSON document (`--json`), the human table printed at
//! the end, the live progress line, and the verdict (which counts make it fail).

use std::collections::BTreeMap;

use chat_raft::NodeId;
use serde::Serialize;

use super::checker::LossCheck;
use super::flood::FloodReport;
use super::histogram::{Histogram, LatencyMs};
use super::stats::Tally;
use super::usage::{round1, ProcessSample};
use crate::table::Table;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when nothing failed, was lost, duplicated or out of order.
    pub ok: bool,
    /// Why `ok` is false, one line per reason.
    pub failures: Vec<String>,
    pub targets: Vec<String>,
    pub profile: ProfileJson,
    pub duration_s: f64,
    /// Most users connected and in their room at the same time.
    pub users_max: usize,
    pub connections: Connections,
    pub requests: Requests,
    pub messages: Messages,
    /// Delivery latency: send until received by another member.
    pub latency_ms: LatencyMs,
    /// The same in the first room only: the room a `--flood` socket is in, so a flooded
    /// run and one without can be compared where the flood lands and everywhere.
    pub first_room_latency_ms: LatencyMs,
    /// Send until the sender's own echo arrived.
    pub ack_latency_ms: LatencyMs,
    /// Setup to close, per user.
    pub session_s: Sessions,
    pub server_errors: ServerErrors,
    pub generator: Generator,
    /// Local nodes (with --data-dir): CPU % of one core and RSS.
    pub nodes: Vec<NodeUsage>,
    /// Raft term and leader around the run (with --data-dir only): a term that moved
    /// means an election happened under load, which latency alone does not show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft: Option<RaftTerms>,
    pub steps: Vec<StepRow>,
    pub timeline: Vec<Point>,
    /// The `--flood` socket (absent without --flood): kept out of every figure above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood: Option<FloodReport>,
}

/// The cluster's Raft term and leader just before the ramp and just after it. A term
/// is null when the status could not be read then; a leader is null when there was
/// none or the status could not be read (the term tells which).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RaftTerms {
    pub term_before: Option<u64>,
    pub term_after: Option<u64>,
    pub leader_before: Option<NodeId>,
    pub leader_after: Option<NodeId>,
}

/// One reading of the cluster's status: the highest term seen and the leader, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftView {
    pub term: u64,
    pub leader: Option<NodeId>,
}

impl RaftTerms {
    /// The record from the two readings; `None` is a status that could not be read.
    pub fn from_views(before: Option<RaftView>, after: Option<RaftView>) -> Self {
        Self {
            term_before: before.map(|v| v.term),
            term_after: after.map(|v| v.term),
            leader_before: before.and_then(|v| v.leader),
            leader_after: after.and_then(|v| v.leader),
        }
    }

    /// `3 / 4 (changed)`, or `3 / unreadable`: the human line for the terms.
    fn terms_line(&self) -> String {
        let show = |t: Option<u64>| t.map_or_else(|| "unreadable".to_string(), |t| t.to_string());
        let changed = matches!((self.term_before, self.term_after), (Some(a), Some(b)) if a != b);
        format!("{} / {}{}", show(self.term_before), show(self.term_after), if changed { " (changed)" } else { "" })
    }

    /// `1 / 2 (changed)`, `none / 1`, or `unreadable / 1`: a leader is only
    /// "none" when the status was read and named no leader.
    fn leaders_line(&self) -> String {
        let show = |term: Option<u64>, leader: Option<NodeId>| match (term, leader) {
            (None, _) => "unreadable".to_string(),
            (Some(_), None) => "none".to_string(),
            (Some(_), Some(id)) => id.to_string(),
        };
        let before = show(self.term_before, self.leader_before);
        let after = show(self.term_after, self.leader_after);
        let read = self.term_before.is_some() && self.term_after.is_some();
        let changed = read && self.leader_before != self.leader_after;
        format!("{before} / {after}{}", if changed { " (changed)" } else { "" })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileJson {
    pub start: usize,
    pub step: usize,
    pub every_s: f64,
    pub max: usize,
    pub hold_s: f64,
    pub max_duration_s: f64,
    pub room_size: usize,
    pub rate_per_user: f64,
    pub mark_read: bool,
    /// The ramp was cut short to fit --max-duration.
    pub truncated: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Connections {
    pub attempted: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub unexpected_disconnects: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Requests {
    pub total: u64,
    pub failed: u64,
    pub latency_ms: RestLatency,
    pub by_endpoint: BTreeMap<String, Endpoint>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RestLatency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Endpoint {
    pub total: u64,
    pub failed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Messages {
    pub sent: u64,
    pub acknowledged: u64,
    pub unacknowledged: u64,
    pub delivered: u64,
    pub expected: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub reads_marked: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Sessions {
    pub count: u64,
    pub p50: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerErrors {
    pub total: u64,
    pub users_failed: u64,
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Generator {
    pub cpu_s: f64,
    /// Average over the run, percent of one core.
    pub cpu_pct: f64,
    pub cpu_pct_peak: f64,
    pub max_rss_mb: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeUsage {
    pub name: String,
    pub pid: u32,
    pub cpu_pct: f64,
    pub cpu_pct_peak: f64,
    pub rss_mb: f64,
    pub rss_mb_peak: f64,
}

/// One step of the ramp, measured over its own span.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub step: usize,
    pub at_s: f64,
    pub span_s: f64,
    pub users_target: usize,
    pub users_in_room: usize,
    pub connections_attempted: u64,
    pub connections_failed: u64,
    pub requests: u64,
    pub requests_failed: u64,
    pub sent: u64,
    pub delivered: u64,
    pub sent_per_s: f64,
    pub delivered_per_s: f64,
    pub latency_ms: LatencyMs,
    pub server_errors: u64,
    pub generator_cpu_pct: f64,
    pub nodes: Vec<ProcessSample>,
}

/// One progress tick, for the plot.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub t_s: f64,
    pub users: usize,
    pub sent_per_s: f64,
    pub delivered_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub generator_cpu_pct: f64,
    /// RSS (MB) of each tracked process at this tick, in the order of the report's
    /// `nodes`, so memory growth can be lined up with load; empty without --data-dir.
    pub node_rss_mb: Vec<f64>,
}

impl Connections {
    pub fn from(t: &Tally) -> Self {
        Self {
            attempted: t.connections_attempted,
            succeeded: t.connections_succeeded,
            failed: t.connections_failed,
            unexpected_disconnects: t.disconnects,
        }
    }
}

impl Requests {
    pub fn from(t: &Tally) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let all = t.rest_latency();
        Self {
            total: t.requests_total(),
            failed: t.requests_failed(),
            latency_ms: RestLatency { p50: ms(all.quantile(0.5)), p99: ms(all.quantile(0.99)), max: ms(all.max()) },
            by_endpoint: t
                .requests
                .iter()
                .map(|(name, e)| {
                    let row = Endpoint {
                        total: e.total,
                        failed: e.failed,
                        p50_ms: ms(e.latency.quantile(0.5)),
                        p99_ms: ms(e.latency.quantile(0.99)),
                    };
                    (name.to_string(), row)
                })
                .collect(),
        }
    }
}

impl Messages {
    pub fn from(t: &Tally, loss: &LossCheck) -> Self {
        Self {
            sent: t.sent,
            acknowledged: t.acked,
            unacknowledged: loss.unacknowledged,
            delivered: t.delivered,
            expected: loss.expected,
            lost: loss.lost,
            duplicated: t.duplicated,
            out_of_order: t.out_of_order,
            reads_marked: t.reads_marked,
        }
    }
}

impl Sessions {
    pub fn from(h: &Histogram) -> Self {
        let s = |us: u64| round1(us as f64 / 1e6);
        Self { count: h.count(), p50: s(h.quantile(0.5)), max: s(h.max()) }
    }
}

/// Every reason the run fails; empty means it passed.
pub fn verdict(r: &Report) -> Vec<String> {
    let checks = [
        (r.connections.failed, "connections failed"),
        (r.connections.unexpected_disconnects, "sockets disconnected unexpectedly"),
        (r.requests.failed, "REST requests failed"),
        (r.server_errors.total, "server errors (error/joinRoomError events, setup timeouts)"),
        (r.server_errors.users_failed, "users failed their setup"),
        (r.messages.lost, "deliveries lost"),
        (r.messages.duplicated, "deliveries duplicated"),
        (r.messages.out_of_order, "deliveries out of order"),
        (r.messages.unacknowledged, "messages never echoed to their sender"),
    ];
    let mut out: Vec<String> = checks.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
    if r.messages.delivered == 0 {
        out.push("no message was delivered".into());
    }
    if let Some(flood) = &r.flood {
        if flood.sent == 0 {
            let why = flood.setup_error.as_deref().unwrap_or("nothing written");
            out.push(format!("the flooder sent nothing ({why}): this was not a flooded run"));
        }
    }
    out
}

impl FloodReport {
    /// The summary rows of a flooded run.
    fn rows(&self) -> Vec<(String, String)> {
        let refusals = if self.refusals.is_empty() {
            "none".to_string()
        } else {
            self.refusals.iter().map(|(code, n)| format!("{code} {n}")).collect::<Vec<_>>().join(", ")
        };
        let mut rows = vec![
            (
                "flood event, rate".to_string(),
                format!("{} at {}/s for {:.1} s", self.event, self.rate_per_s, self.flooding_s),
            ),
            (
                "flood attempted / sent / held back".to_string(),
                format!("{} / {} / {}", self.attempted, self.sent, self.held_back),
            ),
            ("flood refusals by code".to_string(), refusals),
            (
                "flood disconnects / reconnects (failed)".to_string(),
                format!("{} / {} ({})", self.disconnects, self.reconnects, self.reconnect_failures),
            ),
        ];
        if let Some(why) = &self.setup_error {
            rows.push(("flood setup error".to_string(), why.clone()));
        }
        rows
    }
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

impl Report {
    /// The human report printed at the end of a run.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut steps = Table::new(&[
            "step",
            "at s",
            "users",
            "in room",
            "conn fail",
            "req",
            "req fail",
            "sent/s",
            "deliv/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
            "gen cpu%",
        ]);
        for s in &self.steps {
            steps.row(vec![
                s.step.to_string(),
                f1(s.at_s),
                s.users_target.to_string(),
                s.users_in_room.to_string(),
                s.connections_failed.to_string(),
                s.requests.to_string(),
                s.requests_failed.to_string(),
                f1(s.sent_per_s),
                f1(s.delivered_per_s),
                f1(s.latency_ms.p50),
                f1(s.latency_ms.p99),
                f1(s.latency_ms.max),
                s.server_errors.to_string(),
                f1(s.generator_cpu_pct),
            ]);
        }
        out.push_str(&steps.to_string());
        let m = &self.messages;
        let l = &self.latency_ms;
        let fl = &self.first_room_latency_ms;
        let mut summary = Table::new(&["measure", "value"]);
        let rows = [
            ("users max (in room)", self.users_max.to_string()),
            ("duration", format!("{:.1} s", self.duration_s)),
            (
                "connections attempted / failed / dropped",
                format!(
                    "{} / {} / {}",
                    self.connections.attempted, self.connections.failed, self.connections.unexpected_disconnects
                ),
            ),
            ("requests total / failed", format!("{} / {}", self.requests.total, self.requests.failed)),
            (
                "REST latency p50 / p99 / max ms",
                format!(
                    "{} / {} / {}",
                    f1(self.requests.latency_ms.p50),
                    f1(self.requests.latency_ms.p99),
                    f1(self.requests.latency_ms.max)
                ),
            ),
            ("messages sent / acknowledged", format!("{} / {}", m.sent, m.acknowledged)),
            ("deliveries done / owed", format!("{} / {}", m.delivered, m.expected)),
            ("lost / duplicated / out of order", format!("{} / {} / {}", m.lost, m.duplicated, m.out_of_order)),
            ("reads marked", m.reads_marked.to_string()),
            (
                "delivery latency p50 / p95 / p99 / max ms",
                format!("{} / {} / {} / {}", f1(l.p50), f1(l.p95), f1(l.p99), f1(l.max)),
            ),
            (
                "delivery latency, first room p50 / p95 / p99 / max ms",
                format!("{} / {} / {} / {}", f1(fl.p50), f1(fl.p95), f1(fl.p99), f1(fl.max)),
            ),
            ("session length p50 / max s", format!("{} / {}", self.session_s.p50, self.session_s.max)),
            ("server errors", self.server_errors.total.to_string()),
            (
                "generator CPU (avg / peak % of a core), RSS",
                format!(
                    "{} / {} %, {} MB",
                    f1(self.generator.cpu_pct),
                    f1(self.generator.cpu_pct_peak),
                    f1(self.generator.max_rss_mb)
                ),
            ),
        ];
        for (k, v) in rows {
            summary.row(vec![k.into(), v]);
        }
        for n in &self.nodes {
            summary.row(vec![
                format!("{} (pid {}) CPU avg / peak %, RSS end / peak MB", n.name, n.pid),
                format!("{} / {} %, {} / {} MB", f1(n.cpu_pct), f1(n.cpu_pct_peak), f1(n.rss_mb), f1(n.rss_mb_peak)),
            ]);
        }
        for (k, v) in self.flood.iter().flat_map(FloodReport::rows) {
            summary.row(vec![k, v]);
        }
        if let Some(raft) = &self.raft {
            summary.row(vec!["raft term before / after".into(), raft.terms_line()]);
            summary.row(vec!["leader before / after".into(), raft.leaders_line()]);
        }
        out.push('\n');
        out.push_str(&summary.to_string());
        if !self.requests.by_endpoint.is_empty() {
            let mut eps = Table::new(&["endpoint", "requests", "failed", "p50 ms", "p99 ms"]);
            for (name, e) in &self.requests.by_endpoint {
                eps.row(vec![name.clone(), e.total.to_string(), e.failed.to_string(), f1(e.p50_ms), f1(e.p99_ms)]);
            }
            out.push('\n');
            out.push_str(&eps.to_string());
        }
        for s in &self.server_errors.samples {
            out.push_str(&format!("error sample: {s}\n"));
        }
        match self.ok {
            true => out.push_str("\nresult: PASS (nothing failed, lost, duplicated or out of order)\n"),
            false => out.push_str(&format!("\nresult: FAIL: {}\n", self.failures.join("; "))),
        }
        out
    }
}

/// The live line: `[  35.0s] step 2/30  users 300/300  sent 30.1/s  deliv 571/s  p99 12.3 ms  ...`.
pub fn progress_line(t_s: f64, step: usize, steps: usize, p: &Point, target: usize, run: &Tally) -> String {
    format!(
        "[{t_s:7.1}s] step {}/{steps}  users {}/{target}  sent {:.1}/s  deliv {:.0}/s  p50 {:.1} ms  p99 {:.1} ms  \
         conn fail {}  req fail {}  errors {}  dup {}  ooo {}  gen cpu {:.0}%",
        step + 1,
        p.users,
        p.sent_per_s,
        p.delivered_per_s,
        p.p50_ms,
        p.p99_ms,
        run.connections_failed,
        run.requests_failed(),
        run.server_errors,
        run.duplicated,
        run.out_of_order,
        p.generator_cpu_pct
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A passing report with nothing measured, as a run without --data-dir gives.
    fn report() -> Report {
        Report {
            ok: true,
            failures: Vec::new(),
            targets: vec!["127.0.0.1:5001".into()],
            profile: ProfileJson {
                start: 1,
                step: 1,
                every_s: 1.0,
                max: 1,
                hold_s: 1.0,
                max_duration_s: 60.0,
                room_size: 2,
                rate_per_user: 0.1,
                mark_read: true,
                truncated: false,
            },
            duration_s: 1.0,
            users_max: 1,
            connections: Connections::default(),
            requests: Requests::default(),
            messages: Messages::default(),
            latency_ms: LatencyMs::default(),
            first_room_latency_ms: LatencyMs::default(),
            ack_latency_ms: LatencyMs::default(),
            session_s: Sessions::default(),
            server_errors: ServerErrors::default(),
            generator: Generator::default(),
            nodes: Vec::new(),
            raft: None,
            steps: Vec::new(),
            timeline: Vec::new(),
            flood: None,
        }
    }

    fn view(term: u64, leader: Option<NodeId>) -> Option<RaftView> {
        Some(RaftView { term, leader })
    }

    /// The value column of the summary row named `name`.
    fn line(text: &str, name: &str) -> Option<String> {
        text.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string())
    }

    #[test]
    fn raft_lines_show_the_term_and_leader_around_the_run() {
        let mut r = report();
        r.raft = Some(RaftTerms::from_views(view(3, Some(1)), view(3, Some(1))));
        let text = r.render();
        assert_eq!(line(&text, "raft term before / after").as_deref(), Some("3 / 3"), "{text}");
        assert_eq!(line(&text, "leader before / after").as_deref(), Some("1 / 1"), "{text}");

        r.raft = Some(RaftTerms::from_views(view(3, Some(1)), view(5, None)));
        let text = r.render();
        assert_eq!(line(&text, "raft term before / after").as_deref(), Some("3 / 5 (changed)"), "{text}");
        assert_eq!(line(&text, "leader before / after").as_deref(), Some("1 / none (changed)"), "{text}");
    }

    #[test]
    fn an_unreadable_status_is_null_and_said_so() {
        let mut r = report();
        r.raft = Some(RaftTerms::from_views(view(4, Some(2)), None));
        let text = r.render();
        assert_eq!(line(&text, "raft term before / after").as_deref(), Some("4 / unreadable"), "{text}");
        assert_eq!(line(&text, "leader before / after").as_deref(), Some("2 / unreadable"), "{text}");
        assert!(r.ok && text.contains("result: PASS"), "an unreadable status never fails the run");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["raft"],
            serde_json::json!({"term_before": 4, "term_after": null, "leader_before": 2, "leader_after": null})
        );
    }

    #[test]
    fn without_a_cluster_directory_there_is_no_raft_record() {
        let r = report();
        let text = r.render();
        assert!(!text.contains("raft term") && !text.contains("leader before"), "{text}");
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("raft").is_none());
        assert!(json.get("timeline").is_some());
    }

    #[test]
    fn a_flooded_run_says_so_and_a_flood_that_sent_nothing_fails() {
        let mut r = report();
        r.messages.delivered = 1;
        assert!(verdict(&r).is_empty());
        assert!(serde_json::to_value(&r).unwrap().get("flood").is_none(), "no flood section without --flood");
        let mut flood = FloodReport {
            event: "chatMessage".into(),
            rate_per_s: 2000.0,
            attempted: 20_000,
            sent: 19_000,
            held_back: 1_000,
            flooding_s: 10.0,
            disconnects: 1,
            reconnects: 1,
            ..FloodReport::default()
        };
        flood.refusals.insert("RATE_LIMIT_EXCEEDED".into(), 18_000);
        r.flood = Some(flood.clone());
        assert!(verdict(&r).is_empty(), "refusals are what a flood is for, not a failure");
        let text = r.render();
        assert_eq!(line(&text, "flood event, rate").as_deref(), Some("chatMessage at 2000/s for 10.0 s"), "{text}");
        assert_eq!(line(&text, "flood attempted / sent / held back").as_deref(), Some("20000 / 19000 / 1000"));
        assert_eq!(line(&text, "flood refusals by code").as_deref(), Some("RATE_LIMIT_EXCEEDED 18000"));
        assert_eq!(line(&text, "flood disconnects / reconnects (failed)").as_deref(), Some("1 / 1 (0)"));
        assert!(line(&text, "delivery latency, first room p50 / p95 / p99 / max ms").is_some(), "{text}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["flood"]["refusals"]["RATE_LIMIT_EXCEEDED"], 18_000);
        assert_eq!(json["flood"]["sent"], 19_000);

        flood.sent = 0;
        flood.setup_error = Some("socket connect: refused".into());
        r.flood = Some(flood);
        let failures = verdict(&r);
        assert!(failures.len() == 1 && failures[0].contains("socket connect: refused"), "{failures:?}");
    }

    #[test]
    fn timeline_points_carry_node_rss() {
        let point = Point {
            t_s: 5.0,
            users: 10,
            sent_per_s: 1.0,
            delivered_per_s: 19.0,
            p50_ms: 2.0,
            p99_ms: 8.0,
            generator_cpu_pct: 3.0,
            node_rss_mb: vec![120.5, 98.0],
        };
        assert_eq!(serde_json::to_value(&point).unwrap()["node_rss_mb"], serde_json::json!([120.5, 98.0]));
    }
}
