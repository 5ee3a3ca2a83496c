//! Hostile uploads against real nodes (issue 12, "uploads are buffered whole in
//! memory"): large, aborted, concurrent and abandoned uploads over real sockets. Each
//! test states the limit it checks; each failed on the code before the limit existed.

use std::time::Duration;

use anyhow::{Context, Result};
use chat_ops::client::{ChatApi, Login};
use chat_raft::{Command, NodeId, Outcome};
use chat_tests::inspect::{blob_files, memory_kib};
use chat_tests::{wait_until, NodeSpec, TestCluster};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

async fn register(cluster: &TestCluster, node: NodeId, name: &str) -> Result<Login> {
    let api = ChatApi::new(&cluster.node(node).addr.public)?;
    let email = format!("{}-{:08x}@uploads.test", name.to_lowercase(), rand::random::<u32>());
    Ok(api.register(name, &email, "password-1").await?)
}

/// A multipart body of one `file` part.
fn multipart(filename: &str, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    multipart_field("file", filename, content_type, bytes)
}

fn multipart_field(field: &str, filename: &str, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("----hostile-uploads-{:016x}", rand::random::<u64>());
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

/// `POST /api/files/upload` of one file as `user` on `node`.
async fn upload(cluster: &TestCluster, node: NodeId, user: &Login, filename: &str, bytes: &[u8]) -> Result<Reply> {
    let content_type = match filename.rsplit_once('.').map(|(_, e)| e) {
        Some("mp4") => "video/mp4",
        Some("png") => "image/png",
        _ => "application/pdf",
    };
    let (multipart_type, body) = multipart(filename, content_type, bytes);
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/files/upload", cluster.node(node).addr.public))
        .header("x-auth-token", &user.token)
        .header("x-session-id", &user.session_id)
        .header(CONTENT_TYPE, multipart_type)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok(Reply { status, headers, body })
}

/// An upload of a `size`-byte video whose body stops halfway until
/// [`SlowUpload::finish`]: it holds its slot on the node meanwhile.
struct SlowUpload {
    stream: tokio::net::TcpStream,
    rest: Vec<u8>,
}

impl SlowUpload {
    async fn start(cluster: &TestCluster, node: NodeId, user: &Login, filename: &str, size: usize) -> Result<Self> {
        let (multipart_type, body) = multipart(filename, "video/mp4", &pattern(size, 5));
        let mut stream = tokio::net::TcpStream::connect(&cluster.node(node).addr.public).await?;
        let head = format!(
            "POST /api/files/upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nx-auth-token: {}\r\n\
             x-session-id: {}\r\nContent-Type: {multipart_type}\r\nContent-Length: {}\r\n\r\n",
            user.token,
            user.session_id,
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        let half = body.len() / 2;
        stream.write_all(&body[..half]).await?;
        stream.flush().await?;
        Ok(Self { stream, rest: body[half..].to_vec() })
    }

    /// Send the rest of the body; the answer's status.
    async fn finish(mut self) -> Result<u16> {
        self.stream.write_all(&self.rest).await?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), self.stream.read_to_end(&mut answer)).await??;
        let answer = String::from_utf8_lossy(&answer);
        Ok(answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0))
    }
}

/// Staged files on every node: uploads whose body is being read.
fn staged_files(cluster: &TestCluster) -> usize {
    blob_files(cluster).iter().filter(|f| f.contains(".tmp-")).count()
}

async fn wait_staged(cluster: &TestCluster, count: usize) -> Result<()> {
    wait_until(&format!("{count} staged uploads"), Duration::from_secs(10), || async {
        (staged_files(cluster) == count).then_some(())
    })
    .await?;
    Ok(())
}

