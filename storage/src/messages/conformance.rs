//! The conformance suite of [`MessageStore`]: what every implementation (embedded,
//! MongoDB) must do, as checks over a live store. A failed check panics with what it
//! expected, like an assertion in a test; a store error is returned.
//!
//! Every check works in fresh random rooms, so all of them can share one store (and
//! run after each other on a store that already holds data).

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use chat_raft::command::Millis;
use chat_raft::messages::{MessageKind, NewMessage, ReadMark, Reader, StoredMessage, DELETED_CONTENT};
use futures::future::{join_all, try_join_all};

use super::store::{MessagePlace, MessageStore, MAX_PAGE};
use crate::Error;

/// Run every check, in order.
pub async fn run_all(store: &dyn MessageStore) -> Result<(), Error> {
    seq_is_gap_free_and_per_room(store).await?;
    timestamps_strictly_increase(store).await?;
    appending_an_existing_id_changes_nothing(store).await?;
    history_pages_walk_back_to_the_first_message(store).await?;
    history_limit_is_clamped(store).await?;
    after_seq_resumes_after_a_seq(store).await?;
    unknown_ids_read_as_absent(store).await?;
    read_marks_are_watermarks_merged_by_max(store).await?;
    concurrent_read_marks_lose_no_reader(store).await?;
    reactions_have_set_semantics(store).await?;
    concurrent_reactions_lose_no_user(store).await?;
    concurrent_appends_get_unique_gap_free_seqs(store).await?;
    count_since_counts_recent_messages(store).await?;
    deleting_leaves_a_tombstone_in_place(store).await?;
    Ok(())
}

/// A random id in the proposer's format (24 lowercase hex characters); also used as a
/// fresh room id.
pub fn random_id() -> String {
    format!("{:024x}", rand::random::<u128>() >> 32)
}

/// A text message from `sender-1` stamped `at`.
pub fn text(room: &str, at: Millis, content: &str) -> NewMessage {
    NewMessage {
        id: random_id(),
        room: room.to_owned(),
        sender: Some("sender-1".into()),
        kind: MessageKind::Text,
        content: content.to_owned(),
        file: None,
        ai_type: None,
        mentions: Vec::new(),
        metadata: serde_json::Map::new(),
        at,
    }
}

fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis)
}

/// Append one message per `at`, one after the other.
async fn append_each(store: &dyn MessageStore, room: &str, ats: &[Millis]) -> Result<Vec<StoredMessage>, Error> {
    let mut stored = Vec::with_capacity(ats.len());
    for (i, at) in ats.iter().enumerate() {
        stored.push(store.append(text(room, *at, &format!("message {i}"))).await?);
    }
    Ok(stored)
}

fn ids(messages: &[StoredMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.id.as_str()).collect()
}

pub async fn seq_is_gap_free_and_per_room(store: &dyn MessageStore) -> Result<(), Error> {
    let (a, b) = (random_id(), random_id());
    let at = now_ms();
    let mut seqs = (Vec::new(), Vec::new());
    for i in 0..5 {
        seqs.0.push(store.append(text(&a, at, &format!("a{i}"))).await?.seq);
        if i % 2 == 0 {
            seqs.1.push(store.append(text(&b, at, &format!("b{i}"))).await?.seq);
        }
    }
    assert_eq!(seqs.0, [1, 2, 3, 4, 5], "seq in room a");
    assert_eq!(seqs.1, [1, 2, 3], "seq in room b does not depend on room a");
    Ok(())
}

pub async fn timestamps_strictly_increase(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    let base = now_ms();
    // Equal, backwards, forwards, backwards again: max(at, previous + 1).
    let ats = [base, base, base, base.saturating_sub(100), base + 5_000, base + 4_999];
    let stored = append_each(store, &room, &ats).await?;
    let timestamps: Vec<Millis> = stored.iter().map(|m| m.timestamp).collect();
    assert_eq!(timestamps, [base, base + 1, base + 2, base + 3, base + 5_000, base + 5_001]);
    let read = store.get(&stored[3].id).await?.expect("an appended message is readable");
    assert_eq!(read, stored[3], "get returns the message as append returned it");
    assert_eq!((read.room.as_str(), read.content.as_str()), (room.as_str(), "message 3"));
    let place = store.locate(&stored[3].id).await?.expect("an appended message is locatable");
    assert_eq!(place, MessagePlace { room: room.clone(), seq: stored[3].seq }, "locate agrees with append");
    Ok(())
}

pub async fn appending_an_existing_id_changes_nothing(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    let first = store.append(text(&room, now_ms(), "once")).await?;
    let mut again = text(&room, now_ms() + 10_000, "twice");
    again.id = first.id.clone();
    assert_eq!(store.append(again).await?, first, "a repeated id returns the stored message");
    let next = store.append(text(&room, now_ms(), "next")).await?;
    assert_eq!(next.seq, 2, "a repeated id does not use up a seq");
    assert_eq!(store.after_seq(&room, 0, MAX_PAGE).await?.len(), 2);
    Ok(())
}

