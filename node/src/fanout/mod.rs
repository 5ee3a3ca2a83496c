//! Room-scoped and user-scoped events to sockets on every node.
//!
//! A handler says *who* should get an event ([`Target`]); the fan-out finds the nodes
//! hosting such sockets in the replicated presence index, delivers locally, and POSTs
//! the event to every other such node's cluster listener (`/cluster/fanout`), which
//! delivers it to its own sockets. No broker is on this path, so no single node or
//! service failing stops delivery between the others.
//!
//! Each peer gets one queue drained by one task, so events from this node reach a peer
//! in the order they were emitted. Chat messages additionally pass through the
//! receiving node's [`sequencer`], which emits a room's messages in `seq` order.
//!
//! With the embedded store, every node applies every message, read mark and reaction
//! itself, so most room traffic needs no POST at all: each node announces what it
//! applies to its own sockets ([`applied`]). Only system and AI messages (whose order
//! against `joinRoomSuccess` and the AI stream events their sender decides) and events
//! that are not message-store writes travel between nodes.

pub(crate) mod applied;
pub(crate) mod local;
mod peers;
pub(crate) mod sequencer;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_raft::messages::StoredMessage;
use chat_raft::NodeId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use socketioxide::SocketIo;

use crate::metrics::Metrics;
use crate::socket::render;
use crate::Node;

/// Who an event is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub(crate) enum Target {
    /// Every authenticated socket on every node (socket room `room-list`).
    AllSockets,
    /// Every socket that joined this chat room (socket room `<roomId>`).
    Room(String),
    /// Every socket of this user (socket room `user:<userId>`).
    User(String),
}

impl Target {
    /// The socket.io room that holds the target's sockets on each node.
    pub(crate) fn socket_room(&self) -> String {
        match self {
            Target::AllSockets => ROOM_LIST.to_owned(),
            Target::Room(id) => id.clone(),
            Target::User(id) => user_room(id),
        }
    }
}

/// Socket room of every authenticated socket.
pub(crate) const ROOM_LIST: &str = "room-list";

pub(crate) fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// One event on its way to the sockets of one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub target: Target,
    pub event: String,
    pub payload: Value,
    /// For chat messages: the room sequence number, so receivers emit in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The sender's applied log index when it sent the event. The receiver delivers
    /// it once it applied as much (bounded by [`APPLY_WAIT`]), so a member is never
    /// shown what its own node cannot serve yet: a follower the leader stopped waiting
    /// for (slow, not dead) otherwise emitted a message whose `markMessagesAsRead`
    /// then failed with "Invalid room" on that node (architecture §3.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<u64>,
}

/// The longest a received batch waits for this node to apply what its sender had
/// applied; past it the events are delivered anyway (a node that far behind stops
/// serving reads on its own, and its sockets should still hear the room).
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// Handle used by REST and socket handlers to emit events cluster-wide.
#[derive(Clone)]
pub(crate) struct Fanout {
    io: SocketIo,
    metrics: Arc<Metrics>,
    peers: peers::PeerQueues,
    sequencer: sequencer::Sequencer,
    /// Ids of messages this node is appending, announced here by their writer
    /// ([`Self::emit_message`]) instead of on apply ([`applied`]).
    writing: Arc<Mutex<HashSet<String>>>,
}

impl Fanout {
    pub(crate) fn new(io: SocketIo, client: chat_raft::client::ClusterClient, metrics: Arc<Metrics>) -> Self {
        Self {
            io,
            metrics: metrics.clone(),
            peers: peers::PeerQueues::new(client, metrics),
            sequencer: sequencer::Sequencer::default(),
            writing: Arc::default(),
        }
    }

    /// Note that this node is about to append message `id`. Its announcement on this
    /// node then waits for the append to return, that is, until every live node applied
    /// it: the sender's own copy is its acknowledgement, and once it has it, a history
    /// read on any node must show the message (architecture §3.1). Members on other
    /// nodes get it as their node applies it. Every `hold` is followed by
    /// [`Self::emit_message`] or [`Self::release`].
    pub(crate) fn hold(&self, id: &str) {
        self.writing.lock().expect("writing lock").insert(id.to_owned());
    }

    /// The append of a held message failed: forget it.
    pub(crate) fn release(&self, id: &str) {
        self.writing.lock().expect("writing lock").remove(id);
    }

    /// Whether this node's writer announces message `id` itself.
    pub(crate) fn held(&self, id: &str) -> bool {
        self.writing.lock().expect("writing lock").contains(id)
    }