fn assert_throttled(reply: &Reply) {
    assert_eq!(reply.status, 429, "{:?}", reply.body);
    assert_eq!(reply.body["code"], "TOO_MANY_REQUESTS", "{:?}", reply.body);
    assert_eq!(reply.body["retryAfter"], 5, "{:?}", reply.body);
    assert_eq!(reply.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Item 1: a 40 MiB upload is streamed to a staged file on the node that takes it and
/// from its file to the peer that keeps the second copy, so neither node's peak memory
/// grows by anything near 40 MiB. Before, the node collected the upload whole in memory
/// and the peer collected the copy whole (each peak grew by 40+ MiB, measured on the
/// code before the change: see the commit message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40_mib_upload_is_streamed_without_growing_the_nodes() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(2).with_args(&["--bcrypt-cost", "4"])).await?;
    let alice = register(&cluster, 1, "alice").await?;
    // Warm up the upload path (allocator arenas, connection pools) with a small file.
    let small = upload(&cluster, 1, &alice, "warm.mp4", &pattern(256 * 1024, 1)).await?;
    assert_eq!(small.status, 200, "{:?}", small.body);

    let pids = [cluster.node(1).pid().context("node 1 runs")?, cluster.node(2).pid().context("node 2 runs")?];
    let before = [memory_kib(pids[0])?.0, memory_kib(pids[1])?.0];
    let bytes = pattern(40 * MIB, 7);
    let reply = upload(&cluster, 1, &alice, "big.mp4", &bytes).await?;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    for (i, pid) in pids.iter().enumerate() {
        let (now, peak) = memory_kib(*pid)?;
        let grown_mib = peak.saturating_sub(before[i]) / 1024;
        eprintln!("node {}: RSS {} KiB before, peak {peak} KiB, now {now} KiB", i + 1, before[i]);
        assert!(
            grown_mib < 20,
            "node {}'s peak RSS grew by {grown_mib} MiB for a 40 MiB upload ({} KiB -> peak {peak} KiB, now {now} KiB)",
            i + 1,
            before[i]
        );
    }

    // Both copies are whole, and no staged file is left on either node.
    let filename = reply.body["file"]["filename"].as_str().context("stored name")?;
    for id in [1, 2] {
        let copy = std::fs::read(cluster.node(id).data_dir.join("blobs").join(filename))?;
        assert!(copy == bytes, "node {id}'s copy differs ({} bytes)", copy.len());
    }
    let staged: Vec<_> = blob_files(&cluster).into_iter().filter(|f| f.contains(".tmp-")).collect();
    assert!(staged.is_empty(), "staged files left: {staged:?}");
    Ok(())
}

/// Item 1: an upload cut off mid-body (the client goes away after 5 of 40 MiB) and one
/// refused on the fly (an image over its 10 MiB cap) leave no file on any node: the
/// staged file goes with the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_and_refused_uploads_leave_no_file() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(2).with_args(&["--bcrypt-cost", "4"])).await?;
    let alice = register(&cluster, 1, "alice").await?;
    let before = blob_files(&cluster);

    let (multipart_type, body) = multipart("cut.mp4", "video/mp4", &pattern(40 * MIB, 3));
    let mut stream = tokio::net::TcpStream::connect(&cluster.node(1).addr.public).await?;
    let head = format!(
        "POST /api/files/upload HTTP/1.1\r\nHost: localhost\r\nx-auth-token: {}\r\nx-session-id: {}\r\n\
         Content-Type: {multipart_type}\r\nContent-Length: {}\r\n\r\n",
        alice.token,
        alice.session_id,
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body[..5 * MIB]).await?;
    stream.flush().await?;
    // Wait until the node staged part of it, then go away.
    wait_until("the node to stage the upload's first bytes", Duration::from_secs(10), || async {
        blob_files(&cluster).iter().any(|f| f.contains(".tmp-")).then_some(())
    })
    .await?;
    drop(stream);
    let gone = wait_until("the staged file to go", Duration::from_secs(10), || async {
        (blob_files(&cluster) == before).then_some(())
    })
    .await;
    assert!(gone.is_ok(), "the aborted upload's staged file stays: {:?}", blob_files(&cluster));

    let reply = upload(&cluster, 1, &alice, "huge.png", &pattern(11 * MIB, 4)).await?;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert_eq!(blob_files(&cluster), before, "a refused upload left a file");

    let health = reqwest::get(format!("http://{}/api/health", cluster.node(1).addr.public)).await?;
    assert_eq!(health.status().as_u16(), 200, "the node still serves");
    Ok(())
}

