//! A cluster configured with MongoDB (`--mongodb-uri`, nx-27017 here) and Redis: the
//! wire-protocol conformance suite on 3 voters and 1 edge sharing ONE database (the same URI on every
//! node, so history and files are shared), and the readiness rule: a node that cannot
//! reach MongoDB answers 503 (`reason: "mongodb"`) on `/api/health`, never falling back
//! to the embedded stores, and turns 200 once MongoDB answers.

use std::time::Duration;

use anyhow::{Context, Result};
use chat_tests::mongo::{free_port, uri_of, TestMongo};
use chat_tests::protocol_suite;
use chat_tests::redis::TestRedis;
use chat_tests::{wait_until, NodeSpec, TestCluster};

/// How long a node may take to connect to a MongoDB that is up.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

async fn health(cluster: &TestCluster, id: u64) -> Option<(u16, serde_json::Value)> {
    let url = format!("http://{}/api/health", cluster.node(id).addr.public);
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

async fn wait_healthy(cluster: &TestCluster) -> Result<()> {
    for id in cluster.ids() {
        wait_until(&format!("node {id} to report healthy (MongoDB connected)"), READY_TIMEOUT, || async move {
            health(cluster, id).await.filter(|(status, _)| *status == 200)
        })
        .await?;
    }
    Ok(())
}

/// The production configuration: MongoDB for history and files, Redis for the
/// recent-messages cache and the shared rate limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_protocol_conformance_suite_passes_on_mongodb_and_redis() -> Result<()> {
    protocol_suite::check_prerequisites()?;
    const TEST: &str = "the_wire_protocol_conformance_suite_passes_on_mongodb_and_redis";
    let Some(mongo) = TestMongo::start(TEST)? else {
        return Ok(());
    };
    let Some(redis) = TestRedis::start(TEST)? else {
        return Ok(());
    };
    let redis_url = redis.url();
    let db = format!("chat_conformance_{:016x}", rand::random::<u64>());
    let uri = mongo.uri(&db);
    let banned = protocol_suite::banned_words()?;
    let stores = ["--mongodb-uri", uri.as_str(), "--redis-url", redis_url.as_str()];
    let cluster = TestCluster::start(protocol_suite::spec(&banned, &stores)).await?;
    wait_healthy(&cluster).await?;
    protocol_suite::run(&cluster, &banned).await?;
    drop(cluster);
    Ok(())
}

/// Deterministic part: a closed port gives 503 `reason: "mongodb"`. Then nx-27017 is
/// started on that very port and the node must turn ready by itself (its background
/// connection loop retries); with an external `CHAT_TEST_MONGODB_URI` only the first
/// part runs, since its port cannot be chosen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_mongodb_is_unready_until_it_answers() -> Result<()> {
    let port = free_port()?;
    // Short server selection: each attempt fails fast while nothing listens.
    let uri = uri_of(&format!("mongodb://127.0.0.1:{port}"), "chat_ready");
    let cluster = TestCluster::start(NodeSpec::voters(1).with_args(&["--mongodb-uri", &uri])).await?;
    // Once Raft is ready, MongoDB is what keeps the node unready.
    let mongodb_unready = |(status, body): &(u16, serde_json::Value)| *status == 503 && body["reason"] == "mongodb";
    let (_, body) = wait_until("health to name mongodb as the reason", READY_TIMEOUT, || async {
        health(&cluster, 1).await.filter(mongodb_unready)
    })
    .await?;
    assert_eq!(body["status"], "unavailable");
    // Still so a few connection attempts later: it never falls back to embedded.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = health(&cluster, 1).await.context("health answers")?;
    assert!(mongodb_unready(&again), "still unready without MongoDB: {again:?}");

    if std::env::var("CHAT_TEST_MONGODB_URI").is_ok() {
        return Ok(());
    }
    let Some(mongo) = TestMongo::start_on("a_node_without_mongodb_is_unready_until_it_answers", port)? else {
        return Ok(());
    };
    assert!(mongo.is_local());
    wait_healthy(&cluster).await?;
    drop(cluster);
    Ok(())
}
