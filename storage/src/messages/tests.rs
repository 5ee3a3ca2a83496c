//! Table tests of the message applier without a cluster: commands in, outcomes and
//! stored state out, including batched entries, replays and snapshots taken while
//! applies went on.

use chat_raft::command::Outcome;
use chat_raft::messages::{MessageApplier, MessageCommand, ReadMark, StoredMessage};

use super::conformance::text;
use super::layout::LogPos;
use super::{snapshot, SledMessages};

fn store() -> SledMessages {
    let db = sled::Config::new().temporary(true).open().expect("temporary sled");
    SledMessages::from_db(&db).expect("open messages")
}

fn append(id: &str, room: &str, at: u64) -> MessageCommand {
    let mut message = text(room, at, id);
    message.id = id.to_owned();
    MessageCommand::Append { message: Box::new(message) }
}

fn react(id: &str, emoji: &str, user: &str, add: bool) -> MessageCommand {
    MessageCommand::React { message_id: id.into(), emoji: emoji.into(), user_id: user.into(), add }
}

fn read(user: &str, ids: &[&str], at: u64) -> MessageCommand {
    MessageCommand::MarkRead { user_id: user.into(), message_ids: ids.iter().map(|s| s.to_string()).collect(), at }
}

fn raise(room: &str, user: &str, seq: u64, at: u64) -> MessageCommand {
    let mark = ReadMark { room: room.into(), user_id: user.into(), seq, at };
    MessageCommand::RaiseReadMarks { marks: vec![mark], notices: Vec::new() }
}

fn appended(seq: u64, timestamp: u64) -> Outcome {
    Outcome::MessageAppended { seq, timestamp }
}

fn reacted(room: &str, reactions: &[(&str, &[&str])]) -> Outcome {
    let reactions = reactions.iter().map(|(e, us)| (e.to_string(), us.iter().map(|u| u.to_string()).collect()));
    Outcome::Reacted { room: room.into(), reactions: reactions.collect() }
}

fn marked(ids: &[&str]) -> Outcome {
    Outcome::ReadsMarked { changed: ids.iter().map(|s| s.to_string()).collect() }
}

/// Every message of `rooms`, in seq order.
fn dump(store: &SledMessages, rooms: &[&str]) -> Vec<StoredMessage> {
    rooms.iter().flat_map(|room| store.after_seq(room, 0, 100).expect("read")).collect()
}

/// Entries may carry several commands: the same index, one after the other.
fn history() -> Vec<(u64, MessageCommand, Outcome)> {
    vec![
        (1, append("x", "r", 1000), appended(1, 1000)),
        (1, append("y", "r", 1000), appended(2, 1001)),
        (1, append("q", "other", 5), appended(1, 5)),
        (2, react("x", "👍", "v", true), reacted("r", &[("👍", &["v"])])),
        (3, react("x", "👍", "v", false), reacted("r", &[])),
        (3, react("x", "👍", "v", true), reacted("r", &[("👍", &["v"])])),
        (4, react("x", "👍", "u", true), reacted("r", &[("👍", &["v", "u"])])),
        (5, append("z", "r", 900), appended(3, 1002)),
        (5, read("u", &["x", "nope", "z", "x"], 7), marked(&["x", "z"])),
        // u's watermark is at z (seq 3) already: x and y are below it.
        (6, read("u", &["x", "y"], 8), marked(&[])),
        (6, append("x", "r", 99_999), appended(1, 1000)),
        (7, react("z", "🔥", "u", true), reacted("r", &[("🔥", &["u"])])),
        (7, react("nope", "🔥", "u", true), Outcome::UnknownMessage),
        (8, react("z", "🔥", "w", false), reacted("r", &[("🔥", &["u"])])),
        (8, raise("r", "w", 2, 20), Outcome::ReadMarksRaised { raised: 1 }),
        (8, raise("r", "w", 1, 21), Outcome::ReadMarksRaised { raised: 0 }),
    ]
}