/// Item 2: a user has at most 2 uploads in progress on a node (`--max-uploads-per-user`)
/// and a node at most `--max-uploads-per-node` (3 here); the next gets 429
/// `TOO_MANY_REQUESTS` with `retryAfter` and `Retry-After`, and nothing of it is
/// stored. A slot is free again when its upload ends. Before, every upload was taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_in_progress_are_limited_per_user_and_per_node() -> Result<()> {
    let args = ["--bcrypt-cost", "4", "--max-uploads-per-node", "3"];
    let cluster = TestCluster::start(NodeSpec::voters(1).with_args(&args)).await?;
    let (alice, bob, carol) = (
        register(&cluster, 1, "alice").await?,
        register(&cluster, 1, "bob").await?,
        register(&cluster, 1, "carol").await?,
    );

    let first = SlowUpload::start(&cluster, 1, &alice, "first.mp4", 2 * MIB).await?;
    let second = SlowUpload::start(&cluster, 1, &alice, "second.mp4", 2 * MIB).await?;
    wait_staged(&cluster, 2).await?;
    let third = upload(&cluster, 1, &alice, "third.pdf", &pattern(100_000, 1)).await?;
    assert_throttled(&third);
    assert_eq!(staged_files(&cluster), 2, "the refused upload was staged");
    assert_eq!(cluster.metric(1, "chat_limit_hits_total{limit=\"uploads_per_user\"}").await?, 1);

    let bobs = SlowUpload::start(&cluster, 1, &bob, "bob.mp4", 2 * MIB).await?;
    wait_staged(&cluster, 3).await?;
    let carols = upload(&cluster, 1, &carol, "carol.pdf", &pattern(100_000, 2)).await?;
    assert_throttled(&carols);
    assert_eq!(cluster.metric(1, "chat_limit_hits_total{limit=\"uploads_per_node\"}").await?, 1);
    assert_eq!(cluster.state(1).await?.files.len(), 0, "a refused upload was recorded");

    assert_eq!(first.finish().await?, 200);
    let again = upload(&cluster, 1, &alice, "third.pdf", &pattern(100_000, 1)).await?;
    assert_eq!(again.status, 200, "a finished upload gives its slot back: {:?}", again.body);
    assert_eq!(second.finish().await?, 200);
    assert_eq!(bobs.finish().await?, 200);
    let carols = upload(&cluster, 1, &carol, "carol.pdf", &pattern(100_000, 2)).await?;
    assert_eq!(carols.status, 200, "{:?}", carols.body);
    assert_eq!(cluster.state(1).await?.files.len(), 5);
    assert_eq!(staged_files(&cluster), 0);
    Ok(())
}

