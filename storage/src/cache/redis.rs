//! [`RedisCache`]: the [`Cache`] on Redis (optionally found through Sentinel).
//!
//! Every call is bounded by [`CALL_TIMEOUT`]. The first failure opens a circuit: Redis
//! is skipped for [`PAUSE`] (callers get "don't know" at once, so a dead or slow Redis
//! never slows a request down), the incident is logged once, and the next call after
//! the pause reconnects (asking Sentinel for the master again). Rooms whose cache
//! update failed are remembered and dropped from the cache before it is used again.
//!
//! Keys, per room: `recent:<room>` a sorted set of `StoredMessage` JSON by `seq` (the
//! newest [`MAX_PAGE`] messages), `meta:<room>` "complete" (the set holds the whole
//! room) or "partial", present iff the room is filled; `ver:<room>` counts changes, so
//! a fill that raced with a change is refused. `room-of:<id>` maps a cached message to
//! its room (read receipts name messages only). Scripts keep each step atomic.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chat_raft::messages::StoredMessage;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{RedisError, RedisResult, Script};

use super::{Cache, FillToken};
use crate::messages::MAX_PAGE;
use crate::HistoryPage;

/// The longest one Redis call may take before it counts as a failure.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(150);
/// How long Redis is skipped after a failure.
pub const PAUSE: Duration = Duration::from_secs(2);
/// How long a filled room stays cached: bounds the staleness a node that crashed
/// between a store write and its cache update could leave behind.
const ROOM_TTL_MS: u64 = 60_000;

/// Where Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// `redis://host:port[/db]`.
    Url(String),
    /// Sentinel addresses (`host:port`) and the monitored master's name.
    Sentinel { sentinels: Vec<String>, master: String },
}

/// The cache and shared counters on Redis. Cheap to share behind an `Arc`.
pub struct RedisCache {
    target: RedisTarget,
    prefix: String,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// While `Some` and in the future, Redis is not called.
    paused_until: Mutex<Option<Instant>>,
    /// Whether the current incident was logged.
    down: AtomicBool,
    /// Rooms whose cached entry may be wrong; `all` when a change could not be tied to a room.
    doubt: Mutex<Doubt>,
}

#[derive(Default)]
struct Doubt {
    rooms: HashSet<String>,
    all: bool,
}

impl RedisCache {
    /// Check the target; nothing is connected until the first call. `prefix` starts
    /// every key (e.g. `chat:`), so clusters can share a Redis.
    pub fn new(target: RedisTarget, prefix: &str) -> RedisResult<Self> {
        match &target {
            RedisTarget::Url(url) => drop(redis::Client::open(url.as_str())?),
            RedisTarget::Sentinel { sentinels, master } => {
                drop(SentinelClient::build(sentinel_urls(sentinels), master.clone(), None, SentinelServerType::Master)?)
            }
        }
        Ok(Self {
            target,
            prefix: prefix.to_owned(),
            conn: tokio::sync::Mutex::new(None),
            paused_until: Mutex::new(None),
            down: AtomicBool::new(false),
            doubt: Mutex::new(Doubt::default()),
        })
    }

