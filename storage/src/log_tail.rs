//! The newest Raft log entries, kept decoded in memory beside the sled log.
//!
//! Almost every read of the log is of entries written moments ago: the leader's
//! replication streams send each new entry to every follower, and every node's state
//! machine applies it right after it is flushed. Decoding each of those reads from sled's
//! JSON again cost a busy node more than the append itself. The tail holds the last
//! entries written (bounded by count and by encoded bytes) and answers a read only when
//! it holds the whole range; anything else is read from sled as before.
//!
//! The tail mirrors the log's end: every append, truncation and purge of the store
//! passes through it, so its newest entry is always the log's last one.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};

/// Entries kept at most: several seconds of a busy leader's entries (70 to 110 a
/// second on the 3,000-user ramp), far more than a follower in good health lags.
const MAX_ENTRIES: usize = 1_024;
/// Encoded bytes kept at most (an entry can batch many writes). A lagging follower's
/// catch-up reads older entries from sled instead.
const MAX_BYTES: usize = 8 << 20;

/// The last entries of the log, in index order with no gaps.
#[derive(Debug)]
pub(crate) struct LogTail<E> {
    entries: VecDeque<Cached<E>>,
    bytes: usize,
}

#[derive(Debug)]
struct Cached<E> {
    index: u64,
    entry: E,
    encoded_len: usize,
}

impl<E> Default for LogTail<E> {
    fn default() -> Self {
        Self { entries: VecDeque::new(), bytes: 0 }
    }
}

impl<E: Clone> LogTail<E> {
    /// Record an entry just written at `index` (`encoded_len`: its size in sled).
    ///
    /// An index at or below the newest one replaces the tail from there on (openraft
    /// truncates a conflicting suffix before appending); an index past the next one
    /// (the log restarting after a snapshot) starts the tail over, so it never has gaps.
    pub fn push(&mut self, index: u64, entry: E, encoded_len: usize) {
        match self.last_index() {
            Some(last) if index <= last => self.truncate(index),
            Some(last) if index != last + 1 => self.clear(),
            _ => {}
        }
        self.bytes += encoded_len;
        self.entries.push_back(Cached { index, entry, encoded_len });
        while self.entries.len() > MAX_ENTRIES || (self.bytes > MAX_BYTES && self.entries.len() > 1) {
            self.pop_front();
        }
    }

    /// Forget entries at `index` and after (the log was truncated there).
    pub fn truncate(&mut self, index: u64) {
        while self.entries.back().is_some_and(|c| c.index >= index) {
            let dropped = self.entries.pop_back().expect("checked non-empty");
            self.bytes -= dropped.encoded_len;
        }
    }

    /// Forget entries at `index` and before (the log was purged up to there).
    pub fn purge(&mut self, index: u64) {
        while self.entries.front().is_some_and(|c| c.index <= index) {
            self.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Copies of the entries in `range`, or `None` unless the tail holds all of them.
    /// An unbounded start is never answered here: only sled knows where the log begins.
    pub fn read(&self, range: &impl RangeBounds<u64>) -> Option<Vec<E>> {
        let first = self.entries.front()?.index;
        let last = self.last_index()?;
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.checked_add(1)?,
            Bound::Unbounded => return None,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.checked_sub(1)?,
            Bound::Unbounded => last,
        };
        if end < start {
            return Some(Vec::new());
        }
        if start < first || end > last {
            return None;
        }
        let from = usize::try_from(start - first).ok()?;
        let to = usize::try_from(end - first).ok()?;
        Some(self.entries.range(from..=to).map(|c| c.entry.clone()).collect())
    }

    fn last_index(&self) -> Option<u64> {
        self.entries.back().map(|c| c.index)
    }

    fn pop_front(&mut self) {
        if let Some(dropped) = self.entries.pop_front() {
            self.bytes -= dropped.encoded_len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(indexes: std::ops::RangeInclusive<u64>) -> LogTail<u64> {
        let mut tail = LogTail::default();
        for i in indexes {
            tail.push(i, i, 10);
        }
        tail
    }

    #[test]
    fn answers_only_ranges_it_holds_entirely() {
        let tail = tail_of(5..=9);
        assert_eq!(tail.read(&(5..=9)), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(tail.read(&(6..8)), Some(vec![6, 7]));
        assert_eq!(tail.read(&(7..)), Some(vec![7, 8, 9]));
        assert_eq!(tail.read(&(7..7)), Some(vec![]));
        assert_eq!(tail.read(&(4..=6)), None, "index 4 is only in sled");
        assert_eq!(tail.read(&(8..=10)), None, "index 10 does not exist");
        assert_eq!(tail.read(&(..=6)), None, "an open start is sled's to answer");
        assert_eq!(LogTail::<u64>::default().read(&(1..=1)), None);
    }

    #[test]
    fn overwrites_truncates_and_purges_like_the_log() {
        let mut tail = tail_of(1..=5);
        tail.push(4, 40, 10);
        assert_eq!(tail.read(&(1..)), Some(vec![1, 2, 3, 40]), "an append at 4 replaced 4 and 5");
        tail.truncate(3);
        assert_eq!(tail.read(&(1..)), Some(vec![1, 2]));
        tail.purge(1);
        assert_eq!(tail.read(&(1..)), None);
        assert_eq!(tail.read(&(2..)), Some(vec![2]));
        tail.push(100, 100, 10);
        assert_eq!(tail.read(&(2..)), None, "a gap starts the tail over");
        assert_eq!(tail.read(&(100..)), Some(vec![100]));
        assert_eq!(tail.bytes, 10);
    }

    #[test]
    fn stays_within_its_bounds() {
        let mut tail = tail_of(1..=(MAX_ENTRIES as u64 + 10));
        assert_eq!(tail.entries.len(), MAX_ENTRIES);
        assert_eq!(tail.read(&(11..=11)), Some(vec![11]));
        assert_eq!(tail.read(&(10..=10)), None);
        tail.push(MAX_ENTRIES as u64 + 11, 0, MAX_BYTES);
        assert_eq!(tail.entries.len(), 1, "one huge entry pushes out everything else");
        assert_eq!(tail.bytes, MAX_BYTES);
    }
}
