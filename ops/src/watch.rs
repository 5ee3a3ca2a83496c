//! `chatctl status --watch`: the cluster's health signals, refreshed until Ctrl-C.
//!
//! Every interval it asks every node for its status (`/cluster/status`) and its
//! Prometheus metrics (`/metrics` on its cluster listener, with the cluster secret),
//! and prints one block: the
//! leader and term, one line per node (state, ready, fresh, applied index) and, over
//! the last interval, messages stored and refused, the refusal rate and the p99 of
//! the message store's append (the latency a sender waits for its acknowledgement).
//! Lines starting with `ALERT` are the conditions the AWS alarms watch: no leader, a
//! node not ready, append p99 above `--p99-alert`, refusals above `--error-alert`.

use std::collections::BTreeMap;
use std::time::Duration;

use chat_raft::api::NodeStatus;
use chat_raft::client::ClusterClient;
use chat_raft::NodeId;

use crate::status;
use crate::target::Target;
use crate::Error;

/// Thresholds of the alert lines.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub p99: Duration,
    /// Refused / (stored + refused) messages over one interval.
    pub error_rate: f64,
}

/// The counters of one node's `/metrics` that the watch uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub accepted: f64,
    pub rejected: f64,
    /// `chat_store_append_seconds` buckets: (upper bound in seconds, cumulative count).
    pub append_buckets: Vec<(f64, f64)>,
}

impl Counters {
    /// Pick the counters out of Prometheus text.
    pub fn parse(text: &str) -> Counters {
        let mut counters = Counters::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            if name == "chat_messages_accepted_total" {
                counters.accepted = value;
            } else if name.starts_with("chat_messages_rejected_total") {
                counters.rejected += value;
            } else if let Some(le) = name.strip_prefix("chat_store_append_seconds_bucket{le=\"") {
                let bound = le.trim_end_matches("\"}");
                let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().unwrap_or(f64::INFINITY) };
                counters.append_buckets.push((bound, value));
            }
        }
        counters
    }

    /// What happened between `before` and `self`, summed over nodes by the caller.
    fn since(&self, before: Option<&Counters>) -> Counters {
        let Some(before) = before else { return Counters::default() };
        let buckets = self
            .append_buckets
            .iter()
            .map(|(bound, count)| {
                let earlier = before.append_buckets.iter().find(|(b, _)| b == bound).map_or(0.0, |(_, c)| *c);
                (*bound, (count - earlier).max(0.0))
            })
            .collect();
        Counters {
            accepted: (self.accepted - before.accepted).max(0.0),
            rejected: (self.rejected - before.rejected).max(0.0),
            append_buckets: buckets,
        }
    }

    fn add(&mut self, other: &Counters) {
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        for (bound, count) in &other.append_buckets {
            match self.append_buckets.iter_mut().find(|(b, _)| b == bound) {
                Some((_, c)) => *c += count,
                None => self.append_buckets.push((*bound, *count)),
            }
        }
        self.append_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    /// The upper bound of the bucket holding the 99th percentile (`None`: no samples).
    pub fn append_p99(&self) -> Option<Duration> {
        let total = self.append_buckets.iter().map(|(_, c)| *c).fold(0.0, f64::max);
        if total <= 0.0 {
            return None;
        }
        let bound = self.append_buckets.iter().find(|(_, c)| *c >= total * 0.99).map(|(b, _)| *b)?;
        Some(if bound.is_finite() { Duration::from_secs_f64(bound) } else { Duration::MAX })
    }

    pub fn error_rate(&self) -> Option<f64> {
        let all = self.accepted + self.rejected;
        (all > 0.0).then(|| self.rejected / all)
    }
}

/// The alert lines for one sample.
pub fn alerts(nodes: &[(NodeId, Option<NodeStatus>)], window: &Counters, limits: Thresholds) -> Vec<String> {
    let mut alerts = Vec::new();
    let leader = nodes.iter().filter_map(|(_, s)| s.as_ref()).any(|s| s.leader == Some(s.id));
    if !leader {
        alerts.push("ALERT no leader".to_owned());
    }
    for (id, status) in nodes {
        match status {
            None => alerts.push(format!("ALERT node {id} not ready: unreachable")),
            Some(s) if !s.ready => alerts.push(format!("ALERT node {id} not ready")),
            Some(_) => {}
        }
    }
    if let Some(p99) = window.append_p99().filter(|p| *p > limits.p99) {
        let shown = if p99 == Duration::MAX { "over the largest bucket".to_owned() } else { format!("{p99:?}") };
        alerts.push(format!("ALERT message append p99 {shown} above {:?}", limits.p99));
    }
    if let Some(rate) = window.error_rate().filter(|r| *r > limits.error_rate) {
        alerts.push(format!(
            "ALERT {:.1}% of messages refused (limit {:.1}%)",
            rate * 100.0,
            limits.error_rate * 100.0
        ));
    }
    alerts
}

