//! The cluster listener: Raft RPCs, writes forwarded to the leader, and the
//! admin/status API used by operators (`chatctl`) and tests. Never routed by the load
//! balancer; every request must carry the cluster secret (401 otherwise).
//!
//! - `raft_rpc`: AppendEntries, Vote, InstallSnapshot.
//! - `replication`: forwarded writes and the applied-index long poll.
//! - `fanout`: socket events from other nodes, for this node's sockets.
//! - `blobs`: copies of uploaded files, stored and served for peers.
//! - `admin`: status, bootstrap, membership, state reads, fault injection, snapshots.
//! - `backup`: the leader streams a backup of the cluster (`chatctl backup`).
//! - `handover`: planned leadership transfer (`transfer-leader`, `campaign`).
//! - `drain`: draining this node of its client sockets (`crate::drain`).
//! - `bench`: in-node proposers that measure commit throughput and latency.
//! - `/metrics`: the Prometheus text (`crate::metrics`), for scrapers, `chatctl status
//!   --watch` and the console's cluster view; the public listener serves it only with
//!   `--public-metrics`.
//! - `error`: the one mapping from `chat_raft::Error` to HTTP status codes.

mod admin;
mod backup;
mod bench;
mod blobs;
mod drain;
mod error;
mod fanout;
pub(crate) mod handover;
mod raft_rpc;
mod replication;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chat_raft::api::SECRET_HEADER;

use crate::Node;

/// Raft snapshot chunks and large append batches travel as JSON.
const MAX_BODY: usize = 64 * 1024 * 1024;

pub(crate) fn router(node: Arc<Node>) -> Router {
    let peer_traffic = Router::new()
        .route("/raft/append", post(raft_rpc::append))
        .route("/raft/vote", post(raft_rpc::vote))
        .route("/raft/snapshot", post(raft_rpc::snapshot))
        .route("/cluster/write", post(replication::write))
        .route("/cluster/applied", get(replication::applied))
        .route("/cluster/fanout", post(fanout::receive))
        .route("/cluster/blobs/{*name}", get(blobs::get).put(blobs::put).delete(blobs::delete))
        .layer(middleware::from_fn_with_state(node.clone(), refuse_when_isolated));
    Router::new()
        .merge(peer_traffic)
        .route("/cluster/status", get(admin::status))
        .route("/admin/init", post(admin::init))
        .route("/admin/add-learner", post(admin::add_learner))
        .route("/admin/promote", post(admin::promote))
        .route("/admin/remove", post(admin::remove))
        .route("/admin/propose", post(admin::propose))
        .route("/admin/state", get(admin::state))
        .route("/admin/fault", post(admin::fault))
        .route("/admin/snapshot", post(admin::snapshot))
        .route("/admin/backup", get(backup::backup))
        .route("/admin/transfer-leader", post(handover::transfer))
        .route("/admin/campaign", post(handover::campaign))
        .route("/admin/drain", post(drain::drain))
        .route("/admin/bench", post(bench::bench))
        .route("/metrics", get(crate::metrics::metrics))
        .layer(middleware::from_fn_with_state(node.clone(), require_secret))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(node)
}

async fn require_secret(State(node): State<Arc<Node>>, req: Request, next: Next) -> Response {
    let given = req.headers().get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    if !constant_time_eq(given, node.config.cluster_secret.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({ "error": "missing or wrong cluster secret" })),
        )
            .into_response();
    }
    next.run(req).await
}

/// Fault injection: an isolated node neither accepts nor sends peer traffic.
async fn refuse_when_isolated(State(node): State<Arc<Node>>, req: Request, next: Next) -> Response {
    if node.cluster.contact().is_isolated() {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({ "error": "isolated" })))
            .into_response();
    }
    next.run(req).await
}

/// Compare secrets without an early exit that would leak the matching prefix length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn secrets_compare_exactly() {
        assert!(constant_time_eq(b"secret-value", b"secret-value"));
        assert!(!constant_time_eq(b"secret-value", b"secret-valuf"));
        assert!(!constant_time_eq(b"secret", b"secret-value"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
