//! In-node commit benchmark: `proposers` concurrent writers commit small control
//! writes through the normal write path (batching, forwarding, waiting for every
//! live node to apply) for a fixed time, and report throughput and latency.
//! Running inside the node keeps HTTP client overhead out of the measurement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::Json;
use chat_raft::api::{BenchReport, BenchRequest};
use chat_raft::command::SessionTouch;
use chat_raft::{Command, Error};

use super::error::ApiError;
use crate::Node;

const MAX_PROPOSERS: usize = 10_000;
const MAX_DURATION_MS: u64 = 300_000;

pub(super) async fn bench(
    State(node): State<Arc<Node>>,
    Json(req): Json<BenchRequest>,
) -> Result<Json<BenchReport>, ApiError> {
    if req.proposers == 0 || req.proposers > MAX_PROPOSERS {
        return Err(Error::Invalid(format!("proposers must be 1..={MAX_PROPOSERS}")).into());
    }
    if req.duration_ms == 0 || req.duration_ms > MAX_DURATION_MS {
        return Err(Error::Invalid(format!("duration_ms must be 1..={MAX_DURATION_MS}")).into());
    }
    let start = Instant::now();
    let deadline = start + Duration::from_millis(req.duration_ms);
    let writers: Vec<_> = (0..req.proposers)
        .map(|n| {
            let cluster = node.cluster.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0u64;
                while Instant::now() < deadline {
                    // A touch of a session that does not exist: a real control write
                    // (replicated, applied, deduplicated) that changes no state.
                    let touch = SessionTouch { user_id: format!("bench-{n}"), session_id: String::new(), at: 0 };
                    let began = Instant::now();
                    match cluster.propose(Command::TouchSessions { touches: vec![touch] }).await {
                        Ok(_) => latencies.push(began.elapsed().as_secs_f64() * 1000.0),
                        Err(_) => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for writer in writers {
        let (l, f) = writer.await.map_err(|e| Error::Raft(e.to_string()))?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = start.elapsed();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    Ok(Json(BenchReport {
        commits: latencies.len() as u64,
        failures,
        elapsed_ms: elapsed.as_millis() as u64,
        commits_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(50.0),
        p99_ms: pct(99.0),
        max_ms: latencies.last().copied().unwrap_or(0.0),
    }))
}
