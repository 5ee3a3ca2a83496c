//! The public listener: what clients reach through the load balancer. `/api/health`
//! lives here; the rest of `/api` is the REST API (`rest`), Socket.IO is served at
//! `/socket.io/`, and the web console (`console`) at `/` and its page routes. The REST edge (CORS, token guard) wraps all of it, because a stale
//! token must get 401 on `/api/health` too and polling clients need CORS as well.
//! Fault injection can cut the listeners off from every client (`refuse_when_cut_off`);
//! a draining node refuses new Socket.IO connections (`refuse_sockets_while_draining`).
//! `headers` puts the browser-side defences on every answer of both listeners.
//! `/metrics` is served here only with `--public-metrics`; its home is the cluster
//! listener, behind the cluster secret (it tells anyone how busy and how large the
//! service is).

mod headers;
mod health;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use socketioxide::layer::SocketIoLayer;

use crate::{rest, Node};

pub(crate) fn router(node: Arc<Node>, socket_io: SocketIoLayer) -> Router {
    let mut api = Router::new().route("/api/health", get(health::health));
    if node.config.public_metrics {
        api = api.route("/metrics", get(crate::metrics::metrics));
    }
    let api = api
        .with_state(node.clone())
        .merge(rest::router(node.clone()))
        .merge(crate::console::router(node.clone()))
        .layer(socket_io)
        .layer(middleware::from_fn_with_state(node.clone(), refuse_sockets_while_draining));
    rest::edge(api, node.clone())
        .layer(middleware::from_fn_with_state(node, refuse_when_cut_off))
        .layer(middleware::from_fn(headers::protect))
}

/// The optional second listener (protocol §1.1, default port 5002): Socket.IO and
/// `/api/health` (so a load balancer can health-check it); anything else is 400.
pub(crate) fn socket_router(node: Arc<Node>, socket_io: SocketIoLayer) -> Router {
    let routes = Router::new()
        .route("/api/health", get(health::health))
        .fallback(|| async { StatusCode::BAD_REQUEST })
        .with_state(node.clone())
        .layer(socket_io)
        .layer(middleware::from_fn_with_state(node.clone(), refuse_sockets_while_draining));
    rest::cors_only(routes, &node)
        .layer(middleware::from_fn_with_state(node, refuse_when_cut_off))
        .layer(middleware::from_fn(headers::protect))
}

/// Fault injection (`/admin/fault` with `clients: true`, cluster secret only): while
/// the node is cut off from its clients, every request, Socket.IO handshakes included,
/// gets 503, as if the network in front of the node dropped them.
async fn refuse_when_cut_off(State(node): State<Arc<Node>>, req: Request, next: Next) -> Response {
    if node.cluster.contact().clients_blocked() {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({ "status": "unavailable" })))
            .into_response();
    }
    next.run(req).await
}

/// A draining node (`crate::drain`) takes no new Socket.IO connection: the handshake gets
/// 503, so the client tries another node. Sockets already open are not requests here.
async fn refuse_sockets_while_draining(State(node): State<Arc<Node>>, req: Request, next: Next) -> Response {
    if node.drain.is_draining() && req.uri().path().starts_with("/socket.io") {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({ "status": "draining" })))
            .into_response();
    }
    next.run(req).await
}
