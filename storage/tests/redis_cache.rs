//! The Redis cache in front of the message store, against a real `redis-server` started
//! on a free loopback port: the conformance suite through [`CachedMessageStore`], pages
//! from the cache equal to the store's, and Redis killed and restarted mid-test (the
//! store answers meanwhile, the cache is used again once Redis is back), shared counters,
//! and Redis found through a Sentinel (`redis-server --sentinel`).

use std::net::{Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use chat_raft::messages::ReadMark;
use chat_storage::messages::conformance::{self, random_id, text};
use chat_storage::{Cache, CachedMessageStore, MessageStore, RedisCache, RedisTarget};
use chat_tests::redis::TestRedis;

mod single_node;

/// A client of a test's `redis-server`.
async fn client(redis: &TestRedis) -> Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(redis.url())?.get_multiplexed_async_connection().await?)
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn MessageStore>,
    cache: Arc<RedisCache>,
    cached: CachedMessageStore,
}

async fn setup(redis: &TestRedis) -> Result<Setup> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn MessageStore> = Arc::new(single_node::start(dir.path(), true).await?);
    let cache = Arc::new(RedisCache::new(RedisTarget::Url(redis.url()), "t:")?);
    let cached = CachedMessageStore::new(store.clone(), cache.clone() as Arc<dyn Cache>);
    Ok(Setup { _dir: dir, store, cache, cached })
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await? {
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_store_passes_the_conformance_suite() -> Result<()> {
    let Some(redis) = TestRedis::start("cached_store_passes_the_conformance_suite")? else { return Ok(()) };
    let s = setup(&redis).await?;
    conformance::run_all(&s.cached).await?;
    ensure!(s.cache.is_up(), "redis stayed up");
    // The cache is updated by the writer after the store: its writes must be announced
    // by the writer too, even over a store that every node applies.
    ensure!(s.store.applied_everywhere() && !s.cached.applied_everywhere());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_page_comes_from_the_cache_and_equals_the_stores() -> Result<()> {
    let Some(redis) = TestRedis::start("the_first_page_comes_from_the_cache_and_equals_the_stores")? else {
        return Ok(());
    };
    let s = setup(&redis).await?;
    let mut conn = client(&redis).await?;
    let room = random_id();
    let mut ids = Vec::new();
    for i in 0..130 {
        ids.push(s.cached.append(text(&room, 1_000, &format!("m{i}"))).await?.id);
    }
    let recent = format!("t:recent:{room}");

    let first = s.cached.history(&room, None, 30).await?;
    ensure!(first == s.store.history(&room, None, 30).await?, "a filled page equals the store's");
    let cached: usize = redis::cmd("ZCARD").arg(&recent).query_async(&mut conn).await?;
    ensure!(cached == 100, "the room is filled with its newest 100 messages (got {cached})");

    // Served from the cache now: equal again, and still after appends (write-through).
    for i in 0..5 {
        ids.push(s.cached.append(text(&room, 1_000, &format!("n{i}"))).await?.id);
        let page = s.cached.history(&room, None, 50).await?;
        ensure!(page == s.store.history(&room, None, 50).await?, "a cached page after an append equals the store's");
        ensure!(page.has_more && page.messages.last().map(|m| m.id.as_str()) == ids.last().map(String::as_str));
    }
    let cached: usize = redis::cmd("ZCARD").arg(&recent).query_async(&mut conn).await?;
    ensure!(cached == 100, "appends keep the cache capped (got {cached})");

    // Older pages go to the store.
    let oldest = first.messages[0].timestamp;
    ensure!(s.cached.history(&room, Some(oldest), 40).await? == s.store.history(&room, Some(oldest), 40).await?);

    // Readers are derived from the store's watermarks at read time, so a read mark
    // shows in the next cached page; a reaction drops the room, which is then refilled.
    let last = ids.last().cloned().context("ids")?;
    let seq = s.store.get(&last).await?.context("last stored")?.seq;
    s.cached.mark_read(&[ReadMark { room: room.clone(), user_id: "reader".into(), seq, at: 5_000 }], &[]).await?;
    let page = s.cached.history(&room, None, 10).await?;
    ensure!(page == s.store.history(&room, None, 10).await?, "a read receipt shows in the next page");
    ensure!(page.messages.last().is_some_and(|m| !m.readers.is_empty()));
    s.cached.react(&last, "👍", "u1", true).await?;
    let page = s.cached.history(&room, None, 10).await?;
    ensure!(page == s.store.history(&room, None, 10).await?, "a reaction shows in the next page");

    // A small room is cached whole: has_more stays exact.
    let small = random_id();
    for i in 0..3 {
        s.cached.append(text(&small, 1_000, &format!("s{i}"))).await?;
    }
    for limit in [2, 3, 10] {
        s.cached.history(&small, None, limit).await?;
        ensure!(s.cached.history(&small, None, limit).await? == s.store.history(&small, None, limit).await?);
    }
    s.cached.append(text(&small, 1_000, "s3")).await?;
    ensure!(s.cached.history(&small, None, 10).await? == s.store.history(&small, None, 10).await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_answers_while_redis_is_down_and_the_cache_returns_with_it() -> Result<()> {
    let Some(mut redis) = TestRedis::start("the_store_answers_while_redis_is_down_and_the_cache_returns_with_it")?
    else {
        return Ok(());
    };
    let s = setup(&redis).await?;
    let room = random_id();
    for i in 0..20 {
        s.cached.append(text(&room, 1_000, &format!("m{i}"))).await?;
    }
    s.cached.history(&room, None, 10).await?;
    ensure!(s.cache.is_up());

    redis.kill();
    for i in 0..10 {
        let started = Instant::now();
        s.cached.append(text(&room, 1_000, &format!("down{i}"))).await?;
        let page = s.cached.history(&room, None, 10).await?;
        ensure!(page == s.store.history(&room, None, 10).await?, "the store answers while redis is down");
        ensure!(s.cache.count("rooms", "ip", 1, 60_000).await.is_none(), "no shared count while down");
        ensure!(started.elapsed() < Duration::from_secs(2), "a dead redis does not stall requests");
    }
    ensure!(!s.cache.is_up(), "the outage was noticed");

    redis.restart()?;
    wait_for("the cache to be used again", async || Ok(s.cache.count("rooms", "ip", 1, 60_000).await.is_some()))
        .await?;
    ensure!(s.cache.is_up());
    let page = s.cached.history(&room, None, 10).await?;
    ensure!(page == s.store.history(&room, None, 10).await?);
    let mut conn = client(&redis).await?;
    let filled: bool = redis::cmd("EXISTS").arg(format!("t:meta:{room}")).query_async(&mut conn).await?;
    ensure!(filled, "the room was filled again after redis returned");
    s.cached.append(text(&room, 1_000, "back")).await?;
    ensure!(s.cached.history(&room, None, 10).await? == s.store.history(&room, None, 10).await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_counters_count_across_caches() -> Result<()> {
    let Some(redis) = TestRedis::start("shared_counters_count_across_caches")? else { return Ok(()) };
    let a = RedisCache::new(RedisTarget::Url(redis.url()), "t:")?;
    let b = RedisCache::new(RedisTarget::Url(redis.url()), "t:")?;
    let mut counts = Vec::new();
    for cache in [&a, &b, &a, &b] {
        counts.push(cache.count("rooms", "1.2.3.4", 7, 30_000).await.context("redis answers")?);
    }
    ensure!(counts == [1, 2, 3, 4], "one counter for both nodes: {counts:?}");
    ensure!(a.count("rooms", "1.2.3.4", 8, 30_000).await == Some(1), "a new window starts from zero");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_is_found_through_sentinel() -> Result<()> {
    let Some(redis) = TestRedis::start("redis_is_found_through_sentinel")? else { return Ok(()) };
    // A Sentinel (redis-server in sentinel mode) monitoring our server as `mymaster`;
    // it rewrites its configuration file, so the file lives in a temporary directory.
    let dir = tempfile::tempdir()?;
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!("port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {} 1\n", redis.port()),
    )?;
    let child = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting redis-server --sentinel")?;
    let _sentinel = TestRedis::adopt(port, child);
    let target = RedisTarget::Sentinel { sentinels: vec![format!("127.0.0.1:{port}")], master: "mymaster".into() };
    let cache = RedisCache::new(target, "t:")?;
    wait_for("the sentinel to name the master", async || Ok(cache.count("rooms", "ip", 1, 60_000).await.is_some()))
        .await?;
    let mut conn = client(&redis).await?;
    let counted: u64 = redis::cmd("GET").arg("t:rate:rooms:1:ip").query_async(&mut conn).await?;
    ensure!(counted >= 1, "the count went to the master the sentinel names");
    Ok(())
}
