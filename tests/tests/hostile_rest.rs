//! Hostile REST reads against real nodes (issue 12, the "Low" items): what an
//! unauthenticated profile-image miss may cost a node and its peers, and what a room list
//! costs the message store. Each test failed on the code before its change.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chat_ops::client::{ChatApi, Login};
use chat_raft::NodeId;
use chat_tests::{wait_until, NodeSpec, TestCluster};
use futures::StreamExt;
use reqwest::header::CONTENT_TYPE;

/// Copies served to peers, summed over the cluster: every read from a peer counts once.
async fn peer_reads(cluster: &TestCluster) -> Result<u64> {
    let mut total = 0;
    for id in cluster.ids() {
        total += cluster.metric(id, "chat_blob_peer_reads_total ").await?;
    }
    Ok(total)
}

fn profile_part(bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("----hostile-rest-{:016x}", rand::random::<u64>());
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"profileImage\"; filename=\"me.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Upload `png` as `user`'s profile image on node 1 and wait until every node has its
/// record; its URL.
async fn upload_profile_image(cluster: &TestCluster, user: &Login, png: &[u8]) -> Result<String> {
    let (content_type, body) = profile_part(png);
    let uploaded = reqwest::Client::new()
        .post(format!("http://{}/api/users/profile-image", cluster.node(1).addr.public))
        .header("x-auth-token", &user.token)
        .header("x-session-id", &user.session_id)
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await?;
    assert_eq!(uploaded.status().as_u16(), 200);
    let uploaded: serde_json::Value = uploaded.json().await?;
    let url = uploaded["imageUrl"].as_str().context("imageUrl")?.to_owned();
    let filename = url.trim_start_matches("/api/uploads/").to_owned();
    for id in cluster.ids() {
        wait_until("the image record on every node", Duration::from_secs(10), || async {
            cluster.local_state(id).await.ok()?.files.iter().any(|f| f.filename == filename).then_some(())
        })
        .await?;
    }
    Ok(url)
}

/// Sends `signal` (`STOP` or `CONT`) to node processes.
fn signal(cluster: &TestCluster, nodes: &[NodeId], signal: &str) -> Result<()> {
    for id in nodes {
        let pid = cluster.node(*id).pid().context("a running node")?;
        let status = std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status()?;
        anyhow::ensure!(status.success(), "kill -{signal} {pid}");
    }
    Ok(())
}

/// Resumes stopped nodes however the test ends.
struct Resume<'a>(&'a TestCluster, Vec<NodeId>);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        let _ = signal(self.0, &self.1, "CONT");
    }
}

