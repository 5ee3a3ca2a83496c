//! The public listener: what clients reach through the load balancer.

mod health;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::Node;

pub(crate) fn router(node: Arc<Node>) -> Router {
    Router::new().route("/api/health", get(health::health)).with_state(node)
}
