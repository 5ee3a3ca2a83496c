//! Hostile socket clients against real nodes (issue 12): event floods that cost the node
//! work per event, and clients that stop reading. Each test states the limit it checks;
//! each failed on the code before the limit existed.

use anyhow::{bail, Context, Result};
use chat_ops::client::{ChatApi, ChatSocket, Events, Incoming, Login};
use chat_tests::socket_events::{next_event, WAIT};
use chat_tests::wait_until;
use chat_tests::{NodeSpec, TestCluster};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Waits until the metric `series` on node 1 reaches `at_least`.
async fn metric_reaches(cluster: &TestCluster, series: &str, at_least: u64) -> Result<()> {
    wait_until(&format!("{series} >= {at_least}"), WAIT, || async {
        cluster.metric(1, series).await.ok().filter(|v| *v >= at_least)
    })
    .await?;
    Ok(())
}

/// A single-voter cluster started with `args` (and a cheap bcrypt cost).
async fn cluster_with(args: &[&str]) -> Result<(TestCluster, ChatApi)> {
    let cluster = TestCluster::start(NodeSpec::voters(1).with_args(&[&["--bcrypt-cost", "4"], args].concat())).await?;
    let api = ChatApi::new(&cluster.node(1).addr.public)?;
    Ok((cluster, api))
}

/// A registered user with a room of their own, connected and joined.
async fn user_in_room(api: &ChatApi, name: &str) -> Result<(Login, ChatSocket, Events, String)> {
    let me = api.register(name, &format!("{}@sockets.test", name.to_lowercase()), "password-1").await?;
    let room = api.create_room(&me, &format!("{name}'s room"), None).await?;
    let (socket, mut events) = ChatSocket::connect(api.base(), &me, WAIT).await?;
    socket.emit("joinRoom", json!([room.id]))?;
    next_event(&mut events, "joinRoomSuccess", |p| p["roomId"] == room.id).await?;
    Ok((me, socket, events, room.id))
}

/// Sends `content` to `room` and returns the stored message's id (from the echo).
async fn send(socket: &ChatSocket, events: &mut Events, room: &str, content: &str) -> Result<String> {
    socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": content}]))?;
    let echo = next_event(events, "message", |m| m["content"] == content).await?;
    Ok(echo["_id"].as_str().context("a message id")?.to_owned())
}

/// Every event (name and first argument) up to and including the echo of `content`.
async fn events_until_echo(events: &mut Events, content: &str) -> Result<Vec<(String, Value)>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await.context("the echo in time")? {
            Some(Incoming::Event { name, mut args, .. }) => {
                let first = if args.is_empty() { Value::Null } else { args.swap_remove(0) };
                let done = name == "message" && first["content"] == content;
                seen.push((name, first));
                if done {
                    return Ok(seen);
                }
            }
            Some(Incoming::Closed { reason }) => bail!("closed ({reason}) while waiting for '{content}'"),
            None => bail!("event stream ended while waiting for '{content}'"),
        }
    }
}

/// Medium item: `markMessagesAsRead` is limited per user (`--read-mark-rate-limit`).
/// Over the limit a mark is dropped (nothing is marked), counted in /metrics, and the
/// socket gets one `RATE_LIMIT_EXCEEDED` per window however many marks it sends. Before,
/// every mark was handled (each a store lookup per id and a broadcast).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_marks_over_the_limit_are_dropped_with_one_error_per_window() -> Result<()> {
    let (cluster, api) =
        cluster_with(&["--read-mark-rate-limit", "2", "--read-mark-rate-window-ms", "3600000"]).await?;
    let (me, socket, mut events, room) = user_in_room(&api, "Marker").await?;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(send(&socket, &mut events, &room, &format!("message {i}")).await?);
    }
    for id in &ids[..2] {
        socket.emit("markMessagesAsRead", json!([{"roomId": room, "messageIds": [id]}]))?;
        next_event(&mut events, "messagesRead", |r| r["messageIds"] == json!([id])).await?;
    }
    const REFUSED: u64 = 10;
    for _ in 0..REFUSED {
        socket.emit("markMessagesAsRead", json!([{"roomId": room, "messageIds": [ids[2]]}]))?;
    }
    // Each refusal is counted after its error is queued: once all are counted, every
    // error they sent arrives before the echo below.
    metric_reaches(&cluster, "chat_limit_hits_total{limit=\"read_mark_rate\"}", REFUSED).await?;
    socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": "after"}]))?;
    let seen = events_until_echo(&mut events, "after").await?;
    let errors: Vec<&Value> = seen.iter().filter(|(name, _)| name == "error").map(|(_, p)| p).collect();
    assert_eq!(errors.len(), 1, "one error per window, got {errors:?}");
    assert_eq!(errors[0]["code"], "RATE_LIMIT_EXCEEDED", "{}", errors[0]);
    assert!(errors[0]["retryAfter"].as_u64().is_some_and(|s| s >= 1), "{}", errors[0]);
    assert!(!seen.iter().any(|(name, _)| name == "messagesRead"), "a refused mark was broadcast: {seen:?}");

    socket.emit("fetchPreviousMessages", json!([{"roomId": room}]))?;
    let page = next_event(&mut events, "previousMessagesLoaded", |_| true).await?;
    let messages = page["messages"].as_array().context("messages")?;
    let read_by_me = |id: &str| -> Result<bool> {
        let message = messages.iter().find(|m| m["_id"] == id).context("the message in history")?;
        let readers = message["readers"].as_array().context("readers")?;
        Ok(readers.iter().any(|r| r["userId"] == me.user_id.as_str()))
    };
    assert!(read_by_me(&ids[1])?, "the marks within the limit were stored");
    assert!(!read_by_me(&ids[2])?, "a refused mark was stored");
    Ok(())
}