    /// Disconnect every client socket of this node (fault injection cutting the node
    /// off from its clients); the server keeps accepting connections afterwards.
    pub(crate) async fn disconnect_all(&self) {
        if let Err(e) = self.io.disconnect().await {
            tracing::warn!(error = ?e, "disconnecting every socket");
        }
    }

    /// Emit `event` with `payload` (the event's only argument) to `target`.
    pub(crate) async fn emit(&self, node: &Node, target: Target, event: &str, payload: Value) {
        self.send(node, Envelope { target, event: event.to_owned(), payload, seq: None, applied: None }).await;
    }

    /// Emit a stored message (`message` event) to its room, in `seq` order everywhere.
    /// Users' messages in a store that every node applies are announced by each other
    /// node as it applies them ([`applied`]): nothing to send; here only the writer's
    /// own node emits a message it held back ([`Self::hold`]).
    pub(crate) async fn emit_message(&self, node: &Node, message: &StoredMessage) {
        let held = self.writing.lock().expect("writing lock").remove(&message.id);
        if node.announces_on_apply() && applied::announced(message.kind) {
            if held {
                // Held back from the announcement on apply (see `hold`); the sequencer
                // drops it if the announcer got there first after all.
                self.deliver_message(node, &message.room, message.seq, render::live_one(node, message)).await;
            }
            return;
        }
        let envelope = Envelope {
            target: Target::Room(message.room.clone()),
            event: "message".into(),
            payload: render::live_one(node, message),
            seq: Some(message.seq),
            applied: None,
        };
        self.send(node, envelope).await;
    }

    async fn send(&self, node: &Node, envelope: Envelope) {
        let envelope = Envelope { applied: Some(node.cluster.applied_index()), ..envelope };
        let me = node.cluster.id();
        // One snapshot of the membership per event, not one per peer.
        let members = node.cluster.members();
        for peer in self.nodes_for(node, &envelope.target) {
            if peer == me {
                continue;
            }
            if let Some(addr) = members.get(&peer) {
                self.peers.push(peer, &addr.cluster, envelope.clone());
            }
        }
        self.deliver(node, envelope).await;
    }

    /// The nodes that host sockets of `target`, from the replicated presence index.
    fn nodes_for(&self, node: &Node, target: &Target) -> BTreeSet<NodeId> {
        match target {
            Target::AllSockets => node.cluster.members().into_keys().collect(),
            Target::Room(room) => node.cluster.read_local(|s| s.presence.nodes_in_room(room).collect()),
            Target::User(user) => {
                node.cluster.read_local(|s| s.presence.sockets_of_user(user).map(|s| s.node).collect())
            }
        }
    }

    /// Deliver an envelope to this node's own sockets.
    pub(crate) async fn deliver(&self, node: &Node, envelope: Envelope) {
        match envelope.seq {
            Some(seq) => {
                let room = envelope.target.socket_room();
                self.deliver_message(node, &room, seq, envelope.payload).await;
            }
            None => self.emit_local(&envelope.target, &envelope.event, &envelope.payload).await,
        }
    }

    /// Emit message `seq` of `room` to this node's sockets, in `seq` order.
    pub(crate) async fn deliver_message(&self, node: &Node, room: &str, seq: u64, payload: Value) {
        self.sequencer.admit(node, &self.io, room, seq, payload).await;
    }

    /// Emit an event to `target`'s sockets on this node only.
    pub(crate) async fn emit_local(&self, target: &Target, event: &str, payload: &Value) {
        local::emit_to_room(&self.metrics, &self.io, &target.socket_room(), event, payload);
    }

    /// Bytes this node's fan-out sent to and received from peers.
    pub(crate) fn traffic(&self) -> &chat_raft::client::Traffic {
        self.peers.client().traffic()
    }

    /// Stop the peer queues (on shutdown).
    pub(crate) fn stop(&self) {
        self.peers.stop();
    }
}

/// Deliver a batch received from another node, in order.
pub(crate) async fn receive(node: Arc<Node>, batch: Vec<Envelope>) {
    if let Some(needed) = batch.iter().filter_map(|e| e.applied).max() {
        let applied = node.cluster.wait_applied(needed, APPLY_WAIT).await;
        if applied < needed {
            tracing::warn!(needed, applied, "delivering peer events before this node applied what they follow");
        }
    }
    for envelope in batch {
        node.fanout.deliver(&node, envelope).await;
    }
}
