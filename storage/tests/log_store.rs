//! Behaviour of [`SledLogStore`] beyond openraft's suite: what survives a restart, and
//! how truncate and purge move the log state.

use std::path::Path;

use anyhow::Result;
use chat_raft::command::Command;
use chat_raft::{NodeId, Proposal, Request, RequestId, TypeConfig};
use chat_storage::SledLogStore;
use openraft::storage::{LogState, RaftLogStorage, RaftLogStorageExt};
use openraft::testing::{blank_ent, log_id, membership_ent};
use openraft::{Entry, EntryPayload, LogId, RaftLogReader, Vote};

type Store = SledLogStore<TypeConfig>;

const LEADER: NodeId = 1;

fn lid(term: u64, index: u64) -> LogId<NodeId> {
    log_id(term, LEADER, index)
}

fn normal_ent(term: u64, index: u64) -> Entry<TypeConfig> {
    let cmd = Command::SetBanned { user_id: format!("user-{index}"), banned: true };
    Entry {
        log_id: lid(term, index),
        payload: EntryPayload::Normal(Proposal {
            // A fixed id, unlike `Request::new`, so building the same entry twice compares equal.
            requests: vec![Request { id: RequestId(format!("req-{index}")), cmd }],
        }),
    }
}

/// Entries `from..=to` of one term, mixing every payload kind so all of them round-trip.
fn entries(term: u64, from: u64, to: u64) -> Vec<Entry<TypeConfig>> {
    (from..=to)
        .map(|index| match index % 3 {
            0 => blank_ent::<TypeConfig>(term, LEADER, index),
            1 => membership_ent::<TypeConfig>(term, LEADER, index, vec![[1, 2, 3].into()]),
            _ => normal_ent(term, index),
        })
        .collect()
}

fn state(purged: Option<LogId<NodeId>>, last: Option<LogId<NodeId>>) -> LogState<TypeConfig> {
    LogState { last_purged_log_id: purged, last_log_id: last }
}

async fn all_entries(store: &mut Store) -> Result<Vec<Entry<TypeConfig>>> {
    Ok(store.try_get_log_entries(..).await?)
}

#[tokio::test]
async fn everything_survives_reopening_the_same_path() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("log");
    let written = entries(2, 1, 10);
    {
        let mut store = Store::open(&path)?;
        store.save_vote(&Vote::new_committed(2, LEADER)).await?;
        store.blocking_append(written.clone()).await?;
        store.purge(lid(2, 3)).await?;
        store.save_committed(Some(lid(2, 8))).await?;
    }

    let mut store = Store::open(&path)?;
    assert_eq!(store.read_vote().await?, Some(Vote::new_committed(2, LEADER)));
    assert_eq!(store.read_committed().await?, Some(lid(2, 8)));
    assert_eq!(store.get_log_state().await?, state(Some(lid(2, 3)), Some(lid(2, 10))));
    assert_eq!(all_entries(&mut store).await?, written[3..]);
    Ok(())
}

#[tokio::test]
async fn truncate_and_purge_keep_log_state_consistent() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path())?;
    assert_eq!(store.get_log_state().await?, state(None, None));

    store.blocking_append(entries(1, 1, 10)).await?;
    assert_eq!(store.get_log_state().await?, state(None, Some(lid(1, 10))));

    // A new leader overwrote index 7 onwards.
    store.truncate(lid(1, 7)).await?;
    assert_eq!(store.get_log_state().await?, state(None, Some(lid(1, 6))));
    store.blocking_append(entries(3, 7, 8)).await?;
    assert_eq!(store.get_log_state().await?, state(None, Some(lid(3, 8))));

    store.purge(lid(1, 4)).await?;
    assert_eq!(store.get_log_state().await?, state(Some(lid(1, 4)), Some(lid(3, 8))));
    let indexes: Vec<u64> = all_entries(&mut store).await?.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, [5, 6, 7, 8]);

    // Purging everything keeps the last log id: it is now the purged one.
    store.purge(lid(3, 8)).await?;
    assert_eq!(store.get_log_state().await?, state(Some(lid(3, 8)), Some(lid(3, 8))));
    assert!(all_entries(&mut store).await?.is_empty());

    // A snapshot installed past the end of the log purges beyond it.
    store.purge(lid(4, 20)).await?;
    assert_eq!(store.get_log_state().await?, state(Some(lid(4, 20)), Some(lid(4, 20))));
    store.blocking_append(entries(4, 21, 21)).await?;
    assert_eq!(store.get_log_state().await?, state(Some(lid(4, 20)), Some(lid(4, 21))));

    // Readers handed out earlier see the same log.
    let mut reader = store.get_log_reader().await;
    assert_eq!(reader.try_get_log_entries(21..22).await?, entries(4, 21, 21));
    Ok(())
}

#[tokio::test]
async fn an_interrupted_purge_is_finished_on_open() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = sled::open(dir.path())?;
    let mut store = Store::from_db(&db)?;
    store.blocking_append(entries(1, 1, 5)).await?;

    // What a crash between recording the purged id and deleting the entries leaves behind.
    let meta = db.open_tree("raft_meta")?;
    meta.insert("last_purged", serde_json::to_vec(&lid(1, 3))?)?;
    drop(store);

    let mut store = Store::from_db(&db)?;
    assert_eq!(store.get_log_state().await?, state(Some(lid(1, 3)), Some(lid(1, 5))));
    assert_eq!(all_entries(&mut store).await?, entries(1, 4, 5));
    Ok(())
}

#[tokio::test]
async fn stores_sharing_a_database_keep_to_their_trees() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = sled::open(dir.path())?;
    let other = db.open_tree("messages")?;
    other.insert(1u64.to_be_bytes(), "hello")?;

    let mut store = Store::from_db(&db)?;
    store.blocking_append(entries(1, 1, 3)).await?;
    store.truncate(lid(1, 1)).await?;

    assert_eq!(other.get(1u64.to_be_bytes())?.as_deref(), Some(&b"hello"[..]));
    assert_eq!(store.get_log_state().await?, state(None, None));
    Ok(())
}

#[test]
fn opening_a_path_that_is_a_file_fails() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x")?;
    assert!(Store::open(Path::new(&file)).is_err());
    Ok(())
}

#[tokio::test]
async fn a_long_purge_finishes_in_the_background_and_reads_skip_it_at_once() -> Result<()> {
    let db = sled::Config::new().temporary(true).open()?;
    let mut store = Store::from_db(&db)?;
    store.blocking_append(entries(1, 1, 5000)).await?;
    store.purge(lid(1, 4990)).await?;
    // Nothing at or below the purged index is read, even while sled still holds it.
    let reader_view: Vec<u64> = store.try_get_log_entries(..).await?.iter().map(|e| e.log_id.index).collect();
    assert_eq!(reader_view, (4991..=5000).collect::<Vec<_>>());
    assert_eq!(store.try_get_log_entries(10..20).await?, Vec::new());
    assert_eq!(store.get_log_state().await?, state(Some(lid(1, 4990)), Some(lid(1, 5000))));
    // The entries themselves leave sled soon after.
    let tree = db.open_tree("raft_log")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while tree.len() > 10 {
        assert!(std::time::Instant::now() < deadline, "{} entries left in sled", tree.len());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(tree.first()?.map(|(k, _)| k.to_vec()), Some(4991u64.to_be_bytes().to_vec()));
    Ok(())
}
