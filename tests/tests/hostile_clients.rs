//! Hostile clients against real nodes (issue 12): oversized and malformed input over
//! real sockets. Each test states the limit it checks; each failed on the code before
//! the limit existed.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat_ops::client::{ApiError, ChatApi, ChatSocket, Events, Incoming, Login, SocketError};
use chat_tests::inspect::memory_kib;
use chat_tests::socket_events::{next_event, WAIT};
use chat_tests::{NodeSpec, TestCluster};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// A single-voter cluster with a user in a room of their own, connected and joined.
async fn user_in_room(name: &str) -> Result<(TestCluster, ChatApi, ChatSocket, Events, String)> {
    let cluster = TestCluster::start(NodeSpec::voters(1).with_args(&["--bcrypt-cost", "4"])).await?;
    let api = ChatApi::new(&cluster.node(1).addr.public)?;
    let me = api.register(name, &format!("{}@hostile.test", name.to_lowercase()), "password-1").await?;
    let room = api.create_room(&me, &format!("{name}'s room"), None).await?;
    let (socket, mut events) = ChatSocket::connect(api.base(), &me, WAIT).await?;
    socket.emit("joinRoom", json!([room.id]))?;
    next_event(&mut events, "joinRoomSuccess", |p| p["roomId"] == room.id).await?;
    Ok((cluster, api, socket, events, room.id))
}

/// Opens a raw Engine.IO websocket and reads the OPEN packet.
async fn open_websocket(
    public: &str,
) -> Result<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>> {
    let url = format!("ws://{public}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await? {
        Some(Ok(Message::Text(open))) if open.starts_with('0') => Ok(ws),
        other => bail!("expected the Engine.IO OPEN packet, got {other:?}"),
    }
}

/// Critical item: an unauthenticated 12 MB CONNECT frame (`40{"a":[0,0,...]}`) is
/// refused by the websocket frame limit before it is buffered or parsed: the node
/// closes the connection without answering it, its memory stays small, and it keeps
/// serving. Before the limit the node buffered the frame, built a JSON tree of it
/// (RSS +300 MB in a release build) and answered with a CONNECT_ERROR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_unauthenticated_frame_is_closed_without_growing_the_node() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(1)).await?;
    let node = cluster.node(1);
    let pid = node.pid().context("node 1 runs")?;
    let (before, _) = memory_kib(pid)?;

    let mut frame = String::with_capacity(12 << 20);
    frame.push_str("40{\"a\":[0");
    while frame.len() < 12 << 20 {
        frame.push_str(",0");
    }
    frame.push_str("]}");

    let mut answers = Vec::new();
    for _ in 0..3 {
        let mut ws = open_websocket(&node.addr.public).await?;
        // The node may close while the frame is still being written; that is the point.
        let _ = ws.send(Message::Text(frame.clone().into())).await;
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                    Some(Ok(Message::Text(text))) if text.starts_with("44") => answers.push(text.to_string()),
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
        .unwrap_or(false);
        assert!(closed, "the node kept the connection open after a 12 MB frame (answers: {answers:?})");
    }
    assert!(answers.is_empty(), "the oversized frame was parsed and answered: {answers:?}");

    let (after, peak) = memory_kib(pid)?;
    let grown_mib = peak.saturating_sub(before) / 1024;
    // For the README's figure (run against a release binary with CHAT_NODE_BIN).
    eprintln!("node RSS before {before} KiB, peak {peak} KiB, after {after} KiB");
    assert!(grown_mib < 40, "peak RSS grew by {grown_mib} MiB ({before} KiB -> peak {peak} KiB, now {after} KiB)");

    let health = reqwest::get(format!("http://{}/api/health", node.addr.public)).await?;
    assert_eq!(health.status().as_u16(), 200, "the node still serves");
    Ok(())
}

/// A CONNECT auth payload within the frame limit but padded with junk fields is read
/// as the two fields the handshake needs; without them it is refused as usual, and the
/// connection stays usable for another CONNECT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_padded_auth_payload_is_refused_cleanly() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(1)).await?;
    let mut ws = open_websocket(&cluster.node(1).addr.public).await?;
    let padding = vec!["0"; 20_000].join(",");
    ws.send(Message::Text(format!("40{{\"junk\":[{padding}],\"token\":7}}").into())).await?;
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                if text.starts_with("44") {
                    return Some(text.to_string());
                }
            }
        }
        None
    })
    .await?
    .context("a CONNECT_ERROR")?;
    assert_eq!(answer, r#"44{"message":"Authentication error"}"#);
    Ok(())
}

