//! Hostile clients against real nodes (issue 12): oversized and malformed input over
//! real sockets. Each test states the limit it checks; each failed on the code before
//! the limit existed.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat_ops::client::{ApiError, ChatApi, ChatSocket, Events};
use chat_tests::socket_events::{next_event, WAIT};
use chat_tests::{NodeSpec, TestCluster};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// The value of the metric line starting with `series` on node `public`.
async fn metric(public: &str, series: &str) -> Result<u64> {
    let text = reqwest::get(format!("http://{public}/metrics")).await?.text().await?;
    let line = text.lines().find(|l| l.starts_with(series)).with_context(|| format!("{series} in /metrics"))?;
    Ok(line.rsplit(' ').next().context("a value")?.parse()?)
}

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

/// A node's resident memory (`VmRSS`) and peak resident memory (`VmHWM`), in KiB.
fn memory_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("{name} in status"))?;
        Ok(line.split_whitespace().nth(1).context("a value")?.parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
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
    let public = &cluster.node(1).addr.public;
    assert!(metric(public, "chat_limit_hits_total{limit=\"chat_queue\"}").await? > 0);
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
    let public = &cluster.node(1).addr.public;
    assert_eq!(metric(public, "chat_limit_hits_total{limit=\"reactions_per_message\"}").await?, 1);
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
