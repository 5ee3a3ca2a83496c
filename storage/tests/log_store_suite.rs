//! openraft's own storage conformance suite, run against [`SledLogStore`] paired with the
//! real chat state machine, each test on fresh directories.

use chat_raft::{NodeId, StateMachineStore, TypeConfig};
use chat_storage::SledLogStore;
use openraft::testing::{StoreBuilder, Suite};
use openraft::{StorageError, StorageIOError};
use tempfile::TempDir;

/// Builds both stores under one temporary directory; the `TempDir` guard is handed to the
/// suite so the directory outlives the test that uses it.
struct TempDirStores;

impl StoreBuilder<TypeConfig, SledLogStore<TypeConfig>, StateMachineStore, TempDir> for TempDirStores {
    async fn build(&self) -> Result<(TempDir, SledLogStore<TypeConfig>, StateMachineStore), StorageError<NodeId>> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let log = SledLogStore::open(&dir.path().join("log")).map_err(|e| StorageIOError::write_logs(&e))?;
        let sm =
            StateMachineStore::open(&dir.path().join("sm")).map_err(|e| StorageIOError::write_state_machine(&e))?;
        Ok((dir, log, sm))
    }
}

// A plain #[test]: the suite builds its own tokio runtime for every case and would panic
// if started inside another one.
#[test]
fn sled_log_store_passes_openraft_suite() -> anyhow::Result<()> {
    Suite::test_all(TempDirStores)?;
    Ok(())
}