/// Print a block every `every` until `shutdown` (the caller's Ctrl-C).
pub async fn run(target: &Target, every: Duration, limits: Thresholds) -> Result<(), Error> {
    if every.is_zero() {
        return Err(Error::Usage("--interval must be longer than 0".into()));
    }
    let mut previous: BTreeMap<NodeId, Counters> = BTreeMap::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let (client, probes, merged) = match status::gather(target).await {
            Ok(gathered) => gathered,
            // A watch keeps watching: the cluster may come back.
            Err(e) => {
                println!("--- {}\nALERT no leader: {e}", clock());
                continue;
            }
        };
        let mut window = Counters::default();
        let mut nodes = Vec::new();
        let mut lines = Vec::new();
        for probe in &probes {
            let Some(id) = probe.id() else { continue };
            let cluster = probe.status.as_ref().map_or(probe.seed.cluster.as_str(), |s| s.cluster.as_str());
            if let Some(counters) = scrape(&client, cluster).await {
                window.add(&counters.since(previous.get(&id)));
                previous.insert(id, counters);
            }
            lines.push(node_line(id, probe.status.as_ref()));
            nodes.push((id, probe.status.clone()));
        }
        let leader = merged.leader.map_or_else(|| "none".to_owned(), |id| id.to_string());
        println!("--- {} leader: {leader}  term: {}", clock(), merged.term);
        for line in lines {
            println!("{line}");
        }
        let p99 = window.append_p99().map_or_else(|| "-".to_owned(), |p| format!("{} ms", p.as_millis()));
        let rate = window.error_rate().map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0));
        println!("messages: {} stored, {} refused ({rate}); append p99 {p99}", window.accepted, window.rejected);
        for alert in alerts(&nodes, &window, limits) {
            println!("{alert}");
        }
    }
}

fn node_line(id: NodeId, status: Option<&NodeStatus>) -> String {
    match status {
        Some(s) => {
            format!("node {id}: {:?}, ready {}, fresh {}, applied {}", s.state, s.ready, s.fresh, s.last_applied)
                .to_lowercase()
        }
        None => format!("node {id}: unreachable"),
    }
}

async fn scrape(client: &ClusterClient, cluster: &str) -> Option<Counters> {
    let text = client.metrics(cluster, status::PROBE_TIMEOUT).await.ok()?;
    Some(Counters::parse(&text))
}

/// Seconds since the epoch as `HH:MM:SS` UTC (no time-zone database needed).
fn clock() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}:{:02} UTC", secs / 3600 % 24, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# HELP chat_messages_accepted_total Chat messages stored.
chat_messages_accepted_total 90
chat_messages_rejected_total{reason=\"banned\"} 4
chat_messages_rejected_total{reason=\"rate\"} 6
chat_store_append_seconds_bucket{le=\"0.005\"} 50
chat_store_append_seconds_bucket{le=\"0.05\"} 89
chat_store_append_seconds_bucket{le=\"0.5\"} 90
chat_store_append_seconds_bucket{le=\"+Inf\"} 90
";

    fn limits() -> Thresholds {
        Thresholds { p99: Duration::from_millis(100), error_rate: 0.05 }
    }

    #[test]
    fn counters_come_from_prometheus_text() {
        let c = Counters::parse(METRICS);
        assert_eq!((c.accepted, c.rejected), (90.0, 10.0));
        assert_eq!(c.append_buckets.len(), 4);
        assert_eq!(c.append_p99(), Some(Duration::from_millis(500)));
        assert_eq!(c.error_rate(), Some(0.1));
    }

    #[test]
    fn a_window_is_the_difference_between_two_samples() {
        let before = Counters::parse(METRICS);
        let after = Counters::parse(&METRICS.replace(" 90\n", " 190\n").replace("} 89", "} 189"));
        let window = after.since(Some(&before));
        assert_eq!((window.accepted, window.rejected), (100.0, 0.0));
        // The 100 new appends all fell at or below 50 ms.
        assert_eq!(window.append_p99(), Some(Duration::from_millis(50)));
        assert_eq!(window.error_rate(), Some(0.0));
        // The first sample has no window yet.
        assert_eq!(after.since(None), Counters::default());
    }

    fn status(id: NodeId, leader: Option<NodeId>, ready: bool) -> NodeStatus {
        serde_json::from_value(serde_json::json!({
            "id": id, "role": "voter", "state": if leader == Some(id) { "leader" } else { "follower" },
            "leader": leader, "term": 3, "last_log_index": 9, "last_applied": 9, "snapshot_index": 0,
            "purged_index": 0, "fresh": ready, "ready": ready, "public": "p", "cluster": "c", "members": []
        }))
        .expect("a status")
    }

    #[test]
    fn alerts_name_no_leader_unready_nodes_slow_appends_and_refusals() {
        let healthy = vec![(1, Some(status(1, Some(1), true))), (2, Some(status(2, Some(1), true)))];
        assert!(alerts(&healthy, &Counters::default(), limits()).is_empty());

        let broken = vec![(1, None), (2, Some(status(2, None, false)))];
        let window = Counters::parse(METRICS);
        let found = alerts(&broken, &window, limits());
        assert_eq!(
            found,
            vec![
                "ALERT no leader",
                "ALERT node 1 not ready: unreachable",
                "ALERT node 2 not ready",
                "ALERT message append p99 500ms above 100ms",
                "ALERT 10.0% of messages refused (limit 5.0%)",
            ]
        );
    }
}
