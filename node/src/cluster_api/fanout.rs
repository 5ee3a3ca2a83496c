//! `POST /cluster/fanout`: events other nodes send to this node's sockets, delivered
//! in the order received.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chat_raft::api::AdminOk;

use crate::fanout::{self, Envelope};
use crate::Node;

pub(super) async fn receive(State(node): State<Arc<Node>>, Json(batch): Json<Vec<Envelope>>) -> Json<AdminOk> {
    fanout::receive(node, batch).await;
    Json(AdminOk { ok: true, message: None })
}