#[test]
fn commands_apply_in_log_order_with_batched_entries() {
    let store = store();
    for (index, command, expected) in history() {
        assert_eq!(store.apply(index, &command), expected, "{index}: {command:?}");
    }
    assert_eq!(store.applied_index(), 8);
    let x = store.get("x").expect("read").expect("x stored");
    assert_eq!((x.seq, x.timestamp, x.content.as_str()), (1, 1000, "x"), "a repeated append changed nothing");
    let readers = |id: &str| store.get(id).expect("read").expect("stored").readers;
    let names = |id: &str| readers(id).into_iter().map(|r| (r.user_id, r.read_at)).collect::<Vec<_>>();
    assert_eq!(names("x"), [("u".to_owned(), 7), ("w".to_owned(), 20)], "u's first mark time, w's highest");
    assert_eq!(names("z"), [("u".to_owned(), 7)], "w read up to y only");
    assert_eq!(dump(&store, &["r"]).iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["x", "y", "z"]);
}

#[test]
fn a_group_applies_like_single_commands_and_is_stored_when_it_ends() {
    let single = store();
    for (index, command, _) in history() {
        single.apply(index, &command);
    }
    let grouped = store();
    grouped.begin_group();
    for (index, command, expected) in history() {
        // Later commands read what earlier ones of the group wrote (reactions on a
        // message appended in the group, a repeated append, marks raised twice).
        assert_eq!(grouped.apply(index, &command), expected, "{index}: {command:?}");
    }
    assert_eq!(grouped.applied_index(), 0, "nothing is stored before the group ends");
    assert_eq!(grouped.get("x").expect("read"), None);
    grouped.end_group().expect("group stored");
    assert_eq!(grouped.applied_index(), 8);
    assert_eq!(dump(&grouped, &["r", "other"]), dump(&single, &["r", "other"]));
}

#[test]
fn replaying_the_log_after_a_restart_changes_nothing() {
    let db = sled::Config::new().temporary(true).open().expect("temporary sled");
    let store = SledMessages::from_db(&db).expect("open");
    let log = history();
    for (index, command, _) in &log {
        store.apply(*index, command);
    }
    let before = dump(&store, &["r", "other"]);
    // A restarted node replays from its last snapshot: everything, here.
    let restarted = SledMessages::from_db(&db).expect("reopen");
    for (index, command, expected) in &log {
        let outcome = restarted.apply(*index, command);
        match (command, outcome) {
            // A replayed reaction answers with the reactions as they are now: the
            // outcome is derived from what is stored, not remembered.
            (MessageCommand::React { .. }, Outcome::Reacted { room, .. }) => {
                assert!(matches!(expected, Outcome::Reacted { room: r, .. } if *r == room))
            }
            // Read marks merge by maximum: a replay raises nothing.
            (MessageCommand::MarkRead { .. }, outcome) => assert_eq!(outcome, marked(&[])),
            (MessageCommand::RaiseReadMarks { .. }, outcome) => {
                assert_eq!(outcome, Outcome::ReadMarksRaised { raised: 0 })
            }
            (_, outcome) => assert_eq!(&outcome, expected, "replayed {index}: {command:?}"),
        }
    }
    assert_eq!(dump(&restarted, &["r", "other"]), before);
    assert_eq!(restarted.apply(9, &append("w", "r", 0)), appended(4, 1003), "the log goes on");
}

#[test]
fn a_snapshot_taken_while_applies_went_on_replays_exactly() {
    let log = history();
    let original = store();
    for (index, command, _) in &log {
        original.apply(*index, command);
    }
    // The export began when the applied position was the last command of entry 2, and
    // its scan saw everything applied since: later appends must be left out, later
    // reactions and reads must not be applied twice (v's remove and re-add would put
    // v after u).
    let mut stream = Vec::new();
    snapshot::export_at(&original, LogPos { index: 2, nth: 1 }, &mut stream).expect("export");
    let restored = store();
    restored.import(&mut stream.as_slice()).expect("import");
    assert_eq!(restored.applied_index(), 2);
    assert_eq!(restored.get("z").expect("read"), None, "appended after the export began");
    for (index, command, _) in log.iter().filter(|(index, _, _)| *index > 2) {
        restored.apply(*index, command);
    }
    assert_eq!(dump(&restored, &["r", "other"]), dump(&original, &["r", "other"]));
}