/// `DELETE /api/files/{id}` as `user`; the status.
async fn delete_file(cluster: &TestCluster, node: NodeId, user: &Login, file_id: &str) -> Result<u16> {
    let response = reqwest::Client::new()
        .delete(format!("http://{}/api/files/{file_id}", cluster.node(node).addr.public))
        .header("x-auth-token", &user.token)
        .header("x-session-id", &user.session_id)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

/// Item 3: with `--upload-quota-mb 1` a user whose recorded files would exceed 1 MiB
/// gets 413 `UPLOAD_QUOTA_EXCEEDED` (with `quotaBytes`, `usedBytes`) on any node,
/// nothing is stored, other users are not affected, and deleting a file frees its
/// bytes. Two uploads racing for the last free bytes: exactly one fits. Before, every
/// upload was stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_quota_is_counted_cluster_wide() -> Result<()> {
    let args = ["--bcrypt-cost", "4", "--upload-quota-mb", "1"];
    let cluster = TestCluster::start(NodeSpec::voters(2).with_args(&args)).await?;
    let (alice, bob) = (register(&cluster, 1, "alice").await?, register(&cluster, 2, "bob").await?);

    let first = upload(&cluster, 1, &alice, "first.pdf", &pattern(700 * 1024, 1)).await?;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let first_id = first.body["file"]["_id"].as_str().context("file id")?.to_owned();
    let before = blob_files(&cluster);
    // Node 2 counts the bytes alice stored through node 1.
    let over = upload(&cluster, 2, &alice, "second.pdf", &pattern(400 * 1024, 2)).await?;
    assert_eq!(over.status, 413, "{:?}", over.body);
    assert_eq!(over.body["code"], "UPLOAD_QUOTA_EXCEEDED", "{:?}", over.body);
    assert_eq!(over.body["quotaBytes"], 1024 * 1024);
    assert_eq!(over.body["usedBytes"], 700 * 1024);
    assert!(over.body["message"].as_str().is_some_and(|m| m.contains("1MB")), "{:?}", over.body);
    assert_eq!(blob_files(&cluster), before, "the refused upload left a file");
    assert_eq!(cluster.state(2).await?.files.len(), 1);
    assert_eq!(cluster.metric(2, "chat_limit_hits_total{limit=\"upload_quota\"}").await?, 1);

    let bobs = upload(&cluster, 2, &bob, "bob.pdf", &pattern(700 * 1024, 3)).await?;
    assert_eq!(bobs.status, 200, "the quota is per user: {:?}", bobs.body);

    assert_eq!(delete_file(&cluster, 1, &alice, &first_id).await?, 200);
    // Two uploads of 600 KiB in flight at once, each fitting alone.
    let racers = [
        SlowUpload::start(&cluster, 1, &alice, "a.mp4", 600 * 1024).await?,
        SlowUpload::start(&cluster, 1, &alice, "b.mp4", 600 * 1024).await?,
    ];
    wait_staged(&cluster, 2).await?;
    let [a, b] = racers;
    let (a, b) = tokio::join!(a.finish(), b.finish());
    let mut statuses = [a?, b?];
    statuses.sort();
    assert_eq!(statuses, [200, 413], "exactly one of two racing uploads fits");
    let state = cluster.state(2).await?;
    assert_eq!(state.files.used_by(&alice.user_id), 600 * 1024);
    assert_eq!(state.files.len(), 2);
    Ok(())
}