pub async fn history_pages_walk_back_to_the_first_message(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    assert_eq!(store.history(&room, None, 30).await?.messages, [], "an empty room has no history");
    assert!(!store.history(&room, None, 30).await?.has_more);
    // All stamped in the same millisecond: only the store's timestamps tell them apart.
    let all = append_each(store, &room, &[now_ms(); 61]).await?;
    for limit in [30, 7, 61, 100] {
        let mut seen: Vec<StoredMessage> = Vec::new();
        let mut before = None;
        loop {
            let page = store.history(&room, before, limit).await?;
            let times: Vec<Millis> = page.messages.iter().map(|m| m.timestamp).collect();
            assert!(times.windows(2).all(|w| w[0] < w[1]), "page ascending: {times:?}");
            assert!(page.messages.len() <= limit, "page of {} for limit {limit}", page.messages.len());
            let done = !page.has_more;
            before = page.messages.first().map(|m| m.timestamp);
            seen.splice(0..0, page.messages);
            if done {
                break;
            }
            assert!(before.is_some(), "has_more on an empty page");
            assert!(seen.len() <= all.len(), "paging repeats messages");
        }
        assert_eq!(ids(&seen), ids(&all), "pages of {limit} cover the room exactly once");
    }
    let page = store.history(&room, Some(all[10].timestamp), 30).await?;
    assert_eq!(ids(&page.messages), ids(&all[..10]), "before is strict");
    assert!(!page.has_more);
    assert_eq!(store.history(&room, Some(all[0].timestamp), 30).await?.messages, []);
    Ok(())
}

pub async fn history_limit_is_clamped(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    let at = now_ms();
    let appends = (0..MAX_PAGE + 5).map(|i| store.append(text(&room, at, &format!("m{i}"))));
    try_join_all(appends).await?;
    let page = store.history(&room, None, 10 * MAX_PAGE).await?;
    assert_eq!((page.messages.len(), page.has_more), (MAX_PAGE, true), "limit is capped");
    assert_eq!(page.messages.last().map(|m| m.seq), Some(MAX_PAGE as u64 + 5), "the newest page");
    let page = store.history(&room, None, 0).await?;
    assert_eq!((page.messages.len(), page.has_more), (1, true), "limit 0 reads one message");
    assert_eq!(store.after_seq(&room, 0, 10 * MAX_PAGE).await?.len(), MAX_PAGE, "after_seq is capped");
    Ok(())
}

pub async fn after_seq_resumes_after_a_seq(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    let all = append_each(store, &room, &[now_ms(); 10]).await?;
    let seqs = |messages: Vec<StoredMessage>| messages.iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.after_seq(&room, 0, 100).await?), (1..=10).collect::<Vec<_>>());
    assert_eq!(ids(&store.after_seq(&room, 7, 100).await?), ids(&all[7..]));
    assert_eq!(seqs(store.after_seq(&room, 3, 2).await?), [4, 5]);
    assert_eq!(store.after_seq(&room, 10, 100).await?, []);
    assert_eq!(store.after_seq(&room, u64::MAX, 100).await?, []);
    assert_eq!(store.after_seq(&random_id(), 0, 100).await?, [], "unknown room");
    Ok(())
}

pub async fn unknown_ids_read_as_absent(store: &dyn MessageStore) -> Result<(), Error> {
    for id in [random_id(), String::new(), "not an id".into(), "\u{0}/../m".into()] {
        assert_eq!(store.get(&id).await?, None, "get({id:?})");
        assert_eq!(store.locate(&id).await?, None, "locate({id:?})");
        assert_eq!(store.react(&id, "👍", "u1", true).await?, None, "react on {id:?}");
    }
    store.mark_read(&[], &[]).await?;
    assert_eq!(store.read_marks(&random_id()).await?, [], "an unknown room has no marks");
    Ok(())
}

fn read_mark(room: &str, user: &str, seq: u64, at: Millis) -> ReadMark {
    ReadMark { room: room.to_owned(), user_id: user.to_owned(), seq, at }
}

/// The readers of each message of `room`, as `get`, `history` and `after_seq` give them.
async fn readers_by_seq(store: &dyn MessageStore, room: &str) -> Result<Vec<Vec<Reader>>, Error> {
    let page = store.history(room, None, MAX_PAGE).await?.messages;
    let resumed = store.after_seq(room, 0, MAX_PAGE).await?;
    assert_eq!(page, resumed, "history and after_seq derive the same readers");
    for message in &page {
        assert_eq!(store.get(&message.id).await?.as_ref(), Some(message), "get derives the same readers");
    }
    Ok(page.into_iter().map(|m| m.readers).collect())
}

