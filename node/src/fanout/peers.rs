//! One ordered queue per peer: events for a node are POSTed in batches by a single
//! task, so they arrive in the order they were emitted here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_raft::client::ClusterClient;
use chat_raft::NodeId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Envelope;
use crate::metrics::Metrics;

const QUEUE: usize = 50_000;
const MAX_BATCH: usize = 512;
const ATTEMPTS: usize = 3;

#[derive(Clone)]
pub(super) struct PeerQueues {
    client: ClusterClient,
    metrics: Arc<Metrics>,
    queues: Arc<Mutex<HashMap<NodeId, Queue>>>,
}

struct Queue {
    addr: String,
    tx: mpsc::Sender<Envelope>,
    task: JoinHandle<()>,
}

impl PeerQueues {
    pub(super) fn new(client: ClusterClient, metrics: Arc<Metrics>) -> Self {
        Self { client, metrics, queues: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// Queue an envelope for `peer`. A full queue (peer far behind or gone) drops the
    /// event: receivers recover missed messages from history, never from this queue.
    pub(super) fn push(&self, peer: NodeId, addr: &str, envelope: Envelope) {
        let mut queues = self.queues.lock().expect("fan-out queues lock");
        let stale = queues.get(&peer).is_none_or(|q| q.addr != addr || q.task.is_finished());
        if stale {
            let (tx, rx) = mpsc::channel(QUEUE);
            let task = tokio::spawn(drain(self.client.clone(), self.metrics.clone(), peer, addr.to_owned(), rx));
            if let Some(old) = queues.insert(peer, Queue { addr: addr.to_owned(), tx, task }) {
                old.task.abort();
            }
        }
        if queues[&peer].tx.try_send(envelope).is_err() {
            tracing::warn!(peer, "fan-out queue full; event dropped");
        }
    }

    pub(super) fn client(&self) -> &ClusterClient {
        &self.client
    }

    pub(super) fn stop(&self) {
        for (_, queue) in self.queues.lock().expect("fan-out queues lock").drain() {
            queue.task.abort();
        }
    }
}

async fn drain(
    client: ClusterClient,
    metrics: Arc<Metrics>,
    peer: NodeId,
    addr: String,
    mut rx: mpsc::Receiver<Envelope>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        for attempt in 1..=ATTEMPTS {
            let began = std::time::Instant::now();
            let sent: Result<chat_raft::api::AdminOk, _> =
                client.post(&addr, "/cluster/fanout", &batch, Duration::from_secs(5)).await;
            match sent {
                Ok(_) => {
                    metrics.fanout_latency.observe(began.elapsed());
                    break;
                }
                Err(e) if attempt == ATTEMPTS => {
                    tracing::warn!(peer, error = %e, events = batch.len(), "fan-out to peer failed; events dropped");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50 * attempt as u64)).await,
            }
        }
    }
}