/// High item: a socket's `chatMessage` queue is bounded. A client emitting far faster
/// than its messages commit gets `RATE_LIMIT_EXCEEDED` for the excess at once, counted
/// in /metrics; the node neither queues the flood nor stops serving the socket. Before
/// the bound every message was queued (no refusal at all under the default limits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_flood_is_refused_on_arrival_instead_of_queued() -> Result<()> {
    let (cluster, _api, socket, mut events, room) = user_in_room("Flooder").await?;
    const FLOOD: usize = 3_000;
    for i in 0..FLOOD {
        socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": format!("flood {i}")}]))?;
    }
    let refused = next_event(&mut events, "error", |e| e["code"] == "RATE_LIMIT_EXCEEDED").await?;
    assert!(refused["retryAfter"].as_u64().is_some_and(|s| s >= 1), "a retry hint: {refused}");
    assert!(cluster.metric(1, "chat_limit_hits_total{limit=\"chat_queue\"}").await? > 0);
    // The socket still works once the queue drained.
    let marker = "after the flood";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": marker}]))?;
        if next_event(&mut events, "message", |m| m["content"] == marker).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the socket never recovered from the flood");
    }
    Ok(())
}

/// High item: distinct reactions per message are capped; the reaction over the cap
/// gets an error and changes nothing. Before the cap every new emoji was stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_per_message_are_capped() -> Result<()> {
    let (cluster, _api, socket, mut events, room) = user_in_room("Reactor").await?;
    socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": "react to me"}]))?;
    let message = next_event(&mut events, "message", |m| m["content"] == "react to me").await?;
    let id = message["_id"].as_str().context("a message id")?.to_owned();
    const CAP: usize = 50;
    for i in 0..CAP {
        let emoji = format!("e{i}");
        socket.emit("messageReaction", json!([{"messageId": id, "reaction": emoji, "type": "add"}]))?;
        next_event(&mut events, "messageReactionUpdate", |u| u["reactions"].get(&emoji).is_some()).await?;
    }
    socket.emit("messageReaction", json!([{"messageId": id, "reaction": "one too many", "type": "add"}]))?;
    let refused = next_event(&mut events, "error", |_| true).await?;
    assert_eq!(refused["code"], "REACTION_LIMIT", "{refused}");
    // An existing emoji can still be added by another user or removed.
    socket.emit("messageReaction", json!([{"messageId": id, "reaction": "e0", "type": "remove"}]))?;
    let update = next_event(&mut events, "messageReactionUpdate", |u| u["reactions"].get("e0").is_none()).await?;
    let reactions = update["reactions"].as_object().context("reactions")?;
    assert_eq!(reactions.len(), CAP - 1);
    assert!(!reactions.contains_key("one too many"));
    assert_eq!(cluster.metric(1, "chat_limit_hits_total{limit=\"reactions_per_message\"}").await?, 1);
    Ok(())
}

/// Medium item: user names have a maximum length, on register and on profile update.
/// Before, a 5,000-character name was accepted and copied into every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_names_have_a_maximum_length() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(1).with_args(&["--bcrypt-cost", "4"])).await?;
    let api = ChatApi::new(&cluster.node(1).addr.public)?;
    let long = "n".repeat(5_000);
    match api.register(&long, "long@hostile.test", "password-1").await {
        Err(ApiError::Status { status: 400, .. }) => {}
        other => bail!("a 5,000-character name was not refused with 400: {other:?}"),
    }
    let me = api.register(&"n".repeat(50), "fifty@hostile.test", "password-1").await?;
    let body = json!({"name": long});
    match api.call(chat_ops::client::Method::PUT, "/api/users/profile", Some(&me), Some(&body)).await {
        Err(ApiError::Status { status: 400, .. }) => {}
        other => bail!("a 5,000-character profile name was not refused with 400: {other:?}"),
    }
    Ok(())
}

