//! Backup and restore with real processes (docs/operations.md "Backup and restore"):
//! a `chatctl backup` taken from a running `chatctl local up` cluster while a socket
//! keeps sending messages, refused when flipped or cut short, then restored with
//! `chatctl restore` into a new directory that a plain `chatctl local up --data-dir`
//! starts. The new cluster must hold every account (which can log in), room,
//! membership and file, every message acknowledged before the backup began, and
//! exactly the messages the backup counted, with no gap; old sessions are refused.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use chat_ops::client::{ChatApi, ChatSocket, Events, Incoming, Login};
use chat_ops::local::ClusterLayout;
use chat_tests::local_up::{chatctl, LocalUp};
use chat_tests::socket_events::{next_event, WAIT};
use chat_tests::wait_until;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

const PASSWORD: &str = "backup-password-1";
/// Messages acknowledged before the backup starts, and after it ended, so the load
/// spans the backup.
const BEFORE: usize = 20;
const AFTER: usize = 10;
/// Bound on the load: the test never sends more than this.
const MAX_MESSAGES: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_into_a_new_cluster() -> Result<()> {
    let original = LocalUp::start(&[], &[]).await?;
    let layout = ClusterLayout::load(original.dir())?;
    let (one, two) = (ChatApi::new(&layout.nodes[0].public)?, ChatApi::new(&layout.nodes[1].public)?);

    let alice = one.register("Alice", "alice@backup.test", PASSWORD).await?;
    let bob = two.register("Bob", "bob@backup.test", PASSWORD).await?;
    let carol = one.register("Carol", "carol@backup.test", PASSWORD).await?;
    let general = one.create_room(&alice, "general", None).await?;
    two.join_room(&bob, &general.id, None).await?;
    let private = two.create_room(&bob, "private", Some("door")).await?;
    one.join_room(&carol, &private.id, Some("door")).await?;
    let report: Vec<u8> = (0..150_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let (file_id, filename) = upload(&one, &alice, "report.pdf", "application/pdf", &report).await?;

    // The load: Alice sends to `general` one message at a time, each acknowledged by
    // its own broadcast coming back, until told to stop.
    let (socket, mut events) = ChatSocket::connect(one.base(), &alice, WAIT).await?;
    socket.emit("joinRoom", json!([general.id]))?;
    next_event(&mut events, "joinRoomSuccess", |p| p["roomId"] == general.id).await?;
    let attached = json!({"room": general.id, "type": "file", "fileData": {"_id": file_id}, "content": "the report"});
    socket.emit("chatMessage", json!([attached]))?;
    next_event(&mut events, "message", |m| m["content"] == "the report").await?;
    let acked = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let mut load = tokio::spawn(send_until_stopped(socket, events, general.id.clone(), acked.clone(), stopped));

    let load_reaches = |n: usize| {
        let acked = acked.clone();
        move || {
            let acked = acked.clone();
            async move { (acked.load(Ordering::SeqCst) >= n).then_some(()) }
        }
    };
    let waited = wait_until("messages acknowledged before the backup", Duration::from_secs(60), load_reaches(BEFORE));
    load_goes_on(waited, &mut load).await?;
    let work = tempfile::tempdir()?;
    let file = work.path().join("cluster.backup");
    let backup_started = Instant::now();
    let out = run_chatctl(&["backup", "--data-dir", &path(original.dir()), "--out", &path(&file), "--json"]).await?;
    ensure!(out.status.success(), "chatctl backup failed: {}", String::from_utf8_lossy(&out.stderr));
    let acked_at_end = acked.load(Ordering::SeqCst);
    let waited = wait_until(
        "messages acknowledged after the backup",
        Duration::from_secs(60),
        load_reaches(acked_at_end + AFTER),
    );
    load_goes_on(waited, &mut load).await?;
    stop.send(true)?;
    let sent = load.await??;

    let summary: Value = serde_json::from_slice(&out.stdout).context("chatctl backup --json")?;
    let counts = &summary["counts"];
    assert_eq!(counts["users"], 3, "{summary}");
    assert_eq!(counts["rooms"], 2, "{summary}");
    assert_eq!(counts["memberships"], 4, "{summary}");
    assert_eq!(counts["blobs"], 1, "{summary}");
    assert_eq!(summary["message_store"], "embedded");
    assert_eq!(summary["bytes"], std::fs::metadata(&file)?.len(), "{summary}");
    assert!(summary["index"].as_u64().unwrap_or(0) > 0, "{summary}");
    let acked_before: Vec<&Sent> = sent.iter().filter(|m| m.acked_at < backup_started).collect();
    assert!(acked_before.len() >= BEFORE, "{} acknowledged before the backup", acked_before.len());
    assert!(sent.len() > acked_at_end, "the load went on after the backup");

    refused_when_damaged(&file, work.path()).await?;

    drop(original);
    let original_alice = alice;
    let restored_dir = tempfile::tempdir()?;
    let out =
        run_chatctl(&["restore", "--from", &path(&file), "--data-dir", &path(restored_dir.path()), "--json"]).await?;
    ensure!(out.status.success(), "chatctl restore failed: {}", String::from_utf8_lossy(&out.stderr));
    let restored_summary: Value = serde_json::from_slice(&out.stdout).context("chatctl restore --json")?;
    assert_eq!(restored_summary["index"], summary["index"]);
    assert_eq!(restored_summary["nodes"], 3);

    let restored = LocalUp::start_in(restored_dir, &[], &[]).await?;
    let layout = ClusterLayout::load(restored.dir())?;
    assert_eq!(layout.nodes.len(), 3);
    let api = ChatApi::new(&layout.nodes[2].public)?;

    // Sessions were invalidated: the old login is refused, the accounts log in again
    // (once the new cluster's first elections have settled).
    let alice = login_when_ready(&api, "alice@backup.test").await?;
    let stale = api.rooms(&original_alice, 0, 10).await.expect_err("a session from before the restore");
    assert_eq!(stale.status(), Some(401), "{stale}");
    let bob = login_when_ready(&api, "bob@backup.test").await?;
    login_when_ready(&api, "carol@backup.test").await?;

    let rooms = api.rooms(&bob, 0, 50).await?;
    let room = |id: &str| rooms.iter().find(|r| r.id == id).cloned().with_context(|| format!("room {id}: {rooms:?}"));
    assert_eq!(room(&general.id)?.participants_count, 2);
    let restored_private = room(&private.id)?;
    assert_eq!((restored_private.participants_count, restored_private.has_password), (2, true));
    let downloaded = download(&api, &alice, &filename).await?;
    assert!(downloaded == report, "the file comes back byte for byte");

    // History, read by Bob, a member of both rooms.
    let (socket, mut events) = ChatSocket::connect(api.base(), &bob, WAIT).await?;
    let general_history = history(&socket, &mut events, &general.id).await?;
    let private_history = history(&socket, &mut events, &private.id).await?;
    socket.close();
    assert_eq!(
        (general_history.len() + private_history.len()) as u64,
        counts["messages"].as_u64().unwrap_or(u64::MAX),
        "the restored cluster holds exactly the messages the backup counted"
    );
    let loaded: Vec<String> = general_history
        .iter()
        .filter_map(|m| m["content"].as_str())
        .filter(|c| c.starts_with("load-"))
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = (0..loaded.len()).map(|i| format!("load-{i}")).collect();
    assert_eq!(loaded, expected, "the restored messages are the first ones sent, in order, without a gap");
    assert!(
        loaded.len() >= acked_before.len(),
        "every message acknowledged before the backup ({}) is restored ({})",
        acked_before.len(),
        loaded.len()
    );
    assert!(loaded.len() <= sent.len());

    // The restored cluster takes new writes.
    let (socket, mut events) = ChatSocket::connect(api.base(), &alice, WAIT).await?;
    socket.emit("joinRoom", json!([general.id]))?;
    next_event(&mut events, "joinRoomSuccess", |p| p["roomId"] == general.id).await?;
    socket.emit("chatMessage", json!([{"room": general.id, "type": "text", "content": "after the restore"}]))?;
    next_event(&mut events, "message", |m| m["content"] == "after the restore").await?;
    socket.close();
    drop(restored);
    Ok(())
}

/// A flipped byte and a cut-off copy are refused with a clear error, and the target
/// directory is left as it was: absent, or empty.
async fn refused_when_damaged(file: &Path, work: &Path) -> Result<()> {
    let bytes = std::fs::read(file)?;
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x01;
    let flipped_file = work.join("flipped.backup");
    std::fs::write(&flipped_file, &flipped)?;
    let truncated_file = work.join("truncated.backup");
    std::fs::write(&truncated_file, &bytes[..bytes.len() - 100])?;

    let target = work.join("never-created");
    let out = run_chatctl(&["restore", "--from", &path(&flipped_file), "--data-dir", &path(&target)]).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "a flipped byte was restored");
    ensure!(stderr.contains("corrupt") && stderr.contains("nothing was written"), "unclear error: {stderr}");
    ensure!(!target.exists(), "a refused restore created {}", target.display());

    let empty = work.join("empty");
    std::fs::create_dir(&empty)?;
    let out = run_chatctl(&["restore", "--from", &path(&truncated_file), "--data-dir", &path(&empty)]).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "a truncated file was restored");
    ensure!(stderr.contains("truncated"), "unclear error: {stderr}");
    ensure!(std::fs::read_dir(&empty)?.next().is_none(), "a refused restore wrote into {}", empty.display());
    Ok(())
}