    /// Whether Redis answered the last call (for tests and health).
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    /// A connection, unless the circuit is open or connecting fails.
    async fn connection(&self) -> Option<ConnectionManager> {
        if lock(&self.paused_until).is_some_and(|until| Instant::now() < until) {
            return None;
        }
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Some(conn.clone());
        }
        match tokio::time::timeout(CALL_TIMEOUT * 2, connect(&self.target)).await {
            Ok(Ok(conn)) => {
                *slot = Some(conn.clone());
                Some(conn)
            }
            Ok(Err(e)) => {
                drop(slot);
                self.failed(&e.to_string()).await;
                None
            }
            Err(_) => {
                drop(slot);
                self.failed("connect timed out").await;
                None
            }
        }
    }

    /// Run one call with the timeout and the circuit; `None` on any failure.
    async fn call<T, F, Fut>(&self, f: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = RedisResult<T>>,
    {
        let conn = self.connection().await?;
        let result = tokio::time::timeout(CALL_TIMEOUT, f(conn)).await;
        match result {
            Ok(Ok(value)) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(target: "chat::redis", "redis is back: cache and shared rate limits on again");
                }
                Some(value)
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string()).await;
                None
            }
            Err(_) => {
                self.failed("call timed out").await;
                None
            }
        }
    }

    async fn failed(&self, why: &str) {
        *lock(&self.paused_until) = Some(Instant::now() + PAUSE);
        *self.conn.lock().await = None;
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "chat::redis",
                error = why,
                "redis unavailable: serving history from the store and rate limits per node until it returns"
            );
        }
    }

    /// Drop the entries that may be wrong; `false` while that is not done (then the
    /// cache must not be read).
    async fn settle(&self) -> bool {
        let (rooms, all) = {
            let doubt = lock(&self.doubt);
            if doubt.rooms.is_empty() && !doubt.all {
                return true;
            }
            (doubt.rooms.iter().cloned().collect::<Vec<_>>(), doubt.all)
        };
        for room in &rooms {
            if !self.drop_room(room).await {
                return false;
            }
        }
        if all && !self.drop_all().await {
            return false;
        }
        let mut doubt = lock(&self.doubt);
        for room in &rooms {
            doubt.rooms.remove(room);
        }
        doubt.all &= !all;
        true
    }

    fn doubt_room(&self, room: &str) {
        lock(&self.doubt).rooms.insert(room.to_owned());
    }

    async fn drop_room(&self, room: &str) -> bool {
        let keys = [self.key("recent", room), self.key("meta", room), self.key("ver", room)];
        self.call(|mut conn| async move {
            redis::pipe()
                .atomic()
                .del(&keys[..2])
                .incr(&keys[2], 1)
                .ignore()
                .pexpire(&keys[2], DAY_MS)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
        })
        .await
        .is_some()
    }

    /// Forget every filled room (a change whose room is unknown).
    async fn drop_all(&self) -> bool {
        let pattern = self.key("meta", "*");
        self.call(|mut conn| async move {
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await?;
                if !keys.is_empty() {
                    redis::cmd("DEL").arg(&keys).query_async::<()>(&mut conn).await?;
                }
                if next == 0 {
                    return Ok::<_, RedisError>(());
                }
                cursor = next;
            }
        })
        .await
        .is_some()
    }
}

const DAY_MS: i64 = 86_400_000;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn sentinel_urls(sentinels: &[String]) -> Vec<String> {
    sentinels.iter().map(|s| if s.contains("://") { s.clone() } else { format!("redis://{s}") }).collect()
}

async fn connect(target: &RedisTarget) -> RedisResult<ConnectionManager> {
    let client = match target {
        RedisTarget::Url(url) => redis::Client::open(url.as_str())?,
        RedisTarget::Sentinel { sentinels, master } => {
            let mut sentinel =
                SentinelClient::build(sentinel_urls(sentinels), master.clone(), None, SentinelServerType::Master)?;
            sentinel.async_get_client().await?
        }
    };
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CALL_TIMEOUT))
        .set_response_timeout(Some(CALL_TIMEOUT))
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client, config).await
}

/// KEYS: recent, meta. ARGV: how many of the newest to return.
/// -> {} when the room is not filled, else {meta, json...} ascending.
const READ: &str = r"
local meta = redis.call('GET', KEYS[2])
if not meta then return {} end
local out = {meta}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], -tonumber(ARGV[1]), -1)) do out[#out + 1] = m end
return out";

/// KEYS: recent, meta, ver, room-of:<id>... ARGV: expected ver, ttl ms, meta, room,
/// then (seq, json) pairs. -> 1 when filled.
const FILL: &str = r"
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('DEL', KEYS[1])
local n = 0
for i = 5, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
  n = n + 1
  redis.call('SET', KEYS[3 + n], ARGV[4], 'PX', ARGV[2])
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
if n > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1";

/// KEYS: recent, meta, ver, room-of:<id>. ARGV: seq, json, cap, ttl ms, room.
/// Adds the message only when it directly follows the cached ones; otherwise the room
/// is dropped (a missed or reordered update must never leave a wrong page behind).
const APPEND: &str = r"
redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], 86400000)
local meta = redis.call('GET', KEYS[2])
if not meta then return 0 end
local seq = tonumber(ARGV[1])
if #redis.call('ZRANGEBYSCORE', KEYS[1], seq, seq) > 0 then return 1 end
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local follows
if #top == 0 then follows = (meta == 'complete' and seq == 1) else follows = (tonumber(top[2]) == seq - 1) end
if not follows then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 0
end
redis.call('ZADD', KEYS[1], seq, ARGV[2])
redis.call('PEXPIRE', KEYS[1], redis.call('PTTL', KEYS[2]))
redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[4])
local cap = tonumber(ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if n > cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1)
  redis.call('SET', KEYS[2], 'partial', 'KEEPTTL')
