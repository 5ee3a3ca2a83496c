//! After the drill: what the cluster ended up with. Each node's history of every load
//! room, read the way clients read it (`fetchPreviousMessages`, paged back to the
//! first message, on a socket to that node), and each node's participants of those
//! rooms from its replica (`/admin/state?local=true`), asked until they agree or a
//! deadline passes (they converge through Raft, so a moment after the last change).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chat_raft::client::ClusterClient;
use chat_raft::NodeId;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::checker::{ParticipantViews, StoreViews, StoredMessage};
use super::load::LoadResult;
use crate::client::{ChatSocket, Incoming};

const PAGE: u64 = 100;
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPTS: usize = 5;

/// Every node's history of the load's rooms (load messages only). A node that cannot
/// be read after a few attempts is left out and named in the returned errors.
pub async fn histories(load: &LoadResult) -> (StoreViews, Vec<String>) {
    let mut views = StoreViews::new();
    let mut errors = Vec::new();
    for node in load.shared.nodes.iter() {
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            match node_history(load, &node.public).await {
                Ok(rooms) => {
                    views.insert(node.id.to_string(), rooms);
                    last.clear();
                    break;
                }
                Err(e) => {
                    last = e;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        if !last.is_empty() {
            errors.push(format!("node {}: history not readable: {last}", node.id));
        }
    }
    (views, errors)
}

async fn node_history(load: &LoadResult, public: &str) -> Result<BTreeMap<String, Vec<StoredMessage>>, String> {
    let (socket, mut events) =
        ChatSocket::connect(public, &load.auditor, ANSWER_TIMEOUT).await.map_err(|e| e.to_string())?;
    let mut rooms = BTreeMap::new();
    for room in load.rooms() {
        let mut messages: Vec<StoredMessage> = Vec::new();
        let mut before: Option<u64> = None;
        loop {
            let mut request = json!({"roomId": room, "limit": PAGE});
            if let Some(before) = before {
                request["before"] = json!(before);
            }
            socket.emit("fetchPreviousMessages", json!([request])).map_err(|e| e.to_string())?;
            let page = next_page(&mut events).await?;
            let list = page["messages"].as_array().cloned().unwrap_or_default();
            let mut older: Vec<StoredMessage> = list
                .iter()
                .filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with(load.prefix())))
                .map(|m| StoredMessage {
                    seq: m["seq"].as_u64().unwrap_or(0),
                    content: m["content"].as_str().unwrap_or_default().to_owned(),
                })
                .collect();
            older.append(&mut messages);
            messages = older;
            match list.first().and_then(|m| m["timestamp"].as_u64()) {
                Some(oldest) if page["hasMore"] == true => before = Some(oldest),
                _ => break,
            }
        }
        rooms.insert(room.clone(), messages);
    }
    socket.close();
    Ok(rooms)
}

async fn next_page(events: &mut crate::client::Events) -> Result<Value, String> {
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        let incoming = tokio::time::timeout_at(deadline, events.recv())
            .await
            .map_err(|_| "no previousMessagesLoaded in time".to_string())?;
        match incoming {
            Some(Incoming::Event { name, args, .. }) if name == "previousMessagesLoaded" => {
                return Ok(args.into_iter().next().unwrap_or(Value::Null))
            }
            Some(Incoming::Event { name, args, .. }) if name == "error" => {
                return Err(format!("error event: {}", args.first().cloned().unwrap_or(Value::Null)))
            }
            Some(Incoming::Event { .. }) => {}
            Some(Incoming::Closed { reason }) => return Err(reason),
            None => return Err("connection ended".into()),
        }
    }
}

/// Each node's participants of `rooms`, asked until every node agrees or `wait` passed.
pub async fn participants(
    client: &ClusterClient,
    nodes: &[(NodeId, String)],
    rooms: &[String],
    wait: Duration,
) -> ParticipantViews {
    let deadline = Instant::now() + wait;
    loop {
        let mut views = ParticipantViews::new();
        for (id, cluster) in nodes {
            let Ok(state) = client.local_state(cluster).await else { continue };
            let rooms = rooms
                .iter()
                .map(|room| {
                    let users: BTreeSet<String> =
                        state.rooms.get(room).map(|r| r.participants.iter().cloned().collect()).unwrap_or_default();
                    (room.clone(), users)
                })
                .collect();
            views.insert(id.to_string(), rooms);
        }
        let distinct: BTreeSet<&BTreeMap<String, BTreeSet<String>>> = views.values().collect();
        if (distinct.len() <= 1 && views.len() == nodes.len()) || Instant::now() >= deadline {
            return views;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