/// Medium item: messages that mention an AI persona start AI replies at most
/// `--ai-mention-rate-limit` times per user and window. Past it the message is still
/// delivered, but no reply starts and the sender gets `RATE_LIMIT_EXCEEDED`. Before,
/// every mention started a reply (a call to the AI provider).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_mentions_over_the_limit_are_delivered_without_a_reply() -> Result<()> {
    let (cluster, api) =
        cluster_with(&["--ai-mention-rate-limit", "1", "--ai-mention-rate-window-ms", "3600000"]).await?;
    let (_, socket, mut events, room) = user_in_room(&api, "Asker").await?;

    socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": "@wayneAI first question"}]))?;
    next_event(&mut events, "aiMessageStart", |_| true).await?;
    socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": "@wayneAI second question"}]))?;
    // The chat worker handles one message at a time: anything the second message causes
    // arrives before the echo of the third.
    socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": "plain"}]))?;
    let seen = events_until_echo(&mut events, "plain").await?;
    let names: Vec<&str> = seen.iter().map(|(name, _)| name.as_str()).collect();
    assert!(
        seen.iter().any(|(name, m)| name == "message" && m["content"] == "@wayneAI second question"),
        "the second question was delivered: {names:?}"
    );
    assert!(!names.contains(&"aiMessageStart"), "no reply to the second question: {names:?}");
    let error = seen.iter().find(|(name, _)| name == "error").map(|(_, p)| p).context("an error")?;
    assert_eq!(error["code"], "RATE_LIMIT_EXCEEDED", "{error}");
    assert!(error["retryAfter"].as_u64().is_some_and(|s| s >= 1), "{error}");
    assert_eq!(cluster.metric(1, "chat_limit_hits_total{limit=\"ai_mention_rate\"}").await?, 1);
    Ok(())
}

/// A raw Engine.IO websocket for `me` whose client reads nothing once it joined `room`,
/// with a small kernel receive buffer so the node's writes back up quickly.
async fn silent_reader(public: &str, me: &Login, room: &str) -> Result<Ws> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(public.parse()?).await?;
    let url = format!("ws://{public}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;
    // Engine.IO OPEN, then CONNECT and its answer, then the join: each step waits for
    // the node's answer, as a Socket.IO client does.
    let connect = json!({"token": me.token, "sessionId": me.session_id});
    text_starting(&mut ws, "0{").await?;
    ws.send(Message::text(format!("40{connect}"))).await?;
    text_starting(&mut ws, "40{").await?;
    ws.send(Message::text(format!("42{}", json!(["joinRoom", room])))).await?;
    text_starting(&mut ws, "42[\"joinRoomSuccess\"").await?;
    Ok(ws)
}

