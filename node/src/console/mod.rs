//! The web console every node serves on its public listener: the chat client, the admin
//! page and the cluster dashboard, as plain HTML, CSS and ES modules embedded in the binary
//! at compile time (`assets.rs`), so running a node needs no front-end toolchain.
//!
//! | file | owns |
//! |---|---|
//! | `assets.rs` | the embedded files, their content types, the page routes that all answer the one HTML shell |
//! | `nodes.rs` | `GET /console/nodes`: the public addresses of the cluster's nodes, for the client's failover |
//!
//! Everything here lives outside `/api`, so the REST edge (token guard, CORS) leaves it
//! alone; the pages then talk to the documented REST and Socket.IO protocol like any
//! other client (protocol §3, §6).

mod assets;
mod nodes;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::Node;

/// The console's routes: the client-side pages, the assets under `/console/`, and the
/// node list.
pub(crate) fn router(node: Arc<Node>) -> Router {
    let mut router = Router::new();
    for page in assets::PAGES {
        router = router.route(page, get(assets::shell));
    }
    router.route("/console/nodes", get(nodes::nodes)).route("/console/{*name}", get(assets::asset)).with_state(node)
}
