//! Rate limits of protocol §6.10: fixed-window request counters per key (client IP for
//! `GET /api/rooms`, user id for `chatMessage`), in memory and per node.
//!
//! Checking and counting happen under one lock, so concurrent requests can never both
//! take the last slot (protocol §10.7: the existing backend's read-modify-write in the
//! database could). Windows are aligned to multiples of the window length since the
//! epoch, so `X-RateLimit-Reset` is the same instant for every key. Counters of past
//! windows are dropped by a sweep that runs at most once per window, on the request
//! path, so memory stays bounded by the keys seen in one window without a task.
//!
//! With Redis configured the counters are cluster-wide: every request is also counted in
//! Redis (one atomic `INCR` per key and window), and that count decides. When Redis
//! cannot answer (down, slow: the cache's circuit), the local count decides instead,
//! so a node keeps enforcing at least its own share. The callers only see [`Decision`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chat_raft::command::Millis;
use chat_storage::Cache;

use crate::config::Config;

/// A limit: at most `limit` requests per key in each window of `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    pub limit: u64,
    pub window_ms: u64,
}

/// The outcome of one counted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub allowed: bool,
    pub limit: u64,
    /// Requests left in this window after this one.
    pub remaining: u64,
    /// When this window ends, epoch ms.
    pub reset_at: Millis,
    pub window_ms: u64,
    /// Whole seconds until the window ends (at least 1): the `Retry-After`.
    pub retry_after_s: u64,
}

impl Decision {
    /// `X-RateLimit-Reset`: the end of the window in epoch seconds, rounded up.
    pub(crate) fn reset_epoch_s(&self) -> u64 {
        self.reset_at.div_ceil(1000)
    }

    /// `X-RateLimit-Window`: the window in seconds, rounded up.
    pub(crate) fn window_s(&self) -> u64 {
        self.window_ms.div_ceil(1000)
    }
}

/// Fixed-window counters for one limit.
pub(crate) struct RateLimiter {
    /// Names the limit's counters in the shared store.
    name: &'static str,
    limit: Limit,
    inner: Mutex<Windows>,
    shared: Arc<dyn Cache>,
}

#[derive(Debug, Default)]
struct Windows {
    /// key -> (window index, requests counted in it)
    counts: HashMap<String, (u64, u64)>,
    /// The window index of the last sweep.
    swept: u64,
}

impl Windows {
    /// Add `n` to `key`'s count in `window` and return the count; counters of other
    /// windows are swept first (at most once per window).
    fn add(&mut self, key: &str, window: u64, n: u64) -> u64 {
        if self.swept != window {
            self.counts.retain(|_, (w, _)| *w == window);
            self.swept = window;
        }
        if n == 0 {
            return self.counts.get(key).map_or(0, |(_, count)| *count);
        }
        let entry = self.counts.entry(key.to_owned()).or_insert((window, 0));
        entry.1 = entry.1.saturating_add(n);
        entry.1
    }
}

impl RateLimiter {
    pub(crate) fn new(name: &'static str, limit: Limit, shared: Arc<dyn Cache>) -> Self {
        Self { name, limit, inner: Mutex::new(Windows::default()), shared }
    }

    /// Count one request of `key` at `now`, cluster-wide when the shared counters
    /// answer, and say whether it is allowed. Refused requests are counted too (they
    /// do not extend the window).
    pub(crate) async fn check(&self, key: &str, now: Millis) -> Decision {
        let local = self.check_local(key, now);
        let window_ms = self.limit.window_ms;
        match self.shared.count(self.name, key, now / window_ms, window_ms).await {
            Some(count) => self.decide(count, now),
            None => local,
        }
    }

    /// Count one request in this node's memory only. Always done, so a node falling
    /// back from Redis mid-window already knows its own requests.
    fn check_local(&self, key: &str, now: Millis) -> Decision {
        let window = now / self.limit.window_ms;
        let count = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).add(key, window, 1);
        self.decide(count, now)
    }

    fn decide(&self, count: u64, now: Millis) -> Decision {
        let Limit { limit, window_ms } = self.limit;
        let reset_at = (now / window_ms + 1) * window_ms;
        Decision {
            allowed: count <= limit,
            limit,
            remaining: limit.saturating_sub(count),
            reset_at,
            window_ms,
            retry_after_s: reset_at.saturating_sub(now).div_ceil(1000).max(1),
        }
    }

    /// Keys with a counter in memory (for tests of the sweep).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.inner.lock().unwrap().counts.len()
    }
}

