//! `recentMessageCount` per room (protocol §3.5: messages of the last 10 minutes),
//! kept for a few seconds. Counting walks the room's messages of those 10 minutes in the
//! message store; without this a busy room was walked again for every room list and
//! room view that showed it. A count may be [`TTL`] old, less than the 10 s the room
//! list may be cached by the browser anyway.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::room_view::RoomResponse;
use crate::auth::now_ms;
use crate::Node;

/// How long a count is served before the store is walked again.
pub(crate) const TTL: Duration = Duration::from_secs(5);
/// Rooms remembered at most; when full, expired counts go, and if none had expired,
/// all (the next lists walk again: memory stays bounded whatever the number of rooms).
const MAX_ROOMS: usize = 10_000;
/// How far back `recentMessageCount` looks (protocol §3.5).
const RECENT_MS: u64 = 10 * 60 * 1000;

#[derive(Default)]
pub(crate) struct RecentCounts {
    counts: Mutex<HashMap<String, (Instant, u64)>>,
}

impl RecentCounts {
    fn cached(&self, room: &str, now: Instant) -> Option<u64> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(room).filter(|(at, _)| now.duration_since(*at) < TTL).map(|(_, count)| *count)
    }

    fn remember(&self, room: &str, count: u64, now: Instant) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= MAX_ROOMS && !counts.contains_key(room) {
            counts.retain(|_, (at, _)| now.duration_since(*at) < TTL);
            if counts.len() >= MAX_ROOMS {
                counts.clear();
            }
        }
        counts.insert(room.to_owned(), (now, count));
    }
}

/// Fill `recentMessageCount` of `rooms`, from the counts of the last [`TTL`] or else
/// from the message store (a bounded reverse scan per room, counted in
/// `chat_recent_count_scans_total`); a store error leaves the count at 0 rather than
/// failing the answer.
pub(crate) async fn fill(node: &Node, rooms: &mut [RoomResponse]) {
    let since = now_ms().saturating_sub(RECENT_MS);
    for room in rooms {
        let now = Instant::now();
        if let Some(count) = node.recent_counts.cached(&room.id, now) {
            room.recent_message_count = count;
            continue;
        }
        node.metrics.recent_count_scans.fetch_add(1, Ordering::Relaxed);
        match node.messages.count_since(&room.id, since).await {
            Ok(count) => {
                room.recent_message_count = count as u64;
                node.recent_counts.remember(&room.id, count as u64, now);
            }
            Err(e) => tracing::debug!(room = %room.id, error = %e, "recent message count unavailable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_expire_and_memory_stays_bounded() {
        let counts = RecentCounts::default();
        let start = Instant::now();
        counts.remember("r1", 7, start);
        assert_eq!(counts.cached("r1", start + TTL / 2), Some(7));
        assert_eq!(counts.cached("r1", start + TTL), None, "expired");
        assert_eq!(counts.cached("r2", start), None);
        for i in 0..MAX_ROOMS + 5 {
            counts.remember(&format!("room-{i}"), 1, start);
        }
        assert!(counts.counts.lock().unwrap().len() <= MAX_ROOMS);
    }
}
