//! Room events with the embedded store and `--announce-on-apply`: every node announces
//! the messages, read receipts and reactions it applies from the Raft log to its own
//! sockets, so members
//! on three nodes see them all, in the same order, without a single fan-out POST
//! between the nodes (`chat_fanout_seconds_count` stays put on every node).

use anyhow::{ensure, Context, Result};
use chat_ops::client::{ChatApi, ChatSocket};
use chat_tests::socket_events::{next_event, WAIT};
use chat_tests::{NodeSpec, TestCluster};
use serde_json::{json, Value};

/// How many fan-out POSTs `node` has sent to its peers so far.
async fn fanout_posts(cluster: &TestCluster, node: u64) -> Result<u64> {
    let text = cluster.metrics(node).await?;
    let line = text.lines().find(|l| l.starts_with("chat_fanout_seconds_count ")).context("no fan-out count")?;
    Ok(line.rsplit(' ').next().unwrap_or_default().parse()?)
}

/// Every node's fan-out POST count, once it stopped moving. A POST is counted when its
/// answer comes back, which is after the receiver emitted its events: a member can see the
/// last join's `participantsUpdate` while its sender has not counted that POST yet.
async fn settled_fanout_posts(cluster: &TestCluster) -> Result<Vec<u64>> {
    let mut last = Vec::new();
    for _ in 0..25 {
        let mut now = Vec::new();
        for id in 1..=3 {
            now.push(fanout_posts(cluster, id).await?);
        }
        if now == last {
            return Ok(now);
        }
        last = now;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    anyhow::bail!("fan-out POST counts still moving after 5 s: {last:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_on_three_nodes_get_room_events_from_their_own_node_s_log() -> Result<()> {
    let cluster =
        TestCluster::start(NodeSpec::voters(3).with_args(&["--bcrypt-cost", "4", "--announce-on-apply"])).await?;
    let api = |id: u64| ChatApi::new(&cluster.node(id).addr.public.to_string());
    let (one, two, three) = (api(1)?, api(2)?, api(3)?);
    let alice = one.register("Alice", "alice@events.test", "password-1").await?;
    let bob = two.register("Bob", "bob@events.test", "password-2").await?;
    let carol = three.register("Carol", "carol@events.test", "password-3").await?;
    let room = one.create_room(&alice, "events", None).await?;
    two.join_room(&bob, &room.id, None).await?;
    three.join_room(&carol, &room.id, None).await?;

    let (a, mut a_events) = ChatSocket::connect(one.base(), &alice, WAIT).await?;
    let (b, mut b_events) = ChatSocket::connect(two.base(), &bob, WAIT).await?;
    let (c, mut c_events) = ChatSocket::connect(three.base(), &carol, WAIT).await?;
    for (socket, events) in [(&a, &mut a_events), (&b, &mut b_events), (&c, &mut c_events)] {
        socket.emit("joinRoom", json!([room.id]))?;
        next_event(events, "joinRoomSuccess", |p| p["roomId"] == room.id).await?;
    }
    // Joins announce a system message and participants through the fan-out; once the
    // last one is through, nothing else is on its way.
    let everyone = |p: &Value| p.as_array().is_some_and(|list| list.len() == 3);
    for events in [&mut a_events, &mut b_events, &mut c_events] {
        next_event(events, "participantsUpdate", everyone).await?;
    }
    let before = settled_fanout_posts(&cluster).await?;

    // Messages from two nodes, interleaved: every member sees all of them in one order.
    const EACH: usize = 10;
    for i in 0..EACH {
        a.emit("chatMessage", json!([{"room": room.id, "type": "text", "content": format!("a{i}")}]))?;
        b.emit("chatMessage", json!([{"room": room.id, "type": "text", "content": format!("b{i}")}]))?;
    }
    let mut orders = Vec::new();
    for events in [&mut a_events, &mut b_events, &mut c_events] {
        let mut seen: Vec<Value> = Vec::new();
        while seen.len() < 2 * EACH {
            seen.push(next_event(events, "message", |m| m["type"] == "text").await?);
        }
        let stamps: Vec<u64> = seen.iter().map(|m| m["timestamp"].as_u64().unwrap_or_default()).collect();
        ensure!(stamps.windows(2).all(|w| w[0] < w[1]), "delivered out of order: {stamps:?}");
        orders.push(seen.iter().map(|m| m["_id"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>());
    }
    ensure!(orders[0] == orders[1] && orders[1] == orders[2], "members saw different orders: {orders:?}");

    // Bob reads the newest message; Alice (node 1) and Carol (node 3) are told.
    let newest = orders[0].last().cloned().context("no message")?;
    b.emit("markMessagesAsRead", json!([{"roomId": room.id, "messageIds": [newest]}]))?;
    for events in [&mut a_events, &mut c_events] {
        let read = next_event(events, "messagesRead", |r| r["userId"] == bob.user_id).await?;
        assert_eq!(read["messageIds"], json!([newest]));
    }

    // Carol reacts; Alice and Bob are told.
    c.emit("messageReaction", json!([{"messageId": newest, "reaction": "👍", "type": "add"}]))?;
    for events in [&mut a_events, &mut b_events] {
        let update = next_event(events, "messageReactionUpdate", |u| u["messageId"] == newest).await?;
        assert_eq!(update["reactions"]["👍"], json!([carol.user_id]));
    }

    let after = settled_fanout_posts(&cluster).await?;
    for ((id, count), after) in (1..=3).zip(before).zip(after) {
        assert_eq!(after, count, "node {id} sent {} fan-out POSTs for applied room events", after - count);
    }
    Ok(())
}
