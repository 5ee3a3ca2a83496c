//! Who heard from whom, and when: the facts behind read leases, write
//! acknowledgement and failure detection. Also the switch for network fault
//! injection, which the network layers on both sides consult.
//!
//! - A follower records every successful AppendEntries from its leader with the
//!   leader's commit index. It is *fresh* while that contact is younger than the lease
//!   and it has applied what the leader had committed then.
//! - A leader records the last successful RPC answer from each peer. A peer it has not
//!   reached for longer than a lease cannot be serving reads any more, so a write need
//!   not wait for it to apply.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::types::NodeId;

#[derive(Clone, Default)]
pub struct Contact {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    peers: Mutex<HashMap<NodeId, Instant>>,
    leader: Mutex<Option<LeaderContact>>,
    isolated: AtomicBool,
    clients_blocked: AtomicBool,
}

/// The last AppendEntries this node accepted from a leader.
#[derive(Debug, Clone, Copy)]
pub struct LeaderContact {
    pub at: Instant,
    pub leader: NodeId,
    pub term: u64,
    /// The leader's commit index carried by that request.
    pub commit: u64,
}

impl Contact {
    /// A peer answered one of our RPCs.
    pub fn peer_answered(&self, peer: NodeId) {
        self.inner.peers.lock().expect("contact lock").insert(peer, Instant::now());
    }

    /// When `peer` last answered one of our RPCs.
    pub fn peer_last_answer(&self, peer: NodeId) -> Option<Instant> {
        self.inner.peers.lock().expect("contact lock").get(&peer).copied()
    }

    /// This node accepted an AppendEntries from `leader`.
    pub fn leader_heard(&self, leader: NodeId, term: u64, commit: u64) {
        let mut last = self.inner.leader.lock().expect("contact lock");
        *last = Some(LeaderContact { at: Instant::now(), leader, term, commit });
    }

    pub fn last_leader_contact(&self) -> Option<LeaderContact> {
        *self.inner.leader.lock().expect("contact lock")
    }

    /// Fault injection: cut this node off from its peers (both directions).
    pub fn set_isolated(&self, isolated: bool, clients: bool) {
        self.inner.isolated.store(isolated, Ordering::SeqCst);
        self.inner.clients_blocked.store(isolated && clients, Ordering::SeqCst);
    }

    pub fn is_isolated(&self) -> bool {
        self.inner.isolated.load(Ordering::SeqCst)
    }

    /// Fault injection: whether the public listener must refuse clients.
    pub fn clients_blocked(&self) -> bool {
        self.inner.clients_blocked.load(Ordering::SeqCst)
    }
}