/// Reads `ws` until a text frame starting with `prefix` (others skipped).
async fn text_starting(ws: &mut Ws, prefix: &str) -> Result<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.with_context(|| format!("'{prefix}' in time"))? {
            Some(Ok(Message::Text(text))) if text.starts_with(prefix) => return Ok(text.to_string()),
            Some(Ok(Message::Text(text))) if text.starts_with("44") => bail!("connect refused: {text}"),
            Some(Ok(_)) => {}
            other => bail!("the reader's socket ended while waiting for '{prefix}': {other:?}"),
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Medium item: a socket whose client stops reading is disconnected once its outbound
/// buffer (`--socket-buffer`) is full, counted as `limit="slow_consumer"`, and the room
/// goes on for everyone else. Before, each event the buffer could not take was dropped
/// silently and the socket stayed connected, missing messages without knowing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_stops_reading_is_disconnected_not_starved() -> Result<()> {
    let limits = ["--socket-buffer", "8", "--chat-rate-limit", "100000", "--leave-grace-ms", "100"];
    let (cluster, api) = cluster_with(&limits).await?;
    let public = cluster.node(1).addr.public.clone();
    let (_, sender, mut events, room) = user_in_room(&api, "Talker").await?;
    let reader = api.register("Silent", "silent@sockets.test", "password-1").await?;
    api.join_room(&reader, &room, None).await?;
    let mut ws = silent_reader(&public, &reader, &room).await?;

    // Messages near the size cap, each waited for, until the node gives up on the
    // reader (bounded: the kernel buffers on both sides hold far fewer than this).
    let filler = "x".repeat(9_000);
    let series = "chat_limit_hits_total{limit=\"slow_consumer\"}";
    let mut sent = 0;
    while cluster.metric(1, series).await? == 0 {
        anyhow::ensure!(sent < 2_000, "2,000 messages of 9 KB and the silent socket is still connected");
        send(&sender, &mut events, &room, &format!("{sent} {filler}")).await?;
        sent += 1;
    }
    assert_eq!(cluster.metric(1, series).await?, 1, "counted once");

    // The reader's connection ends: what the kernel still held, then the end.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.context("the silent socket closed in time")? {
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => {}
        }
    }
    // The room goes on for the sender, and the node no longer counts the reader's socket.
    send(&sender, &mut events, &room, "still here").await?;
    wait_until("the silent socket gone from the room", WAIT, || async {
        let state = cluster.state(1).await.ok()?;
        (state.presence.sockets_of_user(&reader.user_id).count() == 0).then_some(())
    })
    .await?;
    Ok(())
}

/// Medium item (found by `chatctl bench --flood`): `fetchPreviousMessages` and
/// `messageReaction` are limited per user (`--history-rate-limit`,
/// `--reaction-rate-limit`). Each event over the limit gets `RATE_LIMIT_EXCEEDED` with
/// `retryAfter`, is counted, and does nothing: no page is loaded, no reaction stored or
/// broadcast. Before, a history flood cost a state read and a page per event with no
/// bound (other users' delivery p99 rose tenfold) and every reaction was a Raft write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_reaction_floods_are_refused_over_their_limits() -> Result<()> {
    let limits = ["--history-rate-limit", "3", "--reaction-rate-limit", "2"];
    let windows = ["--history-rate-window-ms", "3600000", "--reaction-rate-window-ms", "3600000"];
    let (cluster, api) = cluster_with(&[&limits[..], &windows[..]].concat()).await?;
    let (_, socket, mut events, room) = user_in_room(&api, "Scroller").await?;
    let id = send(&socket, &mut events, &room, "react to me").await?;

    const FETCHES: u64 = 6;
    for _ in 0..FETCHES {
        socket.emit("fetchPreviousMessages", json!([{"roomId": room}]))?;
    }
    for emoji in ["👍", "❤️", "😂", "🎉"] {
        socket.emit("messageReaction", json!([{"messageId": id, "reaction": emoji, "type": "add"}]))?;
    }
    // Each refusal is counted after its error is queued.
    metric_reaches(&cluster, "chat_limit_hits_total{limit=\"history_rate\"}", FETCHES - 3).await?;
    metric_reaches(&cluster, "chat_limit_hits_total{limit=\"reaction_rate\"}", 2).await?;
    // The allowed ones are answered too before this settles: wait for all of them.
    let mut pages = 0;
    let mut updates = Vec::new();
    let mut refusals = Vec::new();
    while pages < 3 || updates.len() < 2 || refusals.len() < 5 {
        match tokio::time::timeout(WAIT, events.recv()).await.context("every answer in time")? {
            Some(Incoming::Event { name, mut args, .. }) => {
                let first = if args.is_empty() { Value::Null } else { args.swap_remove(0) };
                match name.as_str() {
                    "previousMessagesLoaded" => pages += 1,
                    "messageReactionUpdate" => updates.push(first),
                    "error" => refusals.push(first),
                    _ => {}
                }
            }
            other => bail!("socket ended: {other:?}"),
        }
    }
    assert_eq!((pages, updates.len(), refusals.len()), (3, 2, 5), "{updates:?} {refusals:?}");
    for refusal in &refusals {
        assert_eq!(refusal["code"], "RATE_LIMIT_EXCEEDED", "{refusal}");
        assert!(refusal["retryAfter"].as_u64().is_some_and(|s| s >= 1), "{refusal}");
    }
    // Only the two allowed reactions are stored.
    socket.emit("fetchPreviousMessages", json!([{"roomId": room}]))?;
    let refused = next_event(&mut events, "error", |e| e["code"] == "RATE_LIMIT_EXCEEDED").await?;
    assert!(refused["message"].as_str().is_some_and(|m| !m.is_empty()));
    // Each update carries the message's whole reaction map after its write, and the two
    // handlers run concurrently, so the updates may arrive in either order: the fuller
    // one shows what is stored.
    let kinds = |update: &Value| update["reactions"].as_object().map_or(0, |r| r.len());
    let stored = updates.iter().map(kinds).max().context("an update")?;
    assert_eq!(stored, 2, "two reactions stored: {updates:?}");
    Ok(())
}