/// Failed attempts (wrong login or room passwords) per key, in this node's memory:
/// only failures count, and once a key has failed `limit` times in a window every
/// attempt is refused until the window ends, before any password is hashed. Per node
/// and not shared through Redis: an attacker spreading guesses over N nodes gets N
/// times the budget, still far from what guessing needs.
pub(crate) struct Failures {
    limit: Limit,
    inner: Mutex<Windows>,
}

impl Failures {
    pub(crate) fn new(limit: Limit) -> Self {
        Self { limit, inner: Mutex::new(Windows::default()) }
    }

    /// Seconds until `key` may try again, when it used up this window's failures.
    pub(crate) fn blocked(&self, key: &str, now: Millis) -> Option<u64> {
        let window = now / self.limit.window_ms;
        let failed = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).add(key, window, 0);
        let reset_at = (window + 1) * self.limit.window_ms;
        (failed >= self.limit.limit).then(|| reset_at.saturating_sub(now).div_ceil(1000).max(1))
    }

    /// Count one failed attempt of `key`.
    pub(crate) fn record(&self, key: &str, now: Millis) {
        let window = now / self.limit.window_ms;
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).add(key, window, 1);
    }
}

/// Failed password attempts, per account and per client address (issue 12): a login's
/// account is its email, a room password's is the (room, user) pair.
pub(crate) struct PasswordFailures {
    pub account: Failures,
    pub address: Failures,
}

impl PasswordFailures {
    /// Seconds until an attempt for `account` from `address` may be made again, when
    /// either has used up its failures.
    pub(crate) fn blocked(&self, account: &str, address: &str, now: Millis) -> Option<u64> {
        let account = self.account.blocked(account, now);
        let address = self.address.blocked(address, now);
        account.max(address)
    }

    pub(crate) fn record(&self, account: &str, address: &str, now: Millis) {
        self.account.record(account, now);
        self.address.record(address, now);
    }
}

/// The node's limiters.
pub(crate) struct RateLimits {
    /// `GET /api/rooms`, per client IP.
    pub rooms: RateLimiter,
    /// `chatMessage`, per user.
    pub chat: RateLimiter,
    /// `POST /api/rooms` (a room creation is broadcast to every socket), per user.
    pub room_create: RateLimiter,
    /// `joinRoom` and `leaveRoom` events and `POST /api/rooms/:id/join` together (each
    /// is a Raft write and a room-wide broadcast), per user.
    pub membership: RateLimiter,
    /// `markMessagesAsRead`, per user. Counted in this node's memory only: a client
    /// sends one for nearly every message it receives, and a shared counter would add a
    /// Redis round trip to each.
    pub read_marks: RateLimiter,
    /// Messages that would start AI replies, per user.
    pub ai_mentions: RateLimiter,
    /// `fetchPreviousMessages`, per user, in this node's memory (a history page is
    /// served by this node alone).
    pub history: RateLimiter,
    /// `messageReaction`, per user (each is a Raft write and a broadcast).
    pub reactions: RateLimiter,
    /// Wrong login and room passwords.
    pub password_failures: PasswordFailures,
}

