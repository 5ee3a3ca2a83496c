//! `chatctl raft-bench`: run the node's built-in Raft benchmark on the leader
//! (`/admin/bench`: concurrent proposers inside the node, so the figures measure
//! Raft and storage, not chatctl's HTTP round trips).

use std::time::Duration;

use chat_raft::api::{BenchReport, BenchRequest};
use chat_raft::NodeId;
use serde::Serialize;

use crate::status;
use crate::table::Table;
use crate::target::Target;
use crate::Error;

/// Concurrent proposers when `--proposers` is not given.
pub const DEFAULT_PROPOSERS: usize = 256;
/// Benchmark length when `--duration` is not given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// A benchmark run: where and how it ran, and the leader's report.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub leader: NodeId,
    pub leader_addr: String,
    pub proposers: usize,
    pub duration_ms: u64,
    #[serde(flatten)]
    pub report: BenchReport,
}

impl BenchResult {
    pub fn render(&self) -> String {
        let r = &self.report;
        let mut table = Table::new(&["commits/s", "p50 ms", "p99 ms", "max ms", "commits", "failures", "elapsed ms"]);
        table.row(vec![
            format!("{:.0}", r.commits_per_sec),
            format!("{:.2}", r.p50_ms),
            format!("{:.2}", r.p99_ms),
            format!("{:.2}", r.max_ms),
            r.commits.to_string(),
            r.failures.to_string(),
            r.elapsed_ms.to_string(),
        ]);
        format!(
            "raft-bench on leader {} ({}), {} proposers for {}\n{table}",
            self.leader,
            self.leader_addr,
            self.proposers,
            crate::duration::format(Duration::from_millis(self.duration_ms))
        )
    }
}

/// Find the leader and run the benchmark there.
pub async fn run(target: &Target, proposers: usize, duration: Duration) -> Result<BenchResult, Error> {
    if proposers == 0 {
        return Err(Error::Usage("--proposers must be at least 1".into()));
    }
    let (client, _, merged) = status::gather(target).await?;
    let leader = merged.leader_node().ok_or(Error::NoLeader)?;
    let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(leader = leader.id, proposers, duration_ms, "running raft-bench");
    let report = client
        .bench(&leader.cluster, BenchRequest { proposers, duration_ms })
        .await
        .map_err(Error::api(format!("{} ({})", leader.id, leader.cluster)))?;
    Ok(BenchResult { leader: leader.id, leader_addr: leader.cluster.clone(), proposers, duration_ms, report })
}
