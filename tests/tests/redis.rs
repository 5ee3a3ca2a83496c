//! A cluster configured with Redis (`--redis-url`): the wire-protocol conformance suite
//! passes on it (3 voters and an edge) (history through the recent-messages cache), the rooms-list rate limit
//! is counted once for the whole cluster, and with Redis killed every node falls back
//! to its own counters and the store, and keeps serving chat.

use anyhow::{ensure, Context, Result};
use chat_tests::protocol_suite;
use chat_tests::redis::TestRedis;
use chat_tests::{NodeSpec, TestCluster};
use serde_json::json;

/// Status of `GET /api/rooms` on `node` as `user`.
async fn rooms(http: &reqwest::Client, cluster: &TestCluster, node: u64, user: &(String, String)) -> Result<u16> {
    let url = format!("http://{}/api/rooms", cluster.node(node).addr.public);
    let response = http.get(url).header("x-auth-token", &user.0).header("x-session-id", &user.1).send().await?;
    Ok(response.status().as_u16())
}

/// Register a user on node 1: (token, session id).
async fn register(http: &reqwest::Client, cluster: &TestCluster) -> Result<(String, String)> {
    let url = format!("http://{}/api/auth/register", cluster.node(1).addr.public);
    let email = format!("r{:x}@example.com", rand::random::<u64>());
    let response = http.post(url).json(&json!({"name": "Redis", "email": email, "password": "123456"})).send().await?;
    ensure!(response.status().as_u16() == 201, "register: {}", response.status());
    let body: serde_json::Value = response.json().await?;
    let field = |name: &str| body[name].as_str().map(str::to_owned).context("register answer");
    Ok((field("token")?, field("sessionId")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rooms_rate_limit_is_cluster_wide_and_falls_back_per_node() -> Result<()> {
    let Some(mut redis) = TestRedis::start("the_rooms_rate_limit_is_cluster_wide_and_falls_back_per_node")? else {
        return Ok(());
    };
    let url = redis.url();
    let args =
        ["--bcrypt-cost", "4", "--redis-url", &url, "--rooms-rate-limit", "5", "--rooms-rate-window-ms", "3600000"];
    let cluster = TestCluster::start(NodeSpec::voters(3).with_args(&args)).await?;
    let http = reqwest::Client::new();
    let user = register(&http, &cluster).await?;

    let mut statuses = Vec::new();
    for node in [1, 1, 1, 2, 2, 2] {
        statuses.push(rooms(&http, &cluster, node, &user).await?);
    }
    ensure!(statuses == [200, 200, 200, 200, 200, 429], "one counter for the cluster: {statuses:?}");
    ensure!(rooms(&http, &cluster, 3, &user).await? == 429, "node 3 sees the shared count too");

    // Redis gone: each node counts its own requests (node 3 had one, node 1 three).
    redis.kill();
    let node3: Vec<u16> = futures::future::try_join_all((0..5).map(|_| rooms(&http, &cluster, 3, &user))).await?;
    ensure!(node3.iter().filter(|s| **s == 200).count() == 4, "node 3 falls back to its own count: {node3:?}");
    let mut node1 = Vec::new();
    for _ in 0..3 {
        node1.push(rooms(&http, &cluster, 1, &user).await?);
    }
    ensure!(node1 == [200, 200, 429], "node 1 falls back to its own count: {node1:?}");
    drop(cluster);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_protocol_conformance_suite_passes_with_redis() -> Result<()> {
    protocol_suite::check_prerequisites()?;
    let Some(redis) = TestRedis::start("the_wire_protocol_conformance_suite_passes_with_redis")? else {
        return Ok(());
    };
    let banned = protocol_suite::banned_words()?;
    let url = redis.url();
    let cluster = TestCluster::start(protocol_suite::spec(&banned, &["--redis-url", &url])).await?;
    protocol_suite::run(&cluster, &banned).await?;
    drop(cluster);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_keeps_working_after_redis_is_killed() -> Result<()> {
    protocol_suite::check_prerequisites()?;
    let Some(mut redis) = TestRedis::start("chat_keeps_working_after_redis_is_killed")? else {
        return Ok(());
    };
    let banned = protocol_suite::banned_words()?;
    let url = redis.url();
    let cluster = TestCluster::start(protocol_suite::spec(&banned, &["--redis-url", &url])).await?;
    let http = reqwest::Client::new();
    let user = register(&http, &cluster).await?;
    ensure!(rooms(&http, &cluster, 1, &user).await? == 200, "served with redis up");
    redis.kill();
    protocol_suite::run(&cluster, &banned).await?;
    drop(cluster);
    Ok(())
}