/// The first event among `names`, within [`WAIT`]: which one came, and its argument.
async fn first_of(events: &mut Events, names: &[&str]) -> Result<(String, serde_json::Value)> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let incoming = tokio::time::timeout_at(deadline, events.recv())
            .await
            .with_context(|| format!("none of {names:?} within {WAIT:?}"))?;
        match incoming {
            Some(Incoming::Event { name, mut args, .. }) if names.contains(&name.as_str()) => {
                let first = if args.is_empty() { serde_json::Value::Null } else { args.swap_remove(0) };
                return Ok((name, first));
            }
            Some(Incoming::Event { .. }) => {}
            Some(Incoming::Closed { reason }) => bail!("closed ({reason}) while waiting for {names:?}"),
            None => bail!("event stream ended while waiting for {names:?}"),
        }
    }
}

/// A single-voter cluster started with `args` (and a cheap bcrypt cost).
async fn cluster_with(args: &[&str]) -> Result<(TestCluster, ChatApi)> {
    let cluster = TestCluster::start(NodeSpec::voters(1).with_args(&[&["--bcrypt-cost", "4"], args].concat())).await?;
    let api = ChatApi::new(&cluster.node(1).addr.public)?;
    Ok((cluster, api))
}

/// Medium item: every socket event re-checks the session on the replica. A login
/// elsewhere replaces the session; the old socket stays connected for 10 s after
/// `duplicate_login`, and in that time each of its events is refused with
/// `SESSION_EXPIRED` and changes nothing. Before, only `chatMessage` re-checked: the
/// old socket could still load history, join, leave, mark read and react.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_an_ended_session_get_session_expired() -> Result<()> {
    let (cluster, api, socket, mut events, room) = user_in_room("Replaced").await?;
    socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": "before the new login"}]))?;
    let message = next_event(&mut events, "message", |m| m["content"] == "before the new login").await?;
    let id = message["_id"].as_str().context("a message id")?.to_owned();
    let me = api.login("replaced@hostile.test", "password-1").await?;
    next_event(&mut events, "duplicate_login", |_| true).await?;

    let attempts = [
        ("fetchPreviousMessages", json!([{"roomId": room}]), "previousMessagesLoaded"),
        ("joinRoom", json!([room]), "joinRoomSuccess"),
        ("markMessagesAsRead", json!([{"roomId": room, "messageIds": [id]}]), "messagesRead"),
        ("messageReaction", json!([{"messageId": id, "reaction": "👍", "type": "add"}]), "messageReactionUpdate"),
        ("leaveRoom", json!([room]), "userLeft"),
    ];
    for (event, args, success) in attempts {
        socket.emit(event, args)?;
        let (name, payload) = first_of(&mut events, &["error", success]).await?;
        assert_eq!((name.as_str(), &payload["code"]), ("error", &json!("SESSION_EXPIRED")), "{event}: {payload}");
    }
    // Nothing changed: no reaction, no read mark by the old session, still a member.
    let (fresh, mut fresh_events) = ChatSocket::connect(api.base(), &me, WAIT).await?;
    fresh.emit("fetchPreviousMessages", json!([{"roomId": room}]))?;
    let page = next_event(&mut fresh_events, "previousMessagesLoaded", |_| true).await?;
    let loaded = page["messages"].as_array().context("messages")?;
    let ours = loaded.iter().find(|m| m["_id"] == id.as_str()).context("the message in history")?;
    assert_eq!(ours["reactions"].as_object().map_or(0, |r| r.len()), 0, "{ours}");
    assert!(cluster.metric(1, "chat_messages_rejected_total{reason=\"session\"}").await? >= 5);
    Ok(())
}

