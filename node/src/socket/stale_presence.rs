//! This node's stale presence, cleared at start (issue 12). A socket's presence entry
//! is removed by a task that waits `--leave-grace-ms` after its disconnect; a process
//! that dies (or restarts within the leader's node-down grace) takes those tasks with
//! it, and its old sockets would stay in the replicated presence for good: counted
//! against `--max-sockets-per-user`, routed to by the fan-out, and keeping their users
//! "in" rooms. Socket ids are never reused by a new process, so every entry of this
//! node that is not one of its live sockets is a leftover of an earlier run.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chat_raft::state::SocketRef as PresenceSocket;
use socketioxide::SocketIo;
use tokio::sync::watch;

use super::session_user::SocketUser;
use crate::Node;

/// How often to try again while the replica is not caught up.
const RETRY: Duration = Duration::from_secs(1);

/// Wait for the replica to catch up, then, after the leave grace (a user whose tab
/// reconnects elsewhere meanwhile keeps their rooms), forget every socket of this node
/// in the presence state that is not connected here, as a disconnect would. Returns at
/// `stop`.
pub(crate) async fn clear(node: Arc<Node>, io: SocketIo, mut stop: watch::Receiver<bool>) {
    let work = async {
        let stale = loop {
            let me = node.cluster.id();
            let read = node.cluster.read(|state| {
                state
                    .presence
                    .sockets_on_node(me)
                    .map(|(socket, info)| {
                        let name = state.users.get(&info.user_id).map(|u| u.name.clone()).unwrap_or_default();
                        let user =
                            SocketUser { user_id: info.user_id.clone(), session_id: info.session_id.clone(), name };
                        (socket.clone(), user)
                    })
                    .collect::<Vec<(PresenceSocket, SocketUser)>>()
            });
            match read.await {
                Ok(found) => break found,
                Err(_) => tokio::time::sleep(RETRY).await,
            }
        };
        let live: HashSet<String> = io.sockets().iter().map(|s| s.id.to_string()).collect();
        let stale: Vec<_> = stale.into_iter().filter(|(socket, _)| !live.contains(&socket.socket)).collect();
        if stale.is_empty() {
            return;
        }
        tracing::info!(sockets = stale.len(), "clearing presence left by an earlier run of this node");
        tokio::time::sleep(Duration::from_millis(node.config.leave_grace_ms)).await;
        for (socket, user) in stale {
            super::rooms::forget(&node, socket, &user).await;
        }
    };
    tokio::select! {
        () = work => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}
