//! `POST /cluster/fanout`: events other nodes send to this node's sockets, delivered
//! in the order received. Decoding and delivery are socket work: they run on the
//! client runtime, and the answer waits for them, so a peer's next batch (its queue
//! sends one at a time) cannot overtake this one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chat_raft::api::AdminOk;

use crate::fanout::{self, Envelope};
use crate::Node;

pub(super) async fn receive(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let clients = node.clients.clone();
    let delivered = clients.spawn(async move {
        let batch: Vec<Envelope> = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        fanout::receive(node, batch).await;
        Ok::<(), String>(())
    });
    match delivered.await {
        Ok(Ok(())) => Json(AdminOk { ok: true, message: None }).into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, Json(AdminOk { ok: false, message: Some(e) })).into_response(),
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(AdminOk { ok: false, message: Some(e.to_string()) })).into_response()
        }
    }
}