/// Medium item: `markMessagesAsRead` marks only rooms the user is a participant of;
/// ids of other rooms are ignored (the whole event is refused only when the first id
/// is in such a room, as the existing backend does). A user who never joined a
/// password room marks one of its messages: it never shows as read by them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_marks_in_a_room_the_user_is_not_in_are_ignored() -> Result<()> {
    let (cluster, owner_api, owner, owner_events, _) = user_in_room("Owner").await?;
    let owner_login = owner_api.login("owner@hostile.test", "password-1").await?;
    // The login replaced the first socket's session: a socket of the new one.
    drop((owner, owner_events));
    let (owner, mut owner_events) = ChatSocket::connect(owner_api.base(), &owner_login, WAIT).await?;
    let private = owner_api.create_room(&owner_login, "locked", Some("room-pass-1")).await?;
    owner.emit("joinRoom", json!([private.id]))?;
    next_event(&mut owner_events, "joinRoomSuccess", |p| p["roomId"] == private.id).await?;
    owner.emit("chatMessage", json!([{"room": private.id, "type": "text", "content": "private"}]))?;
    let secret = next_event(&mut owner_events, "message", |m| m["content"] == "private").await?;
    let secret_id = secret["_id"].as_str().context("an id")?.to_owned();

    let api = ChatApi::new(&cluster.node(1).addr.public)?;
    let intruder = api.register("Intruder", "intruder@hostile.test", "password-1").await?;
    let own = api.create_room(&intruder, "own room", None).await?;
    let (socket, mut events) = ChatSocket::connect(api.base(), &intruder, WAIT).await?;
    socket.emit("joinRoom", json!([own.id]))?;
    next_event(&mut events, "joinRoomSuccess", |p| p["roomId"] == own.id).await?;
    socket.emit("chatMessage", json!([{"room": own.id, "type": "text", "content": "mine"}]))?;
    let mine = next_event(&mut events, "message", |m| m["content"] == "mine").await?;
    let mine_id = mine["_id"].as_str().context("an id")?.to_owned();

    // The private id first: the whole event is refused.
    socket.emit("markMessagesAsRead", json!([{"roomId": private.id, "messageIds": [secret_id, mine_id]}]))?;
    let refused = next_event(&mut events, "error", |_| true).await?;
    assert_eq!(refused["message"], "Room access denied", "{refused}");
    // The private id after one of the user's own room: only the own room is marked,
    // in the same write as the broadcast below.
    socket.emit("markMessagesAsRead", json!([{"roomId": own.id, "messageIds": [mine_id, secret_id]}]))?;
    let read = next_event(&mut events, "messagesRead", |r| r["userId"] == intruder.user_id.as_str()).await?;
    assert_eq!(read["messageIds"], json!([mine_id]), "only the own room's id is reported read");

    owner.emit("fetchPreviousMessages", json!([{"roomId": private.id}]))?;
    let page = next_event(&mut owner_events, "previousMessagesLoaded", |_| true).await?;
    let messages = page["messages"].as_array().context("messages")?;
    let loaded = messages.iter().find(|m| m["_id"] == secret_id.as_str()).context("the private message")?;
    let readers = loaded["readers"].as_array().context("readers")?;
    assert!(
        !readers.iter().any(|r| r["userId"] == intruder.user_id.as_str()),
        "a non-member shows as a reader: {loaded}"
    );
    Ok(())
}

/// Medium item: an unknown email costs the same bcrypt work as a wrong password (one
/// check, counted in `chat_password_hashes_total`), so the answer time does not tell
/// which emails exist. Before, an unknown email was answered before any hashing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_email_costs_one_password_check_like_a_wrong_password() -> Result<()> {
    let (cluster, api) = cluster_with(&[]).await?;
    api.register("Known", "known@hostile.test", "password-1").await?;
    let hashes = || cluster.metric(1, "chat_password_hashes_total");
    // The first unknown email also makes the process's stand-in hash.
    assert_eq!(api.login("nobody-0@hostile.test", "password-1").await.map_err(|e| e.status()).err(), Some(Some(401)));
    let before = hashes().await?;
    assert_eq!(api.login("nobody-1@hostile.test", "password-1").await.map_err(|e| e.status()).err(), Some(Some(401)));
    let unknown = hashes().await? - before;
    assert_eq!(api.login("known@hostile.test", "wrong-password").await.map_err(|e| e.status()).err(), Some(Some(401)));
    let wrong = hashes().await? - before - unknown;
    assert_eq!((unknown, wrong), (1, 1), "bcrypt checks for an unknown email and for a wrong password");
    Ok(())
}