pub async fn read_marks_are_watermarks_merged_by_max(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    append_each(store, &room, &[now_ms(); 4]).await?;
    let at = now_ms();
    let reader = |user: &str, at: Millis| Reader { user_id: user.to_owned(), read_at: at };
    assert_eq!(readers_by_seq(store, &room).await?, vec![Vec::<Reader>::new(); 4], "nothing read yet");

    store.mark_read(&[read_mark(&room, "u1", 2, at)], &[]).await?;
    let u1 = vec![reader("u1", at)];
    assert_eq!(readers_by_seq(store, &room).await?, [u1.clone(), u1.clone(), vec![], vec![]], "u1 read up to 2");

    // A lower mark, or the same seq again, changes nothing (not even the time).
    store.mark_read(&[read_mark(&room, "u1", 1, at + 5), read_mark(&room, "u1", 2, at + 6)], &[]).await?;
    assert_eq!(readers_by_seq(store, &room).await?, [u1.clone(), u1.clone(), vec![], vec![]], "max wins");

    // One call with marks of two users, one of them twice: each keeps its highest.
    let marks =
        [read_mark(&room, "u2", 1, at + 10), read_mark(&room, "u1", 3, at + 9), read_mark(&room, "u2", 4, at + 11)];
    store.mark_read(&marks, &[]).await?;
    let (u1, u2) = (reader("u1", at + 9), reader("u2", at + 11));
    let both = vec![u1.clone(), u2.clone()];
    assert_eq!(readers_by_seq(store, &room).await?, [both.clone(), both.clone(), both, vec![u2]]);

    let mut marks = store.read_marks(&room).await?;
    marks.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    assert_eq!(marks, [read_mark(&room, "u1", 3, at + 9), read_mark(&room, "u2", 4, at + 11)]);
    assert_eq!(store.read_marks(&random_id()).await?, [], "marks belong to their room");
    Ok(())
}

pub async fn concurrent_read_marks_lose_no_reader(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    let message = store.append(text(&room, now_ms(), "read me")).await?;
    let users: Vec<String> = (0..20).map(|i| format!("reader-{i}")).collect();
    let marks: Vec<[ReadMark; 1]> = users.iter().map(|user| [read_mark(&room, user, message.seq, now_ms())]).collect();
    try_join_all(marks.iter().map(|mark| store.mark_read(mark, &[]))).await?;
    let readers: BTreeSet<String> =
        store.get(&message.id).await?.expect("stored").readers.into_iter().map(|r| r.user_id).collect();
    assert_eq!(readers, users.into_iter().collect(), "no reader lost");
    Ok(())
}

pub async fn reactions_have_set_semantics(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    let id = store.append(text(&room, now_ms(), "react to me")).await?.id;
    // (emoji, user, add, the reactions after the step)
    type Step = (&'static str, &'static str, bool, Vec<(&'static str, Vec<&'static str>)>);
    let steps: Vec<Step> = vec![
        ("👍", "u1", true, vec![("👍", vec!["u1"])]),
        ("👍", "u1", true, vec![("👍", vec!["u1"])]),
        ("👍", "u2", true, vec![("👍", vec!["u1", "u2"])]),
        ("❤️", "u1", true, vec![("❤️", vec!["u1"]), ("👍", vec!["u1", "u2"])]),
        ("👍", "u1", false, vec![("❤️", vec!["u1"]), ("👍", vec!["u2"])]),
        ("👍", "u1", false, vec![("❤️", vec!["u1"]), ("👍", vec!["u2"])]),
        ("🎉", "u1", false, vec![("❤️", vec!["u1"]), ("👍", vec!["u2"])]),
        ("👍", "u2", false, vec![("❤️", vec!["u1"])]),
        ("❤️", "u1", false, vec![]),
    ];
    for (emoji, user, add, expected) in steps {
        let update = store.react(&id, emoji, user, add).await?.expect("the message exists");
        let expected = expected.into_iter().map(|(e, us)| (e.to_owned(), us.into_iter().map(String::from).collect()));
        assert_eq!(
            update.reactions,
            expected.collect(),
            "after {user} {} {emoji}",
            if add { "adds" } else { "removes" }
        );
        assert_eq!(update.room, room);
        assert_eq!(store.get(&id).await?.expect("stored").reactions, update.reactions, "stored as answered");
    }
    Ok(())
}

pub async fn concurrent_reactions_lose_no_user(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    let id = store.append(text(&room, now_ms(), "popular")).await?.id;
    let users: Vec<String> = (0..20).map(|i| format!("fan-{i}")).collect();
    let reactions = users.iter().map(|user| store.react(&id, "🔥", user, true));
    for update in join_all(reactions).await {
        assert!(update?.is_some(), "the message exists");
    }
    let stored = store.get(&id).await?.expect("stored").reactions;
    let fans: BTreeSet<String> = stored.get("🔥").cloned().unwrap_or_default().into_iter().collect();
    assert_eq!(fans, users.into_iter().collect(), "no reaction lost");
    assert_eq!(stored["🔥"].len(), 20, "each user once");
    Ok(())
}

