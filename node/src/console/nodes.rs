//! `GET /console/nodes`: the public base URLs of the cluster's members, this node first.
//! The console's client switches to the next one when its node stops answering, so a
//! browser keeps its session and chat when the node that served the page dies
//! (the same addresses `chatctl status` shows; nothing secret).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::Node;

#[derive(Serialize)]
pub(super) struct NodeList {
    nodes: Vec<PublicNode>,
}

#[derive(Serialize)]
struct PublicNode {
    id: u64,
    url: String,
}

pub(super) async fn nodes(State(node): State<Arc<Node>>) -> Json<NodeList> {
    let own = node.cluster.id();
    let mut nodes: Vec<PublicNode> = node
        .cluster
        .members()
        .into_iter()
        .map(|(id, addr)| PublicNode { id, url: format!("http://{}", addr.public) })
        .collect();
    nodes.sort_by_key(|n| (n.id != own, n.id));
    Json(NodeList { nodes })
}
