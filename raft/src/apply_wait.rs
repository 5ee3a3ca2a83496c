//! How a leader learns that its peers applied an entry, so a write is acknowledged
//! only once every live node's reads reflect it (architecture §3.1).
//!
//! One long-poll task per peer asks `/cluster/applied?min=N` for the highest index any
//! waiter needs; many writes share each poll. A waiter stops waiting for a peer as soon
//! as that peer's read lease must have run out (no answer from it for a lease plus a
//! margin): such a peer refuses authenticated reads anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::ClusterClient;
use crate::contact::Contact;
use crate::types::NodeId;

/// Extra time on top of the lease before a silent peer is given up on: covers a
/// heartbeat still in flight when the peer was last heard of.
const LEASE_MARGIN: Duration = Duration::from_millis(50);
const POLL_WAIT: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub(crate) struct PeersApplied {
    inner: Arc<Inner>,
}

struct Inner {
    client: ClusterClient,
    contact: Contact,
    lease: Duration,
    /// Highest index any waiter needs, per peer.
    wanted: Mutex<HashMap<NodeId, watch::Sender<u64>>>,
    /// Highest index each peer reported applied; bumped on every answer.
    known: watch::Sender<HashMap<NodeId, u64>>,
    pollers: Mutex<HashMap<NodeId, (String, JoinHandle<()>)>>,
}

impl PeersApplied {
    pub(crate) fn new(client: ClusterClient, contact: Contact, lease: Duration) -> Self {
        let (known, _) = watch::channel(HashMap::new());
        Self {
            inner: Arc::new(Inner {
                client,
                contact,
                lease,
                wanted: Mutex::new(HashMap::new()),
                known,
                pollers: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Wait until every peer in `peers` applied `index`, or can no longer be serving
    /// reads. `since` is when this node became leader: a peer never heard from is
    /// waited for until a lease after that.
    pub(crate) async fn wait_all(&self, index: u64, peers: &[(NodeId, String)], since: Instant) {
        for (peer, addr) in peers {
            self.want(*peer, addr, index);
        }
        let mut known = self.inner.known.subscribe();
        loop {
            let now = Instant::now();
            let mut next_deadline: Option<Instant> = None;
            {
                let applied = known.borrow_and_update();
                for (peer, _) in peers {
                    if applied.get(peer).is_some_and(|a| *a >= index) {
                        continue;
                    }
                    let heard = self.inner.contact.peer_last_answer(*peer).unwrap_or(since).max(since);
                    let gives_up_at = heard + self.inner.lease + LEASE_MARGIN;
                    if gives_up_at > now {
                        next_deadline = Some(next_deadline.map_or(gives_up_at, |d| d.min(gives_up_at)));
                    }
                }
            }
            let Some(deadline) = next_deadline else { return };
            // Re-check at least every 20 ms: a peer's last answer may move the deadline.
            let wake = deadline.min(now + Duration::from_millis(20));
            let _ = tokio::time::timeout_at(wake.into(), known.changed()).await;
        }
    }

    fn want(&self, peer: NodeId, addr: &str, index: u64) {
        let mut wanted = self.inner.wanted.lock().expect("wanted lock");
        let tx = wanted.entry(peer).or_insert_with(|| watch::channel(0).0);
        tx.send_if_modified(|w| {
            let higher = index > *w;
            if higher {
                *w = index;
            }
            higher
        });
        let rx = tx.subscribe();
        drop(wanted);
        let mut pollers = self.inner.pollers.lock().expect("pollers lock");
        let restart = match pollers.get(&peer) {
            Some((known_addr, task)) => known_addr != addr || task.is_finished(),
            None => true,
        };
        if restart {
            if let Some((_, old)) = pollers.remove(&peer) {
                old.abort();
            }
            let task = tokio::spawn(self.clone().poll(peer, addr.to_owned(), rx));
            pollers.insert(peer, (addr.to_owned(), task));
        }
    }

    async fn poll(self, peer: NodeId, addr: String, mut wanted: watch::Receiver<u64>) {
        loop {
            let want = *wanted.borrow_and_update();
            let have = self.inner.known.borrow().get(&peer).copied().unwrap_or(0);
            if have >= want {
                if wanted.changed().await.is_err() {
                    return;
                }
                continue;
            }
            match self.inner.client.applied(&addr, want, POLL_WAIT).await {
                Ok(applied) => {
                    self.inner.known.send_modify(|known| {
                        let entry = known.entry(peer).or_insert(0);
                        *entry = (*entry).max(applied);
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Stop every poller (on shutdown).
    pub(crate) fn stop(&self) {
        for (_, (_, task)) in self.inner.pollers.lock().expect("pollers lock").drain() {
            task.abort();
        }
    }
}