#[test]
fn an_empty_stream_imports_as_an_empty_store() {
    let store = store();
    store.apply(1, &append("x", "r", 1));
    store.import(&mut &[][..]).expect("import");
    assert_eq!((store.applied_index(), store.get("x").expect("read")), (0, None));
}

#[test]
fn an_interrupted_import_leaves_an_empty_store_on_reopen() {
    let db = sled::Config::new().temporary(true).open().expect("temporary sled");
    let source = store();
    for (index, command, _) in history() {
        source.apply(index, &command);
    }
    let mut stream = Vec::new();
    source.export(&mut stream).expect("export");
    let target = SledMessages::from_db(&db).expect("open");
    target.apply(1, &append("old", "r", 1));
    let truncated = &stream[..stream.len() - 10];
    assert!(target.import(&mut &truncated[..]).is_err(), "a truncated stream is refused");
    let reopened = SledMessages::from_db(&db).expect("reopen");
    assert_eq!(reopened.applied_index(), 0, "claims nothing, so the snapshot is imported again");
    assert_eq!(dump(&reopened, &["r", "other"]), []);
    reopened.import(&mut stream.as_slice()).expect("import");
    assert_eq!(dump(&reopened, &["r", "other"]), dump(&source, &["r", "other"]));
}

#[test]
fn rooms_whose_ids_share_a_prefix_stay_apart() {
    let store = store();
    store.apply(1, &append("a", "ab", 10));
    store.apply(2, &append("b", "abc", 10));
    store.apply(3, &append("c", "ab\u{0}\u{0}\u{0}\u{3}abc", 10));
    for room in ["ab", "abc", "ab\u{0}\u{0}\u{0}\u{3}abc"] {
        let page = store.history(room, None, 100).expect("read");
        assert_eq!((page.messages.len(), page.messages[0].seq), (1, 1), "room {room:?}");
        assert_eq!(store.count_since(room, 0).expect("count"), 1);
    }
    assert!(store.history("a", None, 100).expect("read").messages.is_empty());
    assert!(store.history("x", Some(0), 100).expect("read").messages.is_empty());
}

#[test]
fn an_import_replaces_the_remembered_room_tails() {
    // The store remembers each room's last seq and timestamp; after an import the
    // next append must continue from the imported messages, not from the old ones.
    let smaller = store();
    smaller.apply(1, &append("x", "r", 1000));
    let mut stream = Vec::new();
    smaller.export(&mut stream).expect("export");
    let store = store();
    store.apply(1, &append("a", "r", 5000));
    store.apply(2, &append("b", "r", 5000));
    assert_eq!(store.apply(3, &append("c", "r", 5000)), appended(3, 5002));
    store.import(&mut stream.as_slice()).expect("import");
    assert_eq!(store.apply(2, &append("y", "r", 1000)), appended(2, 1001));
}

#[test]
fn a_backup_export_holds_exactly_the_messages_up_to_its_index() {
    let original = store();
    for (index, command, _) in history() {
        original.apply(index, &command);
    }
    // Entry 1 appended x, y and q; z came with entry 5.
    assert_eq!(original.count_upto(4).expect("count"), 3);
    assert_eq!(original.count_upto(5).expect("count"), 4);
    let mut stream = Vec::new();
    assert_eq!(original.export_upto(4, &mut stream).expect("export"), 3);
    let restored = store();
    restored.import(&mut stream.as_slice()).expect("import");
    assert_eq!(restored.applied_index(), 4, "the restored store starts right after the backup's index");
    assert_eq!(restored.get("z").expect("read"), None, "appended after the backup's index");
    assert_eq!(dump(&restored, &["r", "other"]).len(), 3);
    // The new cluster's next entry appends after the restored messages.
    assert_eq!(restored.apply(5, &append("n", "r", 0)), appended(3, 1002));
}
