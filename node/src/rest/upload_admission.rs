//! Who may upload now (issue 12): uploads in progress per user and per node.
//!
//! Why: an upload holds a connection, a staged file and disk bandwidth for as long as
//! its client takes, then a copy to a peer; without a bound one user, or many, could
//! keep any number going at once. A slot is taken when the request arrives, before any
//! byte of its body is read, and given back when the request ends, answered or not
//! (the [`UploadSlot`] guard). Slots are counted per node: an upload runs entirely on
//! the node that takes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::metrics::Limit;

/// `retryAfter` of a refused upload: about the time a large upload takes.
pub(super) const RETRY_AFTER_SECS: u64 = 5;

/// Uploads in progress on this node.
pub(crate) struct UploadSlots {
    per_user: usize,
    per_node: usize,
    busy: Arc<Mutex<Busy>>,
}

#[derive(Default)]
struct Busy {
    total: usize,
    by_user: HashMap<String, usize>,
}

/// One upload in progress; its slot is free again when this is dropped.
pub(crate) struct UploadSlot {
    busy: Arc<Mutex<Busy>>,
    user: String,
}

impl UploadSlots {
    pub(crate) fn from_config(config: &Config) -> Self {
        Self::new(config.max_uploads_per_user, config.max_uploads_per_node)
    }

    fn new(per_user: usize, per_node: usize) -> Self {
        Self { per_user, per_node, busy: Arc::default() }
    }

    /// A slot for `user`, or the limit that refuses one (the user's own first).
    pub(crate) fn try_take(&self, user: &str) -> Result<UploadSlot, Limit> {
        let mut busy = self.busy.lock().expect("upload slots poisoned");
        let mine = busy.by_user.get(user).copied().unwrap_or(0);
        if mine >= self.per_user {
            return Err(Limit::UploadsPerUser);
        }
        if busy.total >= self.per_node {
            return Err(Limit::UploadsPerNode);
        }
        busy.total += 1;
        *busy.by_user.entry(user.to_owned()).or_default() += 1;
        Ok(UploadSlot { busy: self.busy.clone(), user: user.to_owned() })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut busy = self.busy.lock().expect("upload slots poisoned");
        busy.total -= 1;
        if let Some(mine) = busy.by_user.get_mut(&self.user) {
            *mine -= 1;
            if *mine == 0 {
                busy.by_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_user_and_per_node_and_given_back() {
        let slots = UploadSlots::new(2, 3);
        let a1 = slots.try_take("a").expect("first of a");
        let _a2 = slots.try_take("a").expect("second of a");
        assert!(matches!(slots.try_take("a"), Err(Limit::UploadsPerUser)));
        let _b1 = slots.try_take("b").expect("first of b");
        assert!(matches!(slots.try_take("c"), Err(Limit::UploadsPerNode)));
        drop(a1);
        let _c1 = slots.try_take("c").expect("a slot was given back");
        assert!(matches!(slots.try_take("a"), Err(Limit::UploadsPerNode)));
    }
}