end
return 1";

/// KEYS: counter. ARGV: expiry ms. -> the count including this request.
const COUNT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n";

#[async_trait]
impl Cache for RedisCache {
    async fn recent(&self, room: &str, limit: usize) -> Option<HistoryPage> {
        if !self.settle().await || lock(&self.doubt).rooms.contains(room) {
            return None;
        }
        let (recent, meta) = (self.key("recent", room), self.key("meta", room));
        let found: Vec<String> = self
            .call(|mut conn| async move {
                Script::new(READ).key(recent).key(meta).arg(limit + 1).invoke_async(&mut conn).await
            })
            .await?;
        let (meta, entries) = found.split_first()?;
        let mut messages = Vec::with_capacity(entries.len());
        for entry in entries {
            match serde_json::from_str::<StoredMessage>(entry) {
                Ok(m) => messages.push(m),
                Err(e) => {
                    tracing::warn!(target: "chat::redis", room, error = %e, "undecodable cached message: dropping the room");
                    self.doubt_room(room);
                    return None;
                }
            }
        }
        if messages.len() > limit {
            messages.remove(0);
            Some(HistoryPage { messages, has_more: true })
        } else if meta == "complete" {
            Some(HistoryPage { messages, has_more: false })
        } else {
            None
        }
    }

    async fn begin_fill(&self, room: &str) -> Option<FillToken> {
        if !self.settle().await || lock(&self.doubt).rooms.contains(room) {
            return None;
        }
        let (meta, ver) = (self.key("meta", room), self.key("ver", room));
        let (filled, ver): (bool, Option<String>) = self
            .call(|mut conn| async move { redis::pipe().exists(meta).get(ver).query_async(&mut conn).await })
            .await?;
        (!filled).then(|| FillToken(ver.unwrap_or_else(|| "0".into())))
    }

    async fn fill(&self, room: &str, token: FillToken, page: &HistoryPage) {
        let fill = Script::new(FILL);
        let mut script = fill.prepare_invoke();
        script.key(self.key("recent", room)).key(self.key("meta", room)).key(self.key("ver", room));
        for m in &page.messages {
            script.key(self.key("room-of", &m.id));
        }
        let meta = if page.has_more || page.messages.len() >= MAX_PAGE { "partial" } else { "complete" };
        script.arg(token.0).arg(ROOM_TTL_MS).arg(meta).arg(room);
        for m in &page.messages {
            let Ok(json) = serde_json::to_string(m) else { return };
            script.arg(m.seq).arg(json);
        }
        self.call(|mut conn| async move { script.invoke_async::<i64>(&mut conn).await }).await;
    }

    async fn appended(&self, message: &StoredMessage) {
        let Ok(json) = serde_json::to_string(message) else {
            self.doubt_room(&message.room);
            return;
        };
        let room = message.room.as_str();
        let keys =
            [self.key("recent", room), self.key("meta", room), self.key("ver", room), self.key("room-of", &message.id)];
        let done = self
            .call(|mut conn| async move {
                Script::new(APPEND)
                    .key(&keys[..])
                    .arg(message.seq)
                    .arg(json)
                    .arg(MAX_PAGE)
                    .arg(ROOM_TTL_MS)
                    .arg(room)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await;
        if done.is_none() {
            self.doubt_room(room);
        }
    }

    async fn changed(&self, room: Option<&str>, message_ids: &[String]) {
        let rooms: Vec<String> = match room {
            Some(room) => vec![room.to_owned()],
            None => {
                let keys: Vec<String> = message_ids.iter().map(|id| self.key("room-of", id)).collect();
                let found = self
                    .call(|mut conn| async move {
                        redis::cmd("MGET").arg(&keys).query_async::<Vec<Option<String>>>(&mut conn).await
                    })
                    .await;
                let Some(found) = found else {
                    lock(&self.doubt).all = true;
                    return;
                };
                let unique: HashSet<String> = found.into_iter().flatten().collect();
                unique.into_iter().collect()
            }
        };
        for room in rooms {
            if !self.drop_room(&room).await {
                self.doubt_room(&room);
            }
        }
    }

    async fn count(&self, name: &str, key: &str, window: u64, window_ms: u64) -> Option<u64> {
        let counter = format!("{}rate:{name}:{window}:{key}", self.prefix);
        let expiry = window_ms + 1_000;
        self.call(|mut conn| async move { Script::new(COUNT).key(counter).arg(expiry).invoke_async(&mut conn).await })
            .await
    }
}
