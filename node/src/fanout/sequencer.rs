//! Emits each room's chat messages in `seq` order on this node.
//!
//! Messages reach a node from several senders (itself and every peer), each in its own
//! order. The sequencer remembers the last `seq` it emitted per room: an older or
//! repeated one is dropped (its room already saw it), and a gap is filled from this
//! node's message store before the newer message goes out. A message is acknowledged
//! only after every live node applied it, but a node that fell behind (a slow or paused
//! replication stream) may not have applied the missing ones yet: it waits for them, a
//! bounded time (architecture §3.2), rather than skip them. Emission happens under the
//! lock, so two deliveries for one room never interleave.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_raft::messages::StoredMessage;
use serde_json::Value;
use socketioxide::SocketIo;
use tokio::sync::Mutex;

use crate::Node;

/// Most messages fetched to fill one gap; a longer gap is left to history paging.
const MAX_GAP_FILL: usize = 100;
/// How long a gap is waited for before the newer message goes out without it.
const GAP_WAIT: Duration = Duration::from_secs(3);

#[derive(Clone, Default)]
pub(crate) struct Sequencer {
    last_emitted: Arc<Mutex<HashMap<String, u64>>>,
}

impl Sequencer {
    /// Emit message `seq` of `room` (and any missing ones before it) to the room's
    /// sockets on this node, in order.
    pub(super) async fn admit(&self, node: &Node, io: &SocketIo, room: &str, seq: u64, payload: Value) {
        let previous = {
            let mut last = self.last_emitted.lock().await;
            match last.get(room).copied() {
                Some(previous) if seq <= previous => return,
                Some(previous) if seq > previous + 1 => previous,
                _ => {
                    // First message seen for the room here, or the next one.
                    emit(node, io, room, &payload).await;
                    last.insert(room.to_owned(), seq);
                    return;
                }
            }
        };
        // The lock is not held while waiting for this node's store to catch up.
        let missing = fill_gap(node, room, previous, seq).await;
        let users = crate::socket::render::senders(node, &missing);
        let mut last = self.last_emitted.lock().await;
        let current = last.get(room).copied().unwrap_or(0);
        if seq <= current {
            return;
        }
        for message in missing.iter().filter(|m| m.seq > current && m.seq < seq) {
            emit(node, io, room, &crate::socket::render::live_message(message, &users)).await;
        }
        emit(node, io, room, &payload).await;
        last.insert(room.to_owned(), seq);
    }
}

/// The stored messages of `room` between `after` and `before` (exclusive), waiting up
/// to [`GAP_WAIT`] for this node to have applied all of them.
async fn fill_gap(node: &Node, room: &str, after: u64, before: u64) -> Vec<StoredMessage> {
    let wanted = ((before - after - 1) as usize).min(MAX_GAP_FILL);
    let deadline = Instant::now() + GAP_WAIT;
    loop {
        let found = match node.messages.after_seq(room, after, wanted).await {
            Ok(stored) => stored.into_iter().filter(|m| m.seq < before).collect::<Vec<_>>(),
            Err(e) => {
                tracing::debug!(room, error = %e, "message gap not readable yet");
                Vec::new()
            }
        };
        if found.len() >= wanted || Instant::now() >= deadline {
            if found.len() < wanted {
                tracing::warn!(room, after, before, found = found.len(), "message gap not filled in time");
            }
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn emit(node: &Node, io: &SocketIo, room: &str, payload: &Value) {
    super::local::emit_to_room(&node.metrics, io, room, "message", payload);
    node.metrics.messages_delivered.fetch_add(1, Ordering::Relaxed);
}
