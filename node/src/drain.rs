//! Draining a node of its clients (operations §2.2, protocol §12): the operator's way to
//! empty a node before maintenance without an election and without users noticing more
//! than a reconnect. While draining, the node
//!
//! - refuses new Socket.IO connections with 503 (`public::refuse_sockets_while_draining`),
//!   as a node cut off from its clients would, so reconnecting clients go elsewhere;
//! - answers `/api/health` with 503 `reason: "draining"`, so a load balancer takes it out
//!   of rotation;
//! - asks its sockets to move (`serverDraining {node, message}`), then disconnects the
//!   ones still there after [`MOVE_GRACE`].
//!
//! REST keeps being served, so requests in flight and pages being loaded finish. Raft is
//! untouched: a draining leader stays leader (transfer leadership separately). The state
//! is the node's own and not replicated; a restarted node takes sockets again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_raft::NodeId;
use serde_json::json;
use socketioxide::SocketIo;

/// How long sockets get to move by themselves before the node disconnects them. A
/// client that moves on `serverDraining` reconnects within its node's presence grace
/// (protocol §6.5.2), so its rooms are kept; one that waits to be disconnected still can.
pub(crate) const MOVE_GRACE: Duration = Duration::from_secs(3);

/// The event that asks a socket to reconnect to another node.
pub(crate) const DRAINING_EVENT: &str = "serverDraining";

pub(crate) struct Drain {
    draining: AtomicBool,
    /// Bumped by every start and stop, so a finished drain's late disconnect step does
    /// not act on a later one.
    generation: AtomicU64,
    io: SocketIo,
}

impl Drain {
    pub(crate) fn new(io: SocketIo) -> Self {
        Self { draining: AtomicBool::new(false), generation: AtomicU64::new(0), io }
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The sockets this node holds now.
    pub(crate) fn sockets(&self) -> usize {
        self.io.sockets().len()
    }

    /// Start draining (again): refuse new sockets, ask the current ones to move, and
    /// disconnect what is left after [`MOVE_GRACE`] unless the drain was ended first.
    /// Returns the number of sockets asked to move. Call on the client runtime (it
    /// spawns the disconnect step there).
    pub(crate) async fn start(self: &Arc<Self>, node: NodeId) -> usize {
        self.draining.store(true, Ordering::SeqCst);
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let sockets = self.sockets();
        let notice = json!({ "node": node, "message": "이 서버를 점검합니다. 다른 서버로 다시 연결합니다." });
        if let Err(e) = self.io.emit(DRAINING_EVENT, &notice).await {
            tracing::warn!(error = %e, "could not tell every socket to move");
        }
        tracing::info!(node, sockets, "draining: new sockets refused, current ones asked to move");
        let drain = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(MOVE_GRACE).await;
            if drain.is_draining() && drain.generation.load(Ordering::SeqCst) == generation {
                let left = drain.sockets();
                if left > 0 {
                    tracing::info!(node, sockets = left, "draining: disconnecting the sockets that stayed");
                    drain.io.disconnect().await.ok();
                }
            }
        });
        sockets
    }

    /// Take sockets again.
    pub(crate) fn stop(&self, node: NodeId) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.draining.store(false, Ordering::SeqCst);
        tracing::info!(node, "drain ended: sockets accepted again");
    }
}