/// POST `path` with a JSON body (and a user's credentials): status, `Retry-After`
/// header and body.
async fn post(
    public: &str,
    path: &str,
    me: Option<&Login>,
    body: serde_json::Value,
) -> Result<(u16, Option<u64>, serde_json::Value)> {
    let mut request = reqwest::Client::new().post(format!("http://{public}{path}")).json(&body);
    if let Some(me) = me {
        request = request.header("x-auth-token", &me.token).header("x-session-id", &me.session_id);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    Ok((status, retry_after, body))
}

/// Assert a 429 in the error envelope with `Retry-After` (header and `retryAfter`).
fn assert_throttled((status, retry_after, body): &(u16, Option<u64>, serde_json::Value), what: &str) {
    assert_eq!(*status, 429, "{what}: {body}");
    assert_eq!(body["code"], "TOO_MANY_REQUESTS", "{what}: {body}");
    assert!(retry_after.is_some_and(|s| s >= 1), "{what}: a Retry-After header");
    assert_eq!(body["retryAfter"].as_u64(), *retry_after, "{what}: {body}");
}

/// Medium item: wrong login passwords are throttled per account and per client
/// address, wrong room passwords per (room, user) and address: once used up, even the
/// right password gets 429 with `Retry-After` until the window ends. Before, guessing
/// was unlimited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_throttled_per_account_and_per_address() -> Result<()> {
    let (cluster, api) =
        cluster_with(&["--password-failures-per-account", "3", "--password-failures-per-address", "5"]).await?;
    let public = &cluster.node(1).addr.public;
    let owner = api.register("Guarded", "guarded@hostile.test", "password-1").await?;
    let guest = api.register("Guest", "guest@hostile.test", "password-1").await?;
    let login = |email: &str, password: &str| json!({"email": email, "password": password});

    for _ in 0..3 {
        let (status, ..) = post(public, "/api/auth/login", None, login("guarded@hostile.test", "wrong-pass")).await?;
        assert_eq!(status, 401);
    }
    let blocked = post(public, "/api/auth/login", None, login("guarded@hostile.test", "password-1")).await?;
    assert_throttled(&blocked, "the right password after 3 wrong ones");

    // Room passwords: 2 more failures use up this address's 5.
    let room = api.create_room(&owner, "guarded room", Some("room-pass-1")).await?;
    let join = format!("/api/rooms/{}/join", room.id);
    for _ in 0..2 {
        let (status, _, body) = post(public, &join, Some(&guest), json!({"password": "wrong-pass"})).await?;
        assert_eq!(status, 401, "{body}");
    }
    let blocked = post(public, &join, Some(&guest), json!({"password": "room-pass-1"})).await?;
    assert_throttled(&blocked, "the right room password from a used-up address");
    let other = post(public, "/api/auth/login", None, login("guest@hostile.test", "password-1")).await?;
    assert_throttled(&other, "another account from a used-up address");
    assert!(cluster.metric(1, "chat_limit_hits_total{limit=\"password_failures\"}").await? >= 3);
    Ok(())
}

/// Medium item: room creation and join/leave toggling are rate-limited per user, with
/// a 429 (REST) or `RATE_LIMIT_EXCEEDED` (socket) carrying the retry time, counted in
/// /metrics. Before, both were unlimited (a room creation is broadcast to every socket).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_creation_and_join_leave_toggling_are_rate_limited() -> Result<()> {
    let hour = "3600000";
    let (cluster, api) = cluster_with(&[
        "--room-create-rate-limit",
        "3",
        "--room-create-rate-window-ms",
        hour,
        "--membership-rate-limit",
        "4",
        "--membership-rate-window-ms",
        hour,
    ])
    .await?;
    let public = &cluster.node(1).addr.public;
    let me = api.register("Toggler", "toggler@hostile.test", "password-1").await?;
    let mut rooms = Vec::new();
    for i in 0..3 {
        rooms.push(api.create_room(&me, &format!("room {i}"), None).await?.id);
    }
    let refused = post(public, "/api/rooms", Some(&me), json!({"name": "one too many"})).await?;
    assert_throttled(&refused, "the fourth room");

    let (socket, mut events) = ChatSocket::connect(api.base(), &me, WAIT).await?;
    // Four joins, each answered before the next (a rejoin counts too)...
    for room in [&rooms[0], &rooms[1], &rooms[2], &rooms[0]] {
        socket.emit("joinRoom", json!([room]))?;
        next_event(&mut events, "joinRoomSuccess", |p| p["roomId"] == room.as_str()).await?;
    }
    // ...use up the limit of 4: the fifth join and a leave are refused.
    socket.emit("joinRoom", json!([rooms[1]]))?;
    let (name, refusal) = first_of(&mut events, &["joinRoomSuccess", "joinRoomError"]).await?;
    assert_eq!(name, "joinRoomError", "{refusal}");
    assert_eq!(refusal["code"], "RATE_LIMIT_EXCEEDED", "{refusal}");
    assert!(refusal["retryAfter"].as_u64().is_some_and(|s| s >= 1), "{refusal}");
    socket.emit("leaveRoom", json!([rooms[0]]))?;
    let refusal = next_event(&mut events, "error", |_| true).await?;
    assert_eq!(refusal["code"], "RATE_LIMIT_EXCEEDED", "{refusal}");
    assert_eq!(cluster.metric(1, "chat_limit_hits_total{limit=\"room_create\"}").await?, 1);
    assert_eq!(cluster.metric(1, "chat_limit_hits_total{limit=\"membership\"}").await?, 2);
    Ok(())
}