/// Item 4: with `--upload-grace-ms 1500` a chat upload that no message references is
/// deleted after the grace period, its record on every node and its copies on every
/// node; a copy no record points to (left on a member unreachable at a deletion) goes
/// too. An attached upload and a profile image stay. Before, nothing was ever removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unattached_uploads_are_deleted_everywhere_after_the_grace_period() -> Result<()> {
    let args = ["--bcrypt-cost", "4", "--upload-grace-ms", "1500"];
    let cluster = TestCluster::start(NodeSpec::voters(3).with_args(&args)).await?;
    let alice = register(&cluster, 1, "alice").await?;
    let api = ChatApi::new(&cluster.node(1).addr.public)?;
    let room = api.create_room(&alice, "uploads", None).await?;

    let abandoned = upload(&cluster, 1, &alice, "abandoned.pdf", &pattern(300_000, 1)).await?;
    assert_eq!(abandoned.status, 200, "{:?}", abandoned.body);
    let attached = upload(&cluster, 2, &alice, "attached.pdf", &pattern(300_000, 2)).await?;
    assert_eq!(attached.status, 200, "{:?}", attached.body);
    let (attached_id, attached_name) = (
        attached.body["file"]["_id"].as_str().context("id")?.to_owned(),
        attached.body["file"]["filename"].as_str().context("name")?.to_owned(),
    );
    // What a file chatMessage commits before the message (tests/tests/files.rs).
    let command = Command::AttachFile { file_id: attached_id.clone(), room_id: room.id.clone() };
    assert_eq!(cluster.propose(1, command).await?.outcome, Outcome::FileAttached { added: true });
    let (profile_type, profile_body) = multipart_field("profileImage", "me.png", "image/png", &pattern(50_000, 3));
    let profile = reqwest::Client::new()
        .post(format!("http://{}/api/users/profile-image", cluster.node(3).addr.public))
        .header("x-auth-token", &alice.token)
        .header("x-session-id", &alice.session_id)
        .header(CONTENT_TYPE, profile_type)
        .body(profile_body)
        .send()
        .await?;
    assert_eq!(profile.status().as_u16(), 200);
    let orphan = "1700000000000_0123456789abcdef.pdf";
    std::fs::write(cluster.node(3).data_dir.join("blobs").join(orphan), b"no record points here")?;

    let abandoned_name = abandoned.body["file"]["filename"].as_str().context("name")?.to_owned();
    let abandoned_id = abandoned.body["file"]["_id"].as_str().context("id")?.to_owned();
    let on_disk = |name: &str| blob_files(&cluster).into_iter().filter(|f| f.ends_with(name)).count();
    assert_eq!(on_disk(&abandoned_name), 2, "two copies before the grace period");
    let gone = wait_until("the abandoned upload and the orphan copy to go", Duration::from_secs(20), || async {
        let mut recorded = false;
        for id in cluster.ids() {
            recorded |= cluster.local_state(id).await.ok()?.files.get(&abandoned_id).is_some();
        }
        (!recorded && on_disk(&abandoned_name) == 0 && on_disk(orphan) == 0).then_some(())
    })
    .await;
    assert!(gone.is_ok(), "still there after 20 s: {:?}", blob_files(&cluster));

    let state = cluster.state(3).await?;
    assert!(state.files.get(&attached_id).is_some(), "the attached upload was expired");
    assert_eq!(on_disk(&attached_name), 2, "the attached upload lost a copy");
    let profiles = state.files.iter().filter(|f| f.is_profile_image()).count();
    assert_eq!(profiles, 1, "the profile image was expired");
    let expired: u64 = {
        let mut sum = 0;
        for id in cluster.ids() {
            sum += cluster.metric(id, "chat_uploads_expired_total").await?;
        }
        sum
    };
    assert_eq!(expired, 1);
    Ok(())
}

/// Item 1, the peer side: `PUT /cluster/blobs/{name}` is streamed to disk with the same
/// 50 MiB cap: a copy over it gets 413 and leaves no file, one within it is stored
/// whole. Before, the cluster listener collected any body up to its 64 MiB limit in
/// memory and stored it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_copy_over_the_blob_cap_is_refused_and_leaves_no_file() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(1)).await?;
    let url = |name: &str| format!("http://{}/cluster/blobs/{name}", cluster.node(1).addr.cluster);
    let put = |name: &'static str, bytes: Vec<u8>| {
        reqwest::Client::new()
            .put(url(name))
            .header(chat_raft::api::SECRET_HEADER, cluster.secret())
            .header(chat_raft::api::FROM_HEADER, "2")
            .body(bytes)
            .send()
    };
    let before = blob_files(&cluster);
    let over = put("1700000000000_0123456789abcdef.mp4", pattern(50 * MIB + 1, 6)).await;
    // The node may answer before the whole body is sent and close the connection.
    if let Ok(over) = over {
        assert_eq!(over.status().as_u16(), 413);
    }
    assert_eq!(blob_files(&cluster), before, "a refused copy left a file");

    let within = pattern(3 * MIB, 7);
    let stored = put("1700000000001_0123456789abcdef.mp4", within.clone()).await?;
    assert_eq!(stored.status().as_u16(), 204);
    let copy = std::fs::read(cluster.node(1).data_dir.join("blobs/1700000000001_0123456789abcdef.mp4"))?;
    assert!(copy == within, "the stored copy differs");
    Ok(())
}
