//! [`MongoMessageStore`] against a real MongoDB wire-protocol server (nx-27017 from the
//! workspace's `.venv`, or `CHAT_TEST_MONGODB_URI`; see `support/mongo.rs`): the
//! conformance suite, two nodes appending to one room at once, a lost seq counter, and
//! reaction keys that look like field paths or operators.

use std::collections::BTreeMap;

use anyhow::Result;
use chat_storage::messages::conformance::{self, random_id, text};
use chat_storage::messages::MAX_PAGE;
use chat_storage::{MessageStore, MongoMessageStore};
use chat_tests::mongo::TestMongo;
use futures::future::try_join_all;
use mongodb::bson::doc;

/// A fresh database per test, so tests share nothing but the server.
fn database() -> String {
    format!("chat_test_{}", random_id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_store_passes_the_conformance_suite() -> Result<()> {
    let Some(mongo) = TestMongo::start("mongo_store_passes_the_conformance_suite")? else { return Ok(()) };
    let store = MongoMessageStore::connect(&mongo.uri(&database())).await?;
    conformance::run_all(&store).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_appending_to_one_room_never_share_a_seq() -> Result<()> {
    const TASKS_PER_NODE: usize = 4;
    const EACH: usize = 50;
    let Some(mongo) = TestMongo::start("two_nodes_appending_to_one_room_never_share_a_seq")? else { return Ok(()) };
    let uri = mongo.uri(&database());
    // Two connections (client pools) as two nodes have; both create the indexes.
    let nodes = [MongoMessageStore::connect(&uri).await?, MongoMessageStore::connect(&uri).await?];
    let room = random_id();
    let at = now_ms();
    let senders = nodes.iter().enumerate().flat_map(|(node, store)| {
        let room = &room;
        (0..TASKS_PER_NODE).map(move |task| async move {
            let mut stored = Vec::with_capacity(EACH);
            for i in 0..EACH {
                // Everyone stamps the same millisecond: only the store orders them.
                stored.push(store.append(text(room, at, &format!("node {node} task {task} #{i}"))).await?);
            }
            anyhow::Ok(stored)
        })
    });
    let appended: Vec<_> = try_join_all(senders).await?.into_iter().flatten().collect();
    let total = nodes.len() * TASKS_PER_NODE * EACH;
    assert_eq!(appended.len(), total);

    let mut seqs: Vec<u64> = appended.iter().map(|m| m.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>(), "unique seqs (no crash, so no gaps either)");

    // Read back through the other node than the one that wrote half of them.
    let mut by_seq = Vec::new();
    while by_seq.len() < total {
        let last = by_seq.last().map_or(0, |m: &chat_raft::messages::StoredMessage| m.seq);
        let page = nodes[1].after_seq(&room, last, MAX_PAGE).await?;
        assert!(!page.is_empty(), "after_seq stopped at {last} of {total}");
        by_seq.extend(page);
    }
    assert!(
        by_seq.windows(2).all(|w| w[0].seq + 1 == w[1].seq && w[0].timestamp < w[1].timestamp),
        "timestamps strictly increase with seq"
    );
    let mut stored_as_answered: Vec<_> = appended.clone();
    stored_as_answered.sort_by_key(|m| m.seq);
    assert_eq!(by_seq, stored_as_answered, "every append answered what was stored");

    let mut history = Vec::new();
    let mut before = None;
    loop {
        let page = nodes[0].history(&room, before, MAX_PAGE).await?;
        before = page.messages.first().map(|m| m.timestamp);
        history.splice(0..0, page.messages);
        if !page.has_more {
            break;
        }
    }
    assert_eq!(history, by_seq, "history pages cover the room exactly once, in seq order");
    assert_eq!(nodes[0].count_since(&room, 0).await?, total);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_seq_counter_cannot_reuse_a_seq() -> Result<()> {
    let Some(mongo) = TestMongo::start("a_lost_seq_counter_cannot_reuse_a_seq")? else { return Ok(()) };
    let db = database();
    let store = MongoMessageStore::connect(&mongo.uri(&db)).await?;
    let room = random_id();
    let at = now_ms();
    let mut last = None;
    for i in 0..3 {
        last = Some(store.append(text(&room, at, &format!("m{i}"))).await?);
    }
    let last = last.expect("appended");
    // An operator drops the counters (or restores them from an older backup).
    let client = mongodb::Client::with_uri_str(mongo.uri(&db)).await?;
    client.database(&db).collection::<mongodb::bson::Document>("counters").delete_many(doc! {}).await?;

    let next = store.append(text(&room, at, "after the loss")).await?;
    assert_eq!(next.seq, last.seq + 1, "the unique (room, seq) index refused seq 1 again; the counter caught up");
    assert!(next.timestamp > last.timestamp, "{} after {}", next.timestamp, last.timestamp);
    assert_eq!(store.after_seq(&room, 0, MAX_PAGE).await?.len(), 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaction_keys_cannot_address_other_fields() -> Result<()> {
    let Some(mongo) = TestMongo::start("reaction_keys_cannot_address_other_fields")? else { return Ok(()) };
    let store = MongoMessageStore::connect(&mongo.uri(&database())).await?;
    let message = store.append(text(&random_id(), now_ms(), "react to me")).await?;
    let emojis = ["a.b", "$set", "content", "%2E", "", "reactions.x", "👍"];
    for emoji in emojis {
        store.react(&message.id, emoji, "u1", true).await?.expect("the message exists");
    }
    let stored = store.get(&message.id).await?.expect("stored");
    let expected: BTreeMap<String, Vec<String>> =
        emojis.iter().map(|e| (e.to_string(), vec!["u1".to_owned()])).collect();
    assert_eq!(stored.reactions, expected);
    assert_eq!((stored.content.as_str(), stored.seq), ("react to me", 1), "no other field changed");
    for emoji in emojis {
        store.react(&message.id, emoji, "u1", false).await?.expect("the message exists");
    }
    assert_eq!(store.get(&message.id).await?.expect("stored").reactions, BTreeMap::new());
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
