//! A one-voter cluster over the embedded message store, for the storage tests that need
//! the whole write path (sled log, state machine, Raft) on one process.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use chat_raft::{Cluster, NodeAddr, RaftSettings, StateMachineStore, TypeConfig};
use chat_storage::{EmbeddedMessageStore, SledLogStore, SledMessages};

const SECRET: &str = "test-secret-123456";

fn addr() -> NodeAddr {
    NodeAddr { public: "127.0.0.1:1".into(), cluster: "127.0.0.1:1".into() }
}

/// Start node 1 on the stores under `dir` (`initialize` for a new cluster, not for a
/// restart); returns once the single voter leads and is fresh.
pub async fn start(dir: &Path, initialize: bool) -> Result<EmbeddedMessageStore> {
    let log_store = SledLogStore::<TypeConfig>::open(&dir.join("log"))?;
    let messages = SledMessages::open(&dir.join("messages"))?;
    let sm = StateMachineStore::open_with(&dir.join("sm"), Some(Arc::new(messages.clone())))?;
    let cluster = Cluster::start(1, addr(), SECRET, RaftSettings::default(), log_store, sm).await?;
    if initialize {
        cluster.initialize(BTreeMap::from([(1, addr())])).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cluster.is_fresh() {
        ensure!(Instant::now() < deadline, "the single voter did not become a fresh leader within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(EmbeddedMessageStore::new(cluster, messages))
}