/// Log in with the test password, retrying while the cluster answers 503 (no leader
/// yet, or this node not caught up).
async fn login_when_ready(api: &ChatApi, email: &str) -> Result<Login> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match api.login(email, PASSWORD).await {
            Ok(login) => return Ok(login),
            Err(e) if e.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Wait for the load to reach a count; a load that failed meanwhile says why.
async fn load_goes_on(
    waited: impl std::future::Future<Output = Result<(), chat_tests::WaitError>>,
    load: &mut tokio::task::JoinHandle<Result<Vec<Sent>>>,
) -> Result<()> {
    let result = waited.await;
    if load.is_finished() {
        let ended = match load.await {
            Ok(Ok(sent)) => format!("after {} messages", sent.len()),
            Ok(Err(e)) => format!("{e:#}"),
            Err(e) => e.to_string(),
        };
        bail!("the load stopped early: {ended}");
    }
    Ok(result?)
}

/// One acknowledged message of the load.
#[derive(Debug)]
struct Sent {
    acked_at: Instant,
}

async fn send_until_stopped(
    socket: ChatSocket,
    mut events: Events,
    room: String,
    acked: Arc<AtomicUsize>,
    stopped: watch::Receiver<bool>,
) -> Result<Vec<Sent>> {
    let mut sent = Vec::new();
    for i in 0..MAX_MESSAGES {
        if *stopped.borrow() {
            break;
        }
        let content = format!("load-{i}");
        send_acknowledged(&socket, &mut events, &room, &content).await?;
        sent.push(Sent { acked_at: Instant::now() });
        acked.fetch_add(1, Ordering::SeqCst);
    }
    socket.close();
    Ok(sent)
}

/// Send one message and wait for its broadcast. A message the server refused (an
/// `error` while the cluster changes leader) was not stored: it is sent again.
async fn send_acknowledged(socket: &ChatSocket, events: &mut Events, room: &str, content: &str) -> Result<()> {
    for _ in 0..5 {
        socket.emit("chatMessage", json!([{"room": room, "type": "text", "content": content}]))?;
        let deadline = Instant::now() + WAIT;
        loop {
            let incoming = tokio::time::timeout_at(deadline, events.recv())
                .await
                .with_context(|| format!("no broadcast of {content} within {WAIT:?}"))?;
            match incoming {
                Some(Incoming::Event { name, args, .. })
                    if name == "message" && args.first().is_some_and(|m| m["content"] == content) =>
                {
                    return Ok(())
                }
                Some(Incoming::Event { name, .. }) if name == "error" => break,
                Some(Incoming::Event { .. }) => {}
                Some(Incoming::Closed { reason }) => bail!("the load's socket closed: {reason}"),
                None => bail!("the load's socket ended"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{content} was refused five times")
}

/// Every message of `room`, oldest first, paged back with `before`.
/// A participant needs no `joinRoom` for this, which would add a system message.
async fn history(socket: &ChatSocket, events: &mut Events, room: &str) -> Result<Vec<Value>> {
    let mut all: Vec<Value> = Vec::new();
    let mut before: Option<Value> = None;
    loop {
        let mut ask = json!({"roomId": room, "limit": 100});
        if let Some(before) = &before {
            ask["before"] = before.clone();
        }
        socket.emit("fetchPreviousMessages", json!([ask]))?;
        let page = next_event(events, "previousMessagesLoaded", |_| true).await?;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        before = messages.first().map(|m| m["timestamp"].clone());
        let more = page["hasMore"] == true && !messages.is_empty();
        all.splice(0..0, messages);
        if !more {
            return Ok(all);
        }
    }
}

/// Upload a file; returns its id and stored name.
async fn upload(api: &ChatApi, me: &Login, name: &str, mime: &str, bytes: &[u8]) -> Result<(String, String)> {
    let boundary = format!("----backup-test-{:016x}", rand::random::<u64>());
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {mime}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/api/files/upload", api.base().trim_end_matches('/')))
        .header("x-auth-token", &me.token)
        .header("x-session-id", &me.session_id)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    match (answer["file"]["_id"].as_str(), answer["file"]["filename"].as_str()) {
        (Some(id), Some(filename)) => Ok((id.to_owned(), filename.to_owned())),
        _ => bail!("upload answered {answer}"),
    }
}

async fn download(api: &ChatApi, me: &Login, filename: &str) -> Result<Vec<u8>> {
    let response = reqwest::Client::new()
        .get(format!("{}/api/files/download/{filename}", api.base().trim_end_matches('/')))
        .header("x-auth-token", &me.token)
        .header("x-session-id", &me.session_id)
        .send()
        .await?
        .error_for_status()?;
    Ok(response.bytes().await?.to_vec())
}

async fn run_chatctl(args: &[&str]) -> Result<Output> {
    Ok(tokio::process::Command::new(chatctl()?).args(args).output().await?)
}

fn path(p: &Path) -> String {
    PathBuf::from(p).display().to_string()
}
