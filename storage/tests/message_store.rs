//! The message store end to end: the conformance suite against [`EmbeddedMessageStore`]
//! on a real single-node cluster (sled log, state machine, Raft), a restart that
//! replays the log over a store that is ahead of it, and the applier's snapshot path
//! (export/import directly, and through `StateMachineStore` snapshots).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use chat_raft::messages::{MessageApplier, MessageCommand, ReadMark, StoredMessage};
use chat_raft::{Command, Outcome, Proposal, Request, StateMachineStore, TypeConfig};
use chat_storage::messages::conformance::{self, random_id, text};
use chat_storage::{EmbeddedMessageStore, MessageStore, SledMessages};
use openraft::storage::RaftStateMachine;
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload, RaftSnapshotBuilder};

mod single_node;

/// Every message of `rooms`, in seq order.
fn dump(messages: &SledMessages, rooms: &[String]) -> Result<Vec<StoredMessage>> {
    let mut all = Vec::new();
    for room in rooms {
        all.extend(messages.after_seq(room, 0, 100)?);
    }
    Ok(all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_passes_the_conformance_suite() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = single_node::start(dir.path(), true).await?;
    let shared: Arc<dyn MessageStore> = Arc::new(store.clone());
    conformance::run_all(shared.as_ref()).await?;
    store.data().flush()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_replays_its_log_without_changing_messages() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let rooms = vec![random_id(), random_id()];
    let (before, applied) = {
        let store = single_node::start(dir.path(), true).await?;
        for (i, room) in rooms.iter().cycle().take(12).enumerate() {
            let stored = store.append(text(room, 1_000, &format!("m{i}"))).await?;
            let id = stored.id;
            store.react(&id, "👍", "u1", true).await?;
            let mark = ReadMark { room: room.clone(), user_id: "u2".into(), seq: stored.seq, at: 2_000 + i as u64 };
            store.mark_read(&[mark], &[]).await?;
            store.react(&id, "👍", "u1", i % 3 != 0).await?;
        }
        let before = dump(store.data(), &rooms)?;
        store.data().flush()?;
        store.cluster().shutdown().await;
        (before, store.cluster().state_machine().applied_index())
    };
    // The state machine has no snapshot, so the restarted node applies the whole log
    // again to a message store that already holds all of it.
    let store = reopen(dir.path()).await?;
    let replayed = store.cluster().wait_applied(applied, Duration::from_secs(5)).await;
    ensure!(replayed >= applied, "the log was replayed up to {replayed} of {applied}");
    assert_eq!(dump(store.data(), &rooms)?, before);
    let next = store.append(text(&rooms[0], 0, "after the restart")).await?;
    assert_eq!((next.seq, next.timestamp), (7, 1_006));
    Ok(())
}

/// sled releases its lock only when the last handle of the old run is dropped, which
/// Raft's shutdown does from its own tasks: retry the open for a bounded time.
async fn reopen(dir: &Path) -> Result<EmbeddedMessageStore> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match single_node::start(dir, false).await {
            Ok(store) => return Ok(store),
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => return Err(e).context("reopening the node's stores"),
        }
    }
}

/// Commands touching two rooms: appends, reads, reactions and deletions.
fn commands(rooms: &[String]) -> Vec<MessageCommand> {
    let mut commands = Vec::new();
    for i in 0..40u64 {
        let mut message = text(&rooms[(i % 2) as usize], 1_000 + i / 3, &format!("m{i}"));
        message.id = format!("{i:024x}");
        commands.push(MessageCommand::Append { message: Box::new(message) });
        if i % 4 == 0 {
            let (message_id, user_id) = (format!("{:024x}", i / 2), format!("u{i}"));
            commands.push(MessageCommand::React { message_id, emoji: "🎉".into(), user_id, add: true });
            let message_ids = vec![format!("{i:024x}"), format!("{:024x}", i / 4)];
            commands.push(MessageCommand::MarkRead { user_id: "reader".into(), message_ids, at: 5_000 + i });
            let mark = ReadMark { room: rooms[(i % 2) as usize].clone(), user_id: format!("r{i}"), seq: i / 4, at: i };
            commands.push(MessageCommand::RaiseReadMarks { marks: vec![mark], notices: Vec::new() });
        }
        if i % 7 == 3 {
            commands.push(MessageCommand::Delete { message_id: format!("{:024x}", i - 1), at: 9_000 + i });
        }
    }
    commands
}

