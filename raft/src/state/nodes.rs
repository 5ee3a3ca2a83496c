//! Node liveness as decided by the leader's failure detector.

use super::ClusterState;
use crate::command::Outcome;
use crate::types::NodeId;

pub(super) fn mark_down(state: &mut ClusterState, node: NodeId) -> Outcome {
    if !state.down_nodes.insert(node) {
        return Outcome::Unchanged;
    }
    let sockets = state.presence.disconnect_node(node);
    Outcome::NodeMarkedDown { node, sockets }
}

pub(super) fn mark_up(state: &mut ClusterState, node: NodeId) -> Outcome {
    if state.down_nodes.remove(&node) {
        Outcome::NodeMarkedUp { node }
    } else {
        Outcome::Unchanged
    }
}
