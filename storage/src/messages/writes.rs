//! [`Writes`]: the effects of applied commands on their way to sled, readable before
//! they get there.
//!
//! Every sled batch costs two writes to the log file: sled seals its I/O buffer before
//! and after pinning the batch (`PageCache::pin_log`), and each sealed buffer is one
//! `pwrite` plus one `sync_file_range`. One batch per command made that about a
//! thousand system calls a second per node at 250 messages a second (`perf stat`,
//! README "Build 8"). The state machine now hands a whole `apply` call's commands to
//! the store as one group ([`MessageApplier::begin_group`]), and their writes go to
//! sled as one batch when the group ends. Later commands of the group read what
//! earlier ones wrote from here.
//!
//! [`MessageApplier::begin_group`]: chat_raft::messages::MessageApplier::begin_group

use std::collections::HashMap;

/// Keys and values to insert, the last write of a key winning (a batch is atomic, so
/// the order within it does not matter).
#[derive(Debug, Default)]
pub(super) struct Writes(HashMap<Vec<u8>, Vec<u8>>);

impl Writes {
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.0.insert(key.into(), value.into());
    }

    /// The value written to `key` since the batch began, if any.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.0.get(key).map(Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (key, value) in self.0 {
            batch.insert(key, value);
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_write_of_a_key_wins_and_is_readable() {
        let mut writes = Writes::default();
        writes.insert(b"k".to_vec(), b"1".to_vec());
        writes.insert(b"k".to_vec(), b"2".to_vec());
        assert_eq!(writes.get(b"k"), Some(&b"2"[..]));
        assert_eq!(writes.get(b"other"), None);
        let tree = sled::Config::new().temporary(true).open().expect("temporary sled");
        tree.apply_batch(writes.into_batch()).expect("batch");
        assert_eq!(tree.get(b"k").expect("read").as_deref(), Some(&b"2"[..]));
    }
}
