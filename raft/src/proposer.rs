//! Batches concurrent requests into Raft log entries.
//!
//! Every write of a node goes through one queue. A single task drains whatever has
//! queued up (up to [`MAX_BATCH`] requests and [`MAX_ENTRY_BYTES`]) into one
//! [`Proposal`], so under load many writers share one log entry, one append and one disk
//! flush; one batch is in flight at a time at once to keep the pipeline full. Idle, a
//! lone request is proposed at once.
//!
//! The byte cap keeps every entry well inside a follower's request body limit: an entry
//! a follower refuses would be sent again and again, and every write after it would
//! wait behind it. A single request that cannot fit is refused before it is queued.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

use crate::api::WriteAck;
use crate::command::{Outcome, Proposal, Request};
use crate::Error;

const MAX_BATCH: usize = 1024;
/// Largest log entry, as the requests' JSON size. The cluster listener accepts bodies
/// of 64 MiB; an append carrying a few entries this large still fits.
pub const MAX_ENTRY_BYTES: usize = 4 << 20;
/// One batch in flight per node: everything that arrives while it commits goes into the
/// next entry. With four, a node under the 3,000-user ramp proposed about one entry per
/// chat message, and the per-entry costs (a forwarded write, an append and a flush on
/// every voter, two apply polls) took most of the cores; one in flight costs a message
/// at most one commit's wait.
const MAX_IN_FLIGHT: usize = 1;
const QUEUE: usize = 65_536;

/// The outcome of one request and the log index it was committed at.
pub type Committed = Result<(u64, Outcome), Arc<Error>>;

struct Pending {
    request: Request,
    bytes: usize,
    done: oneshot::Sender<Committed>,
}

#[derive(Clone)]
pub(crate) struct Proposer {
    tx: mpsc::Sender<Pending>,
    /// Requests refused for not fitting in one entry.
    oversized: Arc<AtomicU64>,
}

/// Counts the bytes serde writes, without keeping them.
struct ByteCount(usize);

impl io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A request's size in a log entry, or an entry's in an AppendEntries body: its JSON
/// encoding (`usize::MAX` when it would not encode).
pub(crate) fn encoded_size<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    let mut count = ByteCount(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

impl Proposer {
    /// Start the batching task; `submit` commits one batch (with leader forwarding).
    pub(crate) fn start<F, Fut>(submit: F) -> (Self, JoinHandle<()>)
    where
        F: Fn(Proposal) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<WriteAck, Error>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(rx, Arc::new(submit)));
        (Self { tx, oversized: Arc::default() }, task)
    }

    pub(crate) async fn propose(&self, request: Request) -> Committed {
        let bytes = encoded_size(&request);
        if bytes > MAX_ENTRY_BYTES {
            self.oversized.fetch_add(1, Ordering::Relaxed);
            return Err(Arc::new(Error::TooLarge { bytes, max: MAX_ENTRY_BYTES }));
        }
        let (done, wait) = oneshot::channel();
        if self.tx.send(Pending { request, bytes, done }).await.is_err() {
            return Err(Arc::new(Error::Raft("proposer stopped".into())));
        }
        wait.await.unwrap_or_else(|_| Err(Arc::new(Error::Raft("proposer stopped".into()))))
    }

    /// How many requests were refused for not fitting in one log entry.
    pub(crate) fn oversized(&self) -> u64 {
        self.oversized.load(Ordering::Relaxed)
    }
}

async fn run<F, Fut>(mut rx: mpsc::Receiver<Pending>, submit: Arc<F>)
where
    F: Fn(Proposal) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<WriteAck, Error>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // A request drained that did not fit in the previous batch starts the next one.
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match rx.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        // Drain after getting a slot: while all slots are busy the queue keeps growing,
        // and the next batch takes everything that arrived meanwhile.
        let mut bytes = first.bytes;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) if bytes + next.bytes > MAX_ENTRY_BYTES => {
                    carried = Some(next);
                    break;
                }
                Ok(next) => {
                    bytes += next.bytes;
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let submit = submit.clone();
        tokio::spawn(async move {
            let (requests, waiters): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.request, p.done)).unzip();
            let result = submit(Proposal { requests }).await;
            drop(permit);
            match result {
                Ok(ack) => {
                    for (done, outcome) in waiters.into_iter().zip(ack.outcomes) {
                        let _ = done.send(Ok((ack.index, outcome)));
                    }
                }
                Err(e) => {
                    let e = Arc::new(e);
                    for done in waiters {
                        let _ = done.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::command::Command;

    /// A request of about `bytes` bytes in a log entry.
    fn request_of(bytes: usize) -> Request {
        Request::new(Command::SetRole { user_id: "x".repeat(bytes), role: crate::state::Role::User, by: None })
    }

    /// Starts a proposer whose submit records each proposal's size and answers after a
    /// short commit, so that requests queue up behind the batch in flight.
    fn recording() -> (Proposer, Arc<Mutex<Vec<usize>>>) {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let (proposer, _task) = Proposer::start(move |proposal: Proposal| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(proposal.requests.iter().map(encoded_size).sum());
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let outcomes = proposal.requests.iter().map(|_| Outcome::UserUpdated).collect();
                Ok(WriteAck { index: 1, outcomes })
            }
        });
        (proposer, sizes)
    }

    #[tokio::test]
    async fn entries_are_capped_by_bytes_and_every_request_commits() {
        let (proposer, sizes) = recording();
        let writers: Vec<_> = (0..40)
            .map(|_| {
                let proposer = proposer.clone();
                tokio::spawn(async move { proposer.propose(request_of(512 << 10)).await })
            })
            .collect();
        for writer in writers {
            assert!(writer.await.unwrap().is_ok(), "every request that fits commits");
        }
        let sizes = sizes.lock().unwrap().clone();
        assert!(sizes.iter().all(|s| *s <= MAX_ENTRY_BYTES), "entry sizes {sizes:?} over {MAX_ENTRY_BYTES}");
        assert!(sizes.len() < 40, "requests still share entries: {sizes:?}");
    }

    #[tokio::test]
    async fn a_request_that_cannot_fit_is_refused_with_a_clear_error() {
        let (proposer, sizes) = recording();
        let err = proposer.propose(request_of(MAX_ENTRY_BYTES)).await.unwrap_err();
        assert!(matches!(*err, Error::TooLarge { max: MAX_ENTRY_BYTES, .. }), "got {err}");
        assert!(err.to_string().contains("too large"), "{err}");
        assert_eq!(proposer.oversized(), 1);
        assert!(sizes.lock().unwrap().is_empty(), "nothing was proposed");
        assert!(proposer.propose(request_of(10)).await.is_ok(), "the proposer keeps working");
    }
}