pub async fn concurrent_appends_get_unique_gap_free_seqs(store: &dyn MessageStore) -> Result<(), Error> {
    const TASKS: usize = 8;
    const EACH: usize = 10;
    let room = random_id();
    let at = now_ms();
    let tasks = (0..TASKS).map(|task| {
        let room = room.clone();
        async move {
            let mut seqs = Vec::with_capacity(EACH);
            for i in 0..EACH {
                seqs.push(store.append(text(&room, at, &format!("task {task} message {i}"))).await?.seq);
            }
            Ok::<_, Error>(seqs)
        }
    });
    let per_task = try_join_all(tasks).await?;
    for seqs in &per_task {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "one sender's messages keep their order: {seqs:?}");
    }
    let mut all: Vec<u64> = per_task.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=(TASKS * EACH) as u64).collect::<Vec<_>>(), "unique and without gaps");
    let stored = store.after_seq(&room, 0, MAX_PAGE).await?;
    assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq && w[0].timestamp < w[1].timestamp));
    Ok(())
}

pub async fn count_since_counts_recent_messages(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    let now = now_ms();
    let old = now.saturating_sub(3_600_000);
    let stored = append_each(store, &room, &[old, old, old, old, old, now, now, now]).await?;
    let ten_minutes_ago = now.saturating_sub(600_000);
    assert_eq!(store.count_since(&room, ten_minutes_ago).await?, 3);
    assert_eq!(store.count_since(&room, 0).await?, 8);
    assert_eq!(store.count_since(&room, stored[6].timestamp).await?, 2, "since is inclusive");
    assert_eq!(store.count_since(&room, u64::MAX).await?, 0);
    assert_eq!(store.count_since(&random_id(), 0).await?, 0, "unknown room");
    Ok(())
}

pub async fn deleting_leaves_a_tombstone_in_place(store: &dyn MessageStore) -> Result<(), Error> {
    let room = random_id();
    let at = now_ms();
    let mut doomed = text(&room, at, "regrettable");
    doomed.mentions = vec!["u2".into()];
    doomed.metadata.insert("note".into(), serde_json::json!("kept until deleted"));
    let mut all = vec![store.append(text(&room, at, "before")).await?];
    all.push(store.append(doomed).await?);
    all.push(store.append(text(&room, at, "after")).await?);
    store.react(&all[1].id, "👍", "u1", true).await?.expect("the message exists");
    store.mark_read(&[read_mark(&room, "u1", 3, at)], &[]).await?;

    let deleted_at = at + 1_000;
    let tombstone = store.delete(&all[1].id, deleted_at).await?.expect("the message exists");
    let kept = |m: &StoredMessage| (m.id.clone(), m.room.clone(), m.seq, m.sender.clone(), m.kind, m.timestamp);
    assert_eq!(kept(&tombstone), kept(&all[1]), "id, room, seq, sender, kind and timestamp stay");
    assert_eq!(tombstone.content, DELETED_CONTENT);
    assert_eq!(tombstone.deleted_at, Some(deleted_at));
    assert_eq!((tombstone.file.as_ref(), tombstone.mentions.len(), tombstone.metadata.len()), (None, 0, 0));
    assert!(tombstone.reactions.is_empty(), "reactions go: {:?}", tombstone.reactions);
    assert_eq!(tombstone.readers.len(), 1, "readers still derive from the room's marks");

    // Every read shows the tombstone in its place; the other messages are untouched.
    assert_eq!(store.get(&all[1].id).await?.as_ref(), Some(&tombstone), "get");
    let page = store.history(&room, None, MAX_PAGE).await?.messages;
    assert_eq!(ids(&page), ids(&all), "history keeps the tombstone in order");
    assert_eq!(page[1], tombstone, "history");
    assert_eq!(store.after_seq(&room, 1, MAX_PAGE).await?[0], tombstone, "after_seq");
    assert_eq!((page[0].deleted_at, page[2].content.as_str()), (None, "after"));
    assert_eq!(store.count_since(&room, 0).await?, 3, "a tombstone still counts as a message");

    // Deleting again changes nothing: the first deletion time stands.
    let again = store.delete(&all[1].id, deleted_at + 5_000).await?.expect("still there");
    assert_eq!(again, tombstone, "a second deletion is answered with the tombstone as it was");
    for id in [random_id(), String::new(), "not an id".into()] {
        assert_eq!(store.delete(&id, deleted_at).await?, None, "delete({id:?})");
    }
    Ok(())
}
