//! The public listener: what clients reach through the load balancer. `/api/health`
//! lives here; the rest of `/api` is the REST API (`rest`), and Socket.IO is served at
//! `/socket.io/`. The REST edge (CORS, token guard) wraps all of it, because a stale
//! token must get 401 on `/api/health` too and polling clients need CORS as well.

mod health;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use socketioxide::layer::SocketIoLayer;

use crate::{rest, Node};

pub(crate) fn router(node: Arc<Node>, socket_io: SocketIoLayer) -> Router {
    let api = Router::new()
        .route("/api/health", get(health::health))
        .route("/metrics", get(crate::metrics::metrics))
        .with_state(node.clone())
        .merge(rest::router(node.clone()))
        .layer(socket_io);
    rest::edge(api, node)
}

/// The optional second listener (PROTOCOL 1.1, default port 5002): Socket.IO and
/// `/api/health` (so a load balancer can health-check it); anything else is 400.
pub(crate) fn socket_router(node: Arc<Node>, socket_io: SocketIoLayer) -> Router {
    let routes = Router::new()
        .route("/api/health", get(health::health))
        .fallback(|| async { StatusCode::BAD_REQUEST })
        .with_state(node)
        .layer(socket_io);
    rest::cors_only(routes)
}
