//! The consensus runtime: threads of their own for Raft (openraft's core, replication,
//! the state machine, the proposer) and the cluster listener, apart from the runtime
//! that carries client sockets and REST.
//!
//! On two cores, thousands of socket tasks ready at once would otherwise put a Raft
//! RPC at the back of one shared task queue: AppendEntries answered after openraft's
//! deadline (the heartbeat interval), followers that stopped hearing their leader, and
//! elections while every node was alive. Threads of their own are scheduled by the
//! kernel next to the client workers, so consensus waits for a time slice, not for
//! the client backlog. Client-side work that arrives on the cluster listener (socket
//! events from peers, file copies) is handed back to the client runtime
//! ([`crate::Node::clients`]).

use std::future::Future;
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

use crate::Error;

/// The consensus thread and its runtime's handle.
pub(crate) struct Consensus {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Consensus {
    /// Start the consensus runtime with `threads` workers (`--consensus-threads`).
    pub(crate) fn start(threads: usize) -> Result<Self, Error> {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("consensus".into()).spawn(move || {
            // Two workers by default: one blocking moment (a sled write waiting for its
            // buffer, a state lock held by a reader) must not stop heartbeats on this
            // node. Nodes sharing a machine's cores run one (`chatctl local up`).
            let built = Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .thread_name("consensus")
                .build();
            let runtime = match built {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = handle_tx.send(Err(e));
                    return;
                }
            };
            let _ = handle_tx.send(Ok(runtime.handle().clone()));
            // Waits until `stop` (or its sender is dropped); dropping the runtime then
            // cancels what is left.
            let _ = runtime.block_on(stopped);
        })?;
        let handle =
            handle_rx.recv().map_err(|_| Error::Consensus("the thread exited at start".into()))?.map_err(Error::Io)?;
        Ok(Self { handle, stop: Some(stop), thread: Some(thread) })
    }

    /// Run `future` on the consensus thread and wait for its output.
    pub(crate) async fn run<F>(&self, future: F) -> Result<F::Output, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future).await.map_err(|e| Error::Consensus(e.to_string()))
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stop the thread once everything on it has been shut down.
    pub(crate) fn stop(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Joined off the async workers: the thread may take a moment to drop its
            // runtime, and the caller may be one of those workers.
            std::thread::spawn(move || {
                let _ = thread.join();
            });
        }
    }
}

impl Drop for Consensus {
    fn drop(&mut self) {
        self.stop_thread();
    }
}