/// A flood of requests for well-formed profile-image names that no record knows is
/// answered 404 from the local replica: no peer is asked (their served-copy counters
/// stay put), and each miss is counted. A real image uploaded on node 1 is still served
/// by nodes 2 and 3, the one without a copy reading it from a holder (the counter moves
/// by exactly one: the check is not blind). Before, every unknown name was asked of
/// every peer in turn, each with a 5 s bound, so 200 misses cost 400 peer requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_profile_images_are_404_without_asking_peers() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3).with_args(&["--bcrypt-cost", "4"])).await?;
    let api = ChatApi::new(&cluster.node(1).addr.public)?;
    let alice: Login = api.register("Alice", "alice@rest.test", "password-1").await?;
    let png: Vec<u8> = (0..30_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let url = upload_profile_image(&cluster, &alice, &png).await?;
    let http = reqwest::Client::new();

    let before = peer_reads(&cluster).await?;
    let public = cluster.node(2).addr.public.clone();
    let started = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(0..200u64)
        .map(|i| {
            let (http, public) = (http.clone(), public.clone());
            async move {
                let name = format!("profiles/{}_{:016x}.png", 1_700_000_000_000u64 + i, rand::random::<u64>());
                let answer = http.get(format!("http://{public}/api/uploads/{name}")).send().await?;
                anyhow::Ok(answer.status().as_u16())
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    println!("200 unknown profile images on node 2: {:?}", started.elapsed());
    assert!(statuses.iter().all(|s| *s == 404), "{statuses:?}");
    assert_eq!(peer_reads(&cluster).await?, before, "an unknown name was asked of a peer");
    assert_eq!(cluster.metric(2, "chat_profile_images_unknown_total ").await?, 200);

    for node in [2, 3] {
        let answer = http.get(format!("http://{}{url}", cluster.node(node).addr.public)).send().await?;
        assert_eq!(answer.status().as_u16(), 200, "node {node}");
        assert!(answer.bytes().await? == png, "node {node} served other bytes");
    }
    assert_eq!(peer_reads(&cluster).await?, before + 1, "the node without a copy reads it from a holder, once");
    Ok(())
}

/// Listing the rooms does not walk each room's recent messages again for every list:
/// five lists of 20 rooms in a row walk the message store for each room once (the
/// counts are kept 5 s; a list more than 5 s after the first would walk
/// again, so the bound allows one more round). Before, every list walked every room of
/// its page (100 walks here) and no counter showed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_lists_reuse_recent_message_counts() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(1).with_args(&["--bcrypt-cost", "4"])).await?;
    let api = ChatApi::new(&cluster.node(1).addr.public)?;
    let alice: Login = api.register("Alice", "alice@rooms.test", "password-1").await?;
    for i in 0..20 {
        api.create_room(&alice, &format!("room {i}"), None).await?;
    }
    // Creating a room answers its view, whose count is kept too: let those expire.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let before = cluster.metric(1, "chat_recent_count_scans_total ").await?;
    let http = reqwest::Client::new();
    for _ in 0..5 {
        let answer = http
            .get(format!("http://{}/api/rooms?pageSize=50", cluster.node(1).addr.public))
            .header("x-auth-token", &alice.token)
            .header("x-session-id", &alice.session_id)
            .send()
            .await?;
        assert_eq!(answer.status().as_u16(), 200);
        let body: serde_json::Value = answer.json().await?;
        assert_eq!(body["data"].as_array().map(Vec::len), Some(20));
        assert!(body["data"].as_array().into_iter().flatten().all(|r| r["recentMessageCount"] == 0));
    }
    let scans = cluster.metric(1, "chat_recent_count_scans_total ").await? - before;
    assert!((20..=40).contains(&scans), "{scans} walks for 5 lists of 20 rooms");
    Ok(())
}

/// Reads of a recorded image this node lacks are bounded per node: with both holders
/// stopped (they accept connections and never answer), 100 concurrent requests on the
/// third node get 503 `SERVER_BUSY` with `Retry-After` beyond the 32 that wait on the
/// holders, each counted as `limit="peer_blob_reads"`, and the waiting ones 404 after
/// the 2 s bound; once the holders resume the image is served again. Before, every
/// request waited on each holder in turn (5 s each) and none was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_waiting_on_stopped_holders_are_bounded() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3).with_args(&["--bcrypt-cost", "4"])).await?;
    let api = ChatApi::new(&cluster.node(1).addr.public)?;
    let alice: Login = api.register("Alice", "alice@bound.test", "password-1").await?;
    let png: Vec<u8> = (0..20_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let url = upload_profile_image(&cluster, &alice, &png).await?;
    let filename = url.trim_start_matches("/api/uploads/");
    let holders =
        cluster.local_state(1).await?.files.iter().find(|f| f.filename == filename).context("record")?.holders.clone();
    let reader = cluster.ids().into_iter().find(|id| !holders.contains(id)).context("a node without a copy")?;
    assert_eq!(holders.len(), 2, "{holders:?}");

    signal(&cluster, &holders, "STOP")?;
    let resume = Resume(&cluster, holders.clone());
    let public = cluster.node(reader).addr.public.clone();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let answers: Vec<(u16, Option<String>)> = futures::stream::iter(0..100)
        .map(|_| {
            let (http, target) = (http.clone(), format!("http://{public}{url}"));
            async move {
                let answer = http.get(target).send().await?;
                let retry = answer.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                anyhow::Ok((answer.status().as_u16(), retry))
            }
        })
        .buffer_unordered(100)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let busy = answers.iter().filter(|(status, _)| *status == 503).count();
    println!("100 reads with both holders stopped: {busy} refused at once");
    assert!(answers.iter().all(|(status, _)| matches!(status, 404 | 503)), "{answers:?}");
    assert!(answers.iter().filter(|(s, _)| *s == 503).all(|(_, retry)| retry.as_deref() == Some("1")));
    assert!(busy >= 1, "no read was refused: {answers:?}");
    assert!(busy <= 100 - 32, "fewer than 32 reads were let through: {busy} refused");
    let limit = cluster.metric(reader, "chat_limit_hits_total{limit=\"peer_blob_reads\"} ").await?;
    assert_eq!(limit, busy as u64);

    drop(resume);
    let served = wait_until("the image once its holders resume", Duration::from_secs(20), || async {
        let answer = http.get(format!("http://{public}{url}")).send().await.ok()?;
        (answer.status().as_u16() == 200).then_some(answer.bytes().await.ok()?)
    })
    .await?;
    assert!(served == png, "other bytes served");
    Ok(())
}
