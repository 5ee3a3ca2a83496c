//! Emits each room's chat messages in `seq` order on this node.
//!
//! Messages reach a node from several senders (itself and every peer), each in its own
//! order. The sequencer remembers the last `seq` it emitted per room: an older or
//! repeated one is dropped (its room already saw it), and a gap is filled from the
//! message store before the newer message goes out. A message is acknowledged only
//! after every live node applied it (embedded store) or the store acknowledged it
//! (MongoDB), so the missing messages are readable by the time a later one arrives.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Mutex;

use crate::Node;

/// Most messages fetched to fill one gap; a longer gap is left to history paging.
const MAX_GAP_FILL: usize = 100;

#[derive(Clone, Default)]
pub(crate) struct Sequencer {
    last_emitted: Arc<Mutex<HashMap<String, u64>>>,
}

impl Sequencer {
    /// The payloads to emit, in order, for a message `seq` of `room` arriving now.
    pub(super) async fn admit(&self, node: &Node, room: &str, seq: u64, payload: Value) -> Vec<Value> {
        let mut last = self.last_emitted.lock().await;
        let Some(previous) = last.get(room).copied() else {
            last.insert(room.to_owned(), seq);
            return vec![payload];
        };
        if seq <= previous {
            return Vec::new();
        }
        let mut out = Vec::new();
        if seq > previous + 1 {
            let missing = ((seq - previous - 1) as usize).min(MAX_GAP_FILL);
            match node.messages.after_seq(room, previous, missing).await {
                Ok(stored) => {
                    let users = crate::socket::render::senders(node, &stored);
                    for message in stored.iter().filter(|m| m.seq < seq) {
                        out.push(crate::socket::render::live_message(message, &users));
                    }
                }
                Err(e) => tracing::warn!(room, error = %e, "could not fill a message gap from the store"),
            }
        }
        out.push(payload);
        last.insert(room.to_owned(), seq);
        out
    }
}
