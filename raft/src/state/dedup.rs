//! Request-id deduplication: the memory that makes a retried write apply once.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::command::{Outcome, RequestId};

/// How many recent request ids are remembered. A retry arrives within seconds of the
/// first attempt; at 5,000 writes/s this window still covers 20 s.
pub const DEDUP_CAPACITY: usize = 100_000;

/// Bounded map of recently applied request ids to their outcomes. Eviction is by
/// apply order, so it is identical on every replica.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<(RequestId, Outcome)>", into = "Vec<(RequestId, Outcome)>")]
pub struct Dedup {
    order: VecDeque<RequestId>,
    outcomes: HashMap<RequestId, Outcome>,
}

impl Dedup {
    pub fn get(&self, id: &RequestId) -> Option<&Outcome> {
        self.outcomes.get(id)
    }

    pub fn remember(&mut self, id: RequestId, outcome: Outcome) {
        if self.outcomes.insert(id.clone(), outcome).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > DEDUP_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.outcomes.remove(&old);
            }
        }
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
        dedup.order.into_iter().filter_map(|id| dedup.outcomes.remove(&id).map(|outcome| (id, outcome))).collect()
    }
}