/// Medium item: a user's sockets are capped (`--max-sockets-per-user`, 10); the extra
/// connection gets a CONNECT_ERROR saying why, counted in /metrics, and a slot frees
/// once a socket is gone. Before, any number of sockets was accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_per_user_are_capped() -> Result<()> {
    // The default cap (10), so the same test runs against a node without the flag.
    let (cluster, api) = cluster_with(&["--leave-grace-ms", "100"]).await?;
    let me = api.register("Many Tabs", "tabs@hostile.test", "password-1").await?;
    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(ChatSocket::connect(api.base(), &me, WAIT).await?);
    }
    match ChatSocket::connect(api.base(), &me, WAIT).await {
        Err(SocketError::Refused { message }) => assert_eq!(message, "Too many connections"),
        Err(other) => bail!("the eleventh socket failed otherwise: {other}"),
        Ok(_) => bail!("an eleventh socket was accepted over the default cap of 10"),
    }
    assert_eq!(cluster.metric(1, "chat_limit_hits_total{limit=\"sockets_per_user\"}").await?, 1);
    open[0].0.close();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match ChatSocket::connect(api.base(), &me, WAIT).await {
            Ok(_) => break,
            Err(SocketError::Refused { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => bail!("no slot after a socket closed: {e}"),
        }
    }
    Ok(())
}

/// Medium item: the client address (rate-limit key, `duplicate_login`'s `ipAddress`)
/// comes from `X-Forwarded-For` only through `--trusted-proxy-hops` proxies. Before,
/// the first entry, written by the client itself, was believed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_are_believed_only_through_trusted_hops() -> Result<()> {
    // No flag is the default, 0 hops.
    for (flag, expected) in [(&[][..], "127.0.0.1"), (&["--trusted-proxy-hops", "1"][..], "203.0.113.9")] {
        let (_cluster, api) = cluster_with(flag).await?;
        let me = api.register("Forwarded", "forwarded@hostile.test", "password-1").await?;
        let (_socket, mut events) = ChatSocket::connect(api.base(), &me, WAIT).await?;
        let login = reqwest::Client::new()
            .post(format!("{}/api/auth/login", api.base()))
            .header("x-forwarded-for", "198.51.100.7, 203.0.113.9")
            .json(&json!({"email": "forwarded@hostile.test", "password": "password-1"}))
            .send()
            .await?;
        assert_eq!(login.status().as_u16(), 200);
        let notice = next_event(&mut events, "duplicate_login", |_| true).await?;
        assert_eq!(notice["ipAddress"], expected, "with {flag:?}: {notice}");
    }
    Ok(())
}

/// Medium item: a node that restarts fast (killed, back before anyone declares it
/// down) clears the presence its earlier run left behind, after the leave grace, as
/// the disconnects would have. Before, the dead sockets stayed in the replicated
/// presence for good (and counted against the socket cap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_left_by_a_killed_node_is_cleared_when_it_restarts() -> Result<()> {
    let (mut cluster, api) = cluster_with(&["--leave-grace-ms", "200"]).await?;
    let me = api.register("Restarted", "restarted@hostile.test", "password-1").await?;
    let (socket, _events) = ChatSocket::connect(api.base(), &me, WAIT).await?;
    let sockets = |state: &chat_raft::state::ClusterState| state.presence.sockets_of_user(&me.user_id).count();
    assert_eq!(sockets(&cluster.state(1).await?), 1);
    cluster.kill(1);
    socket.close();
    cluster.restart(1).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(state) = cluster.state(1).await {
            if sockets(&state) == 0 {
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the killed run's socket is still in the presence");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