#[test]
fn export_then_import_gives_equal_reads() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let rooms = vec![random_id(), random_id()];
    let source = SledMessages::open(&dir.path().join("source"))?;
    for (i, command) in commands(&rooms).iter().enumerate() {
        source.apply(i as u64 / 2 + 1, command);
    }
    let mut stream = Vec::new();
    source.export(&mut stream)?;
    let copy = SledMessages::open(&dir.path().join("copy"))?;
    copy.apply(1, &commands(&[random_id(), random_id()])[0]);
    copy.import(&mut stream.as_slice())?;
    assert_eq!(copy.applied_index(), source.applied_index());
    assert_eq!(dump(&copy, &rooms)?, dump(&source, &rooms)?);
    assert_eq!(dump(&copy, &rooms)?.len(), 40);
    for room in &rooms {
        assert_eq!(copy.history(room, Some(1_005), 4)?, source.history(room, Some(1_005), 4)?);
        assert_eq!(copy.count_since(room, 1_010)?, source.count_since(room, 1_010)?);
    }
    Ok(())
}

#[test]
fn reapplying_at_or_below_the_applied_index_changes_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let room = random_id();
    let store = SledMessages::open(&dir.path().join("messages"))?;
    let first = text(&room, 1_000, "first");
    store.apply(1, &MessageCommand::Append { message: Box::new(first.clone()) });
    store.apply(2, &MessageCommand::Append { message: Box::new(text(&room, 1_000, "second")) });
    let before = store.after_seq(&room, 0, 100)?;
    // (The same index twice in a row is the next command of that entry, so the replay
    // starts with an earlier index, as openraft's replay after a restart does.)
    let late = MessageCommand::Append { message: Box::new(text(&room, 1_000, "late")) };
    assert_eq!(store.apply(1, &late), Outcome::UnknownMessage, "not stored: its index was applied");
    let react =
        MessageCommand::React { message_id: first.id.clone(), emoji: "👍".into(), user_id: "u".into(), add: true };
    assert_eq!(store.apply(1, &react), Outcome::Reacted { room: room.clone(), reactions: BTreeMap::new() });
    let read = MessageCommand::MarkRead { user_id: "u".into(), message_ids: vec![first.id.clone()], at: 9 };
    assert_eq!(store.apply(2, &read), Outcome::ReadsMarked { changed: vec![] });
    let delete = MessageCommand::Delete { message_id: first.id.clone(), at: 7 };
    assert_eq!(store.apply(1, &delete), Outcome::UnknownMessage, "not deleted: its index was applied");
    assert_eq!(store.after_seq(&room, 0, 100)?, before);
    assert_eq!(store.applied_index(), 2);
    assert_eq!(store.apply(3, &late), Outcome::MessageAppended { seq: 3, timestamp: 1_002 });
    let deleted = Outcome::Tombstoned { room: room.clone(), seq: 1, deleted_at: 7 };
    assert_eq!(store.apply(4, &delete), deleted);
    let again = MessageCommand::Delete { message_id: first.id.clone(), at: 8 };
    assert_eq!(store.apply(5, &again), deleted, "a second deletion keeps the first time");
    assert_eq!(store.apply(4, &again), deleted, "a replay answers from what is stored");
    Ok(())
}

fn entry(index: u64, commands: &[MessageCommand]) -> Entry<TypeConfig> {
    let requests = commands.iter().map(|c| Request::new(Command::Message(c.clone()))).collect();
    Entry { log_id: log_id(1, 1, index), payload: EntryPayload::Normal(Proposal { requests }) }
}

#[tokio::test]
async fn a_state_machine_snapshot_carries_the_messages() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let rooms = vec![random_id(), random_id()];
    let source = SledMessages::open(&dir.path().join("source-messages"))?;
    let mut sm = StateMachineStore::open_with(&dir.path().join("source-sm"), Some(Arc::new(source.clone())))?;
    // Several commands per entry, as the proposer batches them.
    let entries: Vec<_> = commands(&rooms).chunks(3).enumerate().map(|(i, c)| entry(i as u64 + 1, c)).collect();
    let last = entries.len() as u64;
    sm.apply(entries).await?;
    let snapshot = sm.get_snapshot_builder().await.build_snapshot().await?;
    assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(last));

    let target = SledMessages::open(&dir.path().join("target-messages"))?;
    let mut other = StateMachineStore::open_with(&dir.path().join("target-sm"), Some(Arc::new(target.clone())))?;
    other.install_snapshot(&snapshot.meta, snapshot.snapshot).await?;
    assert_eq!(dump(&target, &rooms)?, dump(&source, &rooms)?);
    assert_eq!(target.applied_index(), last);

    // A node whose message store is lost (or behind) restores it from its snapshot.
    drop(sm);
    let fresh = SledMessages::open(&dir.path().join("fresh-messages"))?;
    StateMachineStore::open_with(&dir.path().join("source-sm"), Some(Arc::new(fresh.clone())))?;
    assert_eq!(dump(&fresh, &rooms)?, dump(&source, &rooms)?);
    Ok(())
}
