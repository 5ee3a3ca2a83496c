//! The drill's stand-in for the load balancer: which nodes new connections and probe
//! writes may use, which node is being drained (its clients move elsewhere once their
//! current request is answered), and how many load clients each node holds.
//!
//! A real balancer takes a node out of rotation when its health check fails; the
//! drill knows when it breaks a node, so it takes the node out at once instead of
//! waiting for a health check to notice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chat_raft::NodeId;

#[derive(Debug, Clone, Default)]
pub struct Balancer {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    out: BTreeSet<NodeId>,
    draining: BTreeSet<NodeId>,
    clients_on: BTreeMap<NodeId, usize>,
}

impl Balancer {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().expect("balancer lock")
    }

    /// No new connections or probe writes go to `node` (it is killed, paused, cut off).
    pub fn take_out(&self, node: NodeId) {
        self.state().out.insert(node);
    }

    /// Out of rotation, and its clients move away after their current request.
    pub fn drain(&self, node: NodeId) {
        let mut state = self.state();
        state.out.insert(node);
        state.draining.insert(node);
    }

    /// Back in rotation.
    pub fn restore(&self, node: NodeId) {
        let mut state = self.state();
        state.out.remove(&node);
        state.draining.remove(&node);
    }

    pub fn is_out(&self, node: NodeId) -> bool {
        self.state().out.contains(&node)
    }

    pub fn is_draining(&self, node: NodeId) -> bool {
        self.state().draining.contains(&node)
    }

    /// The order in which to try `nodes` for a new connection: from `preferred` on,
    /// nodes in rotation first, then the others (a balancer with every node out
    /// still forwards somewhere).
    pub fn rotation(&self, nodes: &[NodeId], preferred: usize) -> Vec<NodeId> {
        let state = self.state();
        let n = nodes.len();
        let ordered = (0..n).map(|i| nodes[(preferred + i) % n]);
        let (mut inside, outside): (Vec<NodeId>, Vec<NodeId>) = ordered.partition(|id| !state.out.contains(id));
        inside.extend(outside);
        inside
    }

    /// A load client is now connected to `node`.
    pub fn attached(&self, node: NodeId) {
        *self.state().clients_on.entry(node).or_default() += 1;
    }

    /// A load client left `node`.
    pub fn detached(&self, node: NodeId) {
        if let Some(count) = self.state().clients_on.get_mut(&node) {
            *count = count.saturating_sub(1);
        }
    }

    /// Load clients connected to `node` now.
    pub fn clients_on(&self, node: NodeId) -> usize {
        self.state().clients_on.get(&node).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_starts_at_the_preferred_node_and_puts_nodes_out_last() {
        let b = Balancer::default();
        assert_eq!(b.rotation(&[1, 2, 3], 1), vec![2, 3, 1]);
        b.take_out(3);
        assert_eq!(b.rotation(&[1, 2, 3], 1), vec![2, 1, 3]);
        b.drain(2);
        assert!(b.is_draining(2) && b.is_out(2) && !b.is_draining(3));
        assert_eq!(b.rotation(&[1, 2, 3], 1), vec![1, 2, 3]);
        b.restore(2);
        b.restore(3);
        assert_eq!(b.rotation(&[1, 2, 3], 2), vec![3, 1, 2]);
        b.attached(1);
        b.attached(1);
        b.detached(1);
        assert_eq!(b.clients_on(1), 1);
    }
}
