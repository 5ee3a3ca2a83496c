//! `GET /api/health`: 200 while this node can serve clients, 503 while it is cut off
//! from the leader or lagging for longer than the health grace (protocol §9). A normal
//! sub-second election stays within the grace, so the load balancer keeps the node.
//! A node configured with MongoDB is also 503 (`reason: "mongodb"`) while MongoDB does
//! not answer (`stores.rs`): it would fail every message and file request. A node being
//! drained (`crate::drain`) is 503 with `reason: "draining"`, so a balancer stops sending
//! it clients.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{SecondsFormat, Utc};

use crate::Node;

pub(crate) async fn health(State(node): State<Arc<Node>>) -> impl IntoResponse {
    let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    if !node.cluster.is_ready(node.config.health_grace()) {
        let body = serde_json::json!({ "status": "unavailable", "timestamp": timestamp, "env": null });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    if node.drain.is_draining() {
        let body =
            serde_json::json!({ "status": "unavailable", "reason": "draining", "timestamp": timestamp, "env": null });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    if node.mongo.as_ref().is_some_and(|mongo| !mongo.is_ready()) {
        let body =
            serde_json::json!({ "status": "unavailable", "reason": "mongodb", "timestamp": timestamp, "env": null });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    (StatusCode::OK, Json(serde_json::json!({ "status": "ok", "timestamp": timestamp, "env": null })))
}
