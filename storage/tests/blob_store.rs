//! The [`BlobStore`] conformance suite against [`DirBlobStore`] on a temporary
//! directory and against [`EmbeddedBlobStore`] on a real single-voter cluster (with no
//! peer, one copy is all there can be; copies between nodes need the cluster listener
//! and are tested over real processes in `tests/tests/files.rs`), and what a directory
//! store must never do with a name: leave its root.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use chat_raft::{Cluster, NodeAddr, RaftSettings, StateMachineStore, TypeConfig};
use chat_storage::blobs::conformance;
use chat_storage::{BlobName, BlobStore, DirBlobStore, EmbeddedBlobStore, SledLogStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dir_store_passes_the_conformance_suite() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = DirBlobStore::open(&dir.path().join("blobs"))?;
    conformance::run_all(&store).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_passes_the_conformance_suite() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let addr = NodeAddr { public: "127.0.0.1:1".into(), cluster: "127.0.0.1:1".into() };
    let log_store = SledLogStore::<TypeConfig>::open(&dir.path().join("log"))?;
    let sm = StateMachineStore::open_with(&dir.path().join("sm"), None)?;
    let secret = "test-secret-123456";
    let cluster = Cluster::start(1, addr.clone(), secret, RaftSettings::default(), log_store, sm).await?;
    cluster.initialize(BTreeMap::from([(1, addr)])).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cluster.is_fresh() {
        ensure!(Instant::now() < deadline, "the single voter did not become a fresh leader within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let local = DirBlobStore::open(&dir.path().join("blobs"))?;
    let store = EmbeddedBlobStore::new(local, cluster.clone(), secret);
    conformance::run_all(&store).await?;
    let placed = store.put(&conformance::fresh_name("png"), conformance::pattern(10, 1)).await?;
    assert_eq!(placed.holders, vec![1], "a lone node holds the only copy");
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn blobs_stay_under_the_root_and_leave_no_temporary_files() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("blobs");
    let store = DirBlobStore::open(&root)?;
    let name = conformance::fresh_name("png");
    store.put(&name, conformance::pattern(1000, 9)).await?;
    let profile = BlobName::parse(&format!("profiles/{}", conformance::fresh_name("jpg")))?;
    store.put(&profile, conformance::pattern(10, 1)).await?;
    let mut files: Vec<String> = walk(&root)?;
    files.sort();
    let mut want = vec![name.to_string(), profile.to_string()];
    want.sort();
    assert_eq!(files, want);
    // Reopening keeps what was stored.
    let again = DirBlobStore::open(&root)?;
    assert!(again.exists(&name).await?);
    Ok(())
}

/// An upload streamed to a staged file: dropped (refused, aborted) it leaves nothing;
/// given to `put_staged` it is the blob, and no staged file remains; one left by a
/// crash is removed when the store opens again.
#[tokio::test]
async fn staged_blobs_leave_nothing_behind() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("blobs");
    let store = DirBlobStore::open(&root)?;
    let mut refused = store.stage().await?;
    refused.write(&conformance::pattern(1000, 3)).await?;
    let files = walk(&root)?;
    assert!(files.len() == 1 && files[0].starts_with(".tmp-"), "{files:?}");
    drop(refused);
    assert_eq!(walk(&root)?, Vec::<String>::new());

    let name = conformance::fresh_name("png");
    let bytes = conformance::pattern(300_000, 5);
    let mut staged = store.stage().await?;
    for chunk in bytes.chunks(64 * 1024) {
        staged.write(chunk).await?;
    }
    assert_eq!(staged.size(), 300_000);
    store.put_staged(&name, staged).await?;
    assert_eq!(walk(&root)?, vec![name.to_string()]);
    let blob = store.get(&name).await?.expect("stored");
    assert!(chat_storage::blobs::read_all(blob).await? == bytes);

    std::fs::write(root.join(".tmp-0123456789abcdef"), b"left by a crash")?;
    std::fs::write(root.join("profiles/.tmp-0123456789abcdef"), b"left by an older build")?;
    DirBlobStore::open(&root)?;
    assert_eq!(walk(&root)?, vec![name.to_string()]);
    Ok(())
}

fn walk(root: &std::path::Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            out.extend(walk(&entry.path())?.into_iter().map(|n| format!("{name}/{n}")));
        } else {
            out.push(name);
        }
    }
    Ok(out)
}
