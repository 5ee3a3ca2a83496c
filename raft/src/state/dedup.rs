//! Request-id deduplication: the memory that makes a retried write apply once.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::command::{Outcome, RequestId};

/// How many recent request ids are remembered. A retry comes within the write
/// deadline (5 s) of the first attempt; at 5,000 requests/s (read marks and session
/// touches are coalesced per node, so requests are mostly messages, joins and logins)
/// this window still covers 10 s.
pub const DEDUP_CAPACITY: usize = 50_000;
/// Bound on the outcomes' encoded size: a few large outcomes (a node's sockets marked
/// down, a disconnect from many rooms) must not make the memory, which every snapshot
/// carries, grow with their size.
pub const DEDUP_MAX_BYTES: usize = 8 << 20;

/// Bounded map of recently applied request ids to their outcomes. Eviction is by
/// apply order and by sizes computed from the outcomes themselves, so it is identical
/// on every replica.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<(RequestId, Outcome)>", into = "Vec<(RequestId, Outcome)>")]
pub struct Dedup {
    order: VecDeque<(RequestId, usize)>,
    outcomes: HashMap<RequestId, Outcome>,
    /// Sum of the remembered entries' sizes ([`entry_size`]).
    bytes: usize,
}

/// An entry's size: its id and its outcome as JSON (deterministic, unlike the memory
/// an allocator hands out).
fn entry_size(id: &RequestId, outcome: &Outcome) -> usize {
    id.0.len() + serde_json::to_vec(outcome).map_or(0, |json| json.len())
}

impl Dedup {
    pub fn get(&self, id: &RequestId) -> Option<&Outcome> {
        self.outcomes.get(id)
    }

    pub fn remember(&mut self, id: RequestId, outcome: Outcome) {
        if self.outcomes.contains_key(&id) {
            // A request applies once; its first outcome stands.
            return;
        }
        let size = entry_size(&id, &outcome);
        self.outcomes.insert(id.clone(), outcome);
        self.order.push_back((id, size));
        self.bytes += size;
        while self.order.len() > DEDUP_CAPACITY || (self.bytes > DEDUP_MAX_BYTES && self.order.len() > 1) {
            if let Some((old, size)) = self.order.pop_front() {
                self.outcomes.remove(&old);
                self.bytes -= size;
            }
        }
    }

    /// The remembered entries' total size, as bounded by [`DEDUP_MAX_BYTES`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl From<Vec<(RequestId, Outcome)>> for Dedup {
    fn from(entries: Vec<(RequestId, Outcome)>) -> Self {
        let mut dedup = Dedup::default();
        for (id, outcome) in entries {
            dedup.remember(id, outcome);
        }
        dedup
    }
}

impl From<Dedup> for Vec<(RequestId, Outcome)> {
    fn from(mut dedup: Dedup) -> Self {
        dedup.order.into_iter().filter_map(|(id, _)| dedup.outcomes.remove(&id).map(|outcome| (id, outcome))).collect()
    }
}
