//! chat-node: one process of the chat cluster.
//!
//! [`run`] wires a node together: it binds the public listener (clients) and the
//! cluster listener (peers and operators), opens the sled Raft log and the state
//! machine in the data directory, starts the Raft member, serves until `shutdown`
//! resolves, then stops accepting, lets in-flight requests finish (bounded), and shuts
//! Raft down. `main.rs` only parses the configuration and calls it; tests start the
//! same binary.

mod cluster_api;
pub mod config;
mod error;
mod public;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chat_raft::{Cluster, NodeAddr, StateMachineStore, TypeConfig};
use chat_storage::SledLogStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{Config, Role};
pub use error::Error;

/// How long in-flight requests get to finish once shutdown starts.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// What every request handler of this node can reach.
pub(crate) struct Node {
    pub cluster: Cluster,
    pub config: Config,
}

/// Run a node until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir)?;
    let public = bind(config.public_addr).await?;
    let cluster_listener = bind(config.cluster_addr).await?;
    let addr = NodeAddr {
        public: config.advertised(public.local_addr()?),
        cluster: config.advertised(cluster_listener.local_addr()?),
    };
    write_listening(&config.data_dir, &addr)?;

    let log_store = SledLogStore::<TypeConfig>::open(&config.data_dir.join("raft-log"))
        .map_err(|e| Error::Storage(e.to_string()))?;
    let state_machine = StateMachineStore::open(&config.data_dir.join("state"))?;
    let cluster = Cluster::start(
        config.id,
        addr.clone(),
        &config.cluster_secret,
        config.raft_settings(),
        log_store,
        state_machine,
    )
    .await?;
    tracing::info!(node = config.id, role = ?config.role, public = %addr.public, cluster = %addr.cluster, "node started");

    let node = Arc::new(Node { cluster: cluster.clone(), config });
    let (stop_tx, stop_rx) = watch::channel(false);
    let servers = [
        tokio::spawn(serve(public, public::router(node.clone()), stop_rx.clone())),
        tokio::spawn(serve(cluster_listener, cluster_api::router(node.clone()), stop_rx)),
    ];

    shutdown.await;
    tracing::info!(node = node.config.id, "shutting down");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_DEADLINE, futures::future::join_all(servers)).await;
    if drained.is_err() {
        tracing::warn!("in-flight requests did not finish within {DRAIN_DEADLINE:?}");
    }
    cluster.shutdown().await;
    tracing::info!(node = node.config.id, "stopped");
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })
}

async fn serve(listener: TcpListener, router: axum::Router, mut stop: watch::Receiver<bool>) {
    let result = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "listener failed");
    }
}

/// Record the bound addresses (a port of 0 means "pick one"), for operators and tests.
fn write_listening(dir: &Path, addr: &NodeAddr) -> Result<(), Error> {
    let body = serde_json::json!({ "public": addr.public, "cluster": addr.cluster });
    let tmp = dir.join("listening.json.tmp");
    std::fs::write(&tmp, body.to_string())?;
    std::fs::rename(tmp, dir.join("listening.json"))?;
    Ok(())
}