impl RateLimits {
    /// The limits of `config`, counted in `shared` when it answers.
    pub(crate) fn from_config(config: &Config, shared: Arc<dyn Cache>) -> Self {
        let rooms = Limit { limit: config.rooms_rate_limit, window_ms: config.rooms_rate_window_ms };
        let chat = Limit { limit: config.chat_rate_limit, window_ms: config.chat_rate_window_ms };
        let room_create = Limit { limit: config.room_create_rate_limit, window_ms: config.room_create_rate_window_ms };
        let membership = Limit { limit: config.membership_rate_limit, window_ms: config.membership_rate_window_ms };
        let read_marks = Limit { limit: config.read_mark_rate_limit, window_ms: config.read_mark_rate_window_ms };
        let ai_mentions = Limit { limit: config.ai_mention_rate_limit, window_ms: config.ai_mention_rate_window_ms };
        let history = Limit { limit: config.history_rate_limit, window_ms: config.history_rate_window_ms };
        let reactions = Limit { limit: config.reaction_rate_limit, window_ms: config.reaction_rate_window_ms };
        let failures = |limit| Failures::new(Limit { limit, window_ms: config.password_failure_window_ms });
        Self {
            rooms: RateLimiter::new("rooms", rooms, shared.clone()),
            chat: RateLimiter::new("chat", chat, shared.clone()),
            room_create: RateLimiter::new("room_create", room_create, shared.clone()),
            membership: RateLimiter::new("membership", membership, shared.clone()),
            read_marks: RateLimiter::new("read_marks", read_marks, Arc::new(chat_storage::NoCache)),
            ai_mentions: RateLimiter::new("ai_mentions", ai_mentions, shared.clone()),
            history: RateLimiter::new("history", history, Arc::new(chat_storage::NoCache)),
            reactions: RateLimiter::new("reactions", reactions, shared),
            password_failures: PasswordFailures {
                account: failures(config.password_failures_per_account),
                address: failures(config.password_failures_per_address),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use chat_storage::NoCache;

    use super::*;

    fn limiter(limit: u64, window_ms: u64) -> RateLimiter {
        RateLimiter::new("test", Limit { limit, window_ms }, Arc::new(NoCache))
    }

    #[tokio::test]
    async fn without_shared_counters_the_local_count_decides() {
        let l = limiter(1, 1_000);
        assert!(l.check("u", 5).await.allowed);
        assert!(!l.check("u", 5).await.allowed);
    }

    #[test]
    fn counts_per_key_within_a_fixed_window() {
        let l = limiter(3, 30_000);
        let now = 1_700_000_020_000; // 10 s into the window [..._010_000, ..._040_000)
        let d: Vec<Decision> = (0..4).map(|_| l.check_local("1.2.3.4", now)).collect();
        assert_eq!(d.iter().map(|d| d.allowed).collect::<Vec<_>>(), [true, true, true, false]);
        assert_eq!(d.iter().map(|d| d.remaining).collect::<Vec<_>>(), [2, 1, 0, 0]);
        assert_eq!(d[3].reset_at, 1_700_000_040_000);
        assert_eq!(d[3].reset_epoch_s(), 1_700_000_040);
        assert_eq!(d[3].retry_after_s, 20);
        assert_eq!(d[3].window_s(), 30);
        assert!(l.check_local("5.6.7.8", now).allowed, "another key has its own counter");
        let next = l.check_local("1.2.3.4", 1_700_000_040_000);
        assert!(next.allowed && next.remaining == 2, "a new window starts from zero");
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        let l = limiter(1, 1_000);
        l.check_local("u", 999);
        let refused = l.check_local("u", 999);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_s, 1);
    }

    #[test]
    fn old_windows_are_swept() {
        let l = limiter(10, 100);
        for key in ["a", "b", "c"] {
            l.check_local(key, 50);
        }
        assert_eq!(l.tracked(), 3);
        l.check_local("d", 150);
        assert_eq!(l.tracked(), 1, "only the current window's keys remain");
    }

    #[test]
    fn only_failures_count_and_a_used_up_key_waits_for_the_next_window() {
        let f = Failures::new(Limit { limit: 2, window_ms: 60_000 });
        let now = 1_699_999_990_000; // 10 s into the window [..._980_000, ..._040_000)
        assert_eq!(f.blocked("a", now), None, "checking counts nothing");
        assert_eq!(f.blocked("a", now), None);
        f.record("a", now);
        assert_eq!(f.blocked("a", now), None);
        f.record("a", now);
        assert_eq!(f.blocked("a", now), Some(50));
        assert_eq!(f.blocked("b", now), None, "another key has its own count");
        assert_eq!(f.blocked("a", 1_700_000_040_000), None, "a new window starts from zero");
    }

    #[test]
    fn password_failures_block_per_account_and_per_address() {
        let limit = |limit| Failures::new(Limit { limit, window_ms: 60_000 });
        let p = PasswordFailures { account: limit(2), address: limit(3) };
        p.record("alice", "1.1.1.1", 0);
        p.record("alice", "2.2.2.2", 0);
        assert!(p.blocked("alice", "3.3.3.3", 0).is_some(), "the account is used up from any address");
        p.record("bob", "4.4.4.4", 0);
        p.record("carol", "4.4.4.4", 0);
        p.record("dave", "4.4.4.4", 0);
        assert!(p.blocked("erin", "4.4.4.4", 0).is_some(), "the address is used up for any account");
        assert!(p.blocked("erin", "5.5.5.5", 0).is_none());
    }

    #[test]
    fn concurrent_requests_never_exceed_the_limit() {
        let l = Arc::new(limiter(1_000, 60_000));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || (0..500).filter(|_| l.check_local("user", 5).allowed).count())
            })
            .collect();
        let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(allowed, 1_000);
    }
}
