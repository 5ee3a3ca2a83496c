//! Room events announced by every node as it applies them (embedded store only).
//!
//! With the embedded store a message, a read mark or a reaction is a command in the
//! Raft log, and every node applies every command. So each node can tell its own
//! sockets about it straight from its state machine's applied entries, and the event
//! never has to be sent from the node that accepted it to the others: the command's
//! replication already carried it. Before this, each such event crossed the cluster
//! twice more (once per peer) as JSON over HTTP, the largest share of the cluster's
//! traffic under the 3,000-user ramp.
//!
//! The node that wrote a user's message announces it itself, once its append returned
//! (`Fanout::hold`): the sender's own copy is its acknowledgement, and must not come
//! before every live node applied the message.
//!
//! Entries are applied in log order, so a room's messages come out here in `seq`
//! order; they still pass through the [`super::sequencer`], which system and AI
//! messages (sent by their origin, see [`announced`]) share with them.
//!
//! A node that catches up by installing a snapshot applies no entries for what the
//! snapshot covers, so its sockets get no live events for those; they are in the
//! history that clients load on (re)joining, as after any reconnect. Likewise the
//! entries a node already had in its log when it started: a restarted node applies them
//! again (or for the first time) after its sockets may have connected, and announcing
//! them would replay old messages as new ones.

use std::sync::Arc;

use chat_raft::messages::{MessageCommand, MessageKind};
use chat_raft::state_machine::AppliedEntry;
use chat_raft::{Command, Outcome};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use super::Target;
use crate::socket::render;
use crate::Node;

/// Whether messages of this kind are announced on apply. System messages follow
/// `joinRoomSuccess` for the member who joins, and an AI reply follows its
/// `aiMessageComplete`; their origin sends them after those, through the fan-out.
pub(crate) fn announced(kind: MessageKind) -> bool {
    matches!(kind, MessageKind::Text | MessageKind::File)
}

/// Announce applied message-store commands to this node's sockets until `stop`; entries
/// up to `logged_at_start` (the last log index when the node started) are not announced.
pub(crate) async fn run(node: Arc<Node>, logged_at_start: u64, mut stop: watch::Receiver<bool>) {
    let mut applied = node.cluster.state_machine().subscribe();
    loop {
        let entry = tokio::select! {
            entry = applied.recv() => entry,
            _ = stop.wait_for(|s| *s) => return,
        };
        match entry {
            Ok(entry) if entry.index <= logged_at_start => {}
            Ok(entry) => announce(&node, &entry).await,
            Err(RecvError::Lagged(skipped)) => {
                // The sequencer fills a room's skipped messages from the store when its
                // next message comes; read receipts and reactions of those entries are
                // not announced live (they are in history).
                node.metrics.applied_lagged.fetch_add(skipped, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(skipped, "room announcements fell behind applied entries");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Whether this node hosts sockets in `room`, by the replicated presence index (which
/// the fan-out routes by too): most rooms have members on only some nodes, and a room
/// without any here is not worth rendering a message for.
fn hosts(node: &Node, room: &str) -> bool {
    let me = node.cluster.id();
    node.cluster.read_local(|state| state.presence.nodes_in_room(room).any(|n| n == me))
}

async fn announce(node: &Node, entry: &AppliedEntry) {
    for (command, outcome) in &entry.changes {
        let Command::Message(command) = command else { continue };
        match (command, outcome) {
            (MessageCommand::Append { message }, Outcome::MessageAppended { seq, timestamp }) => {
                if !announced(message.kind) || node.fanout.held(&message.id) || !hosts(node, &message.room) {
                    continue;
                }
                let stored = message.stored_as(*seq, *timestamp);
                node.fanout.deliver_message(node, &stored.room, stored.seq, render::live_one(node, &stored)).await;
            }
            (MessageCommand::RaiseReadMarks { notices, .. }, Outcome::ReadMarksRaised { .. }) => {
                for notice in notices.iter().filter(|n| hosts(node, &n.room)) {
                    let payload = json!({ "userId": notice.user_id, "messageIds": notice.message_ids });
                    node.fanout.emit_local(&Target::Room(notice.room.clone()), "messagesRead", &payload).await;
                }
            }
            (MessageCommand::React { message_id, .. }, Outcome::Reacted { room, reactions }) if hosts(node, room) => {
                let payload = json!({ "messageId": message_id, "reactions": reactions });
                node.fanout.emit_local(&Target::Room(room.clone()), "messageReactionUpdate", &payload).await;
            }
            _ => {}
        }
    }
}
