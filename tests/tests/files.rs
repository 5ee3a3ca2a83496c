//! Acceptance tests of files (protocol §3.4, §3.6, §5) against real `chat-node`
//! processes: an upload on one node is viewed and downloaded on another with `?token=`,
//! only room participants get it, bad uploads and path tricks get clear 400/413s and
//! leave nothing behind, profile images are public on every node and replaced cleanly,
//! and an acknowledged upload survives SIGKILL of the node that took it.
//!
//! A file message (`chatMessage` of type `file`) is what attaches a file to a room; the
//! socket path is covered by the conformance suite, so here the attachment is
//! committed directly (`AttachFile`), which is the command that `chatMessage` commits.

use std::time::Duration;

use anyhow::{Context, Result};
use chat_raft::{Command, NodeId, Outcome};
use chat_tests::inspect::blob_files;
use chat_tests::{wait_until, NodeSpec, TestCluster};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

async fn cluster() -> Result<TestCluster> {
    TestCluster::start(NodeSpec::voters(3).with_args(&["--bcrypt-cost", "4"])).await
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

struct Api<'a> {
    cluster: &'a TestCluster,
    http: reqwest::Client,
}

/// A user logged in through the REST API.
struct User {
    id: String,
    token: String,
    session: String,
}

impl<'a> Api<'a> {
    fn new(cluster: &'a TestCluster) -> Self {
        Self { cluster, http: reqwest::Client::new() }
    }

    fn url(&self, node: NodeId, path: &str) -> String {
        format!("http://{}{}", self.cluster.node(node).addr.public, path)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply> {
        let response = request.send().await.context("send request")?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Reply { status, headers, body })
    }

    fn authed(&self, node: NodeId, method: Method, path: &str, user: Option<&User>) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, self.url(node, path));
        if let Some(user) = user {
            request = request.header("x-auth-token", &user.token).header("x-session-id", &user.session);
        }
        request
    }

    async fn get(&self, node: NodeId, path: &str, user: Option<&User>) -> Result<Reply> {
        self.send(self.authed(node, Method::GET, path, user)).await
    }

    async fn register(&self, node: NodeId, name: &str) -> Result<User> {
        let email = format!("{name}-{:08x}@example.com", rand::random::<u32>());
        let body = json!({"name": name, "email": email, "password": "pa$$w0rd!"});
        let reply = self.send(self.http.post(self.url(node, "/api/auth/register")).json(&body)).await?;
        assert_eq!(reply.status, 201, "register {name}: {}", reply.text());
        let body = reply.json();
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Ok(User { id: text(&body["user"]["_id"]), token: text(&body["token"]), session: text(&body["sessionId"]) })
    }

    async fn create_room(&self, node: NodeId, user: &User) -> Result<String> {
        let request = self.authed(node, Method::POST, "/api/rooms", Some(user)).json(&json!({"name": "files"}));
        let reply = self.send(request).await?;
        assert_eq!(reply.status, 201, "{}", reply.text());
        Ok(reply.json()["data"]["_id"].as_str().unwrap_or_default().to_owned())
    }

    async fn join(&self, node: NodeId, user: &User, room: &str) -> Result<()> {
        let request = self.authed(node, Method::POST, &format!("/api/rooms/{room}/join"), Some(user)).json(&json!({}));
        let reply = self.send(request).await?;
        assert_eq!(reply.status, 200, "{}", reply.text());
        Ok(())
    }

    /// POST one multipart part.
    async fn upload(&self, node: NodeId, path: &str, user: &User, part: &Part<'_>) -> Result<Reply> {
        let (content_type, body) = part.encode();
        let request = self.authed(node, Method::POST, path, Some(user)).header(CONTENT_TYPE, content_type).body(body);
        self.send(request).await
    }
}

/// One multipart part to upload.
struct Part<'a> {
    field: &'a str,
    filename: &'a str,
    content_type: &'a str,
    bytes: Vec<u8>,
}

impl<'a> Part<'a> {
    fn file(filename: &'a str, content_type: &'a str, bytes: Vec<u8>) -> Self {
        Self { field: "file", filename, content_type, bytes }
    }

    fn profile(filename: &'a str, content_type: &'a str, bytes: Vec<u8>) -> Self {
        Self { field: "profileImage", filename, content_type, bytes }
    }

    fn encode(&self) -> (String, Vec<u8>) {
        let boundary = format!("----chat-tests-{:016x}", rand::random::<u64>());
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
            self.field, self.filename, self.content_type
        )
        .into_bytes();
        body.extend_from_slice(&self.bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Attach a file to a room, as a file `chatMessage` does.
async fn attach(cluster: &TestCluster, file_id: &str, room: &str) -> Result<()> {
    let command = Command::AttachFile { file_id: file_id.to_owned(), room_id: room.to_owned() };
    let answer = cluster.propose(1, command).await?;
    assert_eq!(answer.outcome, Outcome::FileAttached { added: true });
    Ok(())
}

/// A request with a path exactly as written (HTTP clients normalise `..` away).
async fn raw_get(cluster: &TestCluster, node: NodeId, path: &str) -> Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(&cluster.node(node).addr.public).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_is_served_by_every_node_to_room_participants_only() -> Result<()> {
    let cluster = cluster().await?;
    let api = Api::new(&cluster);
    let alice = api.register(1, "alice").await?;
    let bob = api.register(2, "bob").await?;
    let carol = api.register(3, "carol").await?;
    let room = api.create_room(1, &alice).await?;
    api.join(2, &bob, &room).await?;

    let bytes = pattern(300_000, 7);
    let reply = api
        .upload(1, "/api/files/upload", &alice, &Part::file("보고서 1.pdf", "application/pdf", bytes.clone()))
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "파일 업로드 성공");
    let file = &body["file"];
    let (file_id, filename) = (file["_id"].as_str().unwrap_or_default(), file["filename"].as_str().unwrap_or_default());
    assert_eq!(file_id.len(), 24, "{body}");
    let (millis, rest) = filename.split_once('_').expect("stored name shape");
    assert!(millis.bytes().all(|b| b.is_ascii_digit()) && rest.len() == 20 && rest.ends_with(".pdf"), "{filename}");
    assert_eq!(file["originalname"], "보고서 1.pdf");
    assert_eq!(file["mimetype"], "application/pdf");
    assert_eq!(file["size"], 300_000);
    assert!(file["uploadDate"].as_str().is_some_and(|d| d.len() == 26 && !d.ends_with('Z')), "{body}");

    // Acknowledged means recorded everywhere, with the bytes on two nodes.
    let state = cluster.state(3).await?;
    let record = state.files.get(file_id).context("record on node 3")?;
    assert_eq!(record.user, alice.id);
    assert_eq!(record.holders.len(), 2, "{record:?}");
    assert_eq!(record.holders[0], 1, "the uploading node holds a copy");
    for holder in &record.holders {
        let copy = std::fs::read(cluster.node(*holder).data_dir.join("blobs").join(filename))?;
        assert!(copy == bytes, "node {holder}'s copy differs");
    }

    // No message references it yet: not found, even for the uploader.
    let download = format!("/api/files/download/{filename}");
    let view = format!("/api/files/view/{filename}");
    assert_eq!(api.get(1, &download, Some(&alice)).await?.status, 404);

    attach(&cluster, file_id, &room).await?;
    // Node 2, token in the query only (how browsers fetch it).
    let reply = api.get(2, &format!("{download}?token={}", bob.token), None).await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.body == bytes, "downloaded bytes differ");
    assert_eq!(reply.header("content-type"), "application/pdf");
    assert_eq!(reply.header("content-length"), "300000");
    assert_eq!(reply.header("content-disposition"), "attachment; filename*=UTF-8''%EB%B3%B4%EA%B3%A0%EC%84%9C%201.pdf");
    assert_eq!(reply.header("cache-control"), "private, no-cache, no-store, must-revalidate");
    assert!(reply.header("access-control-expose-headers").contains("Content-Disposition"));

    let reply = api.get(2, &format!("{view}?token={}", bob.token), None).await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.body == bytes);
    let inline = reply.headers.get("content-disposition").map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    let want = "inline; filename=\"보고서 1.pdf\"; filename*=UTF-8''%EB%B3%B4%EA%B3%A0%EC%84%9C%201.pdf";
    assert_eq!(String::from_utf8_lossy(&inline), want);
    // Kept by the browser, never by a shared cache: the file is not public (issue 12).
    assert_eq!(reply.header("cache-control"), "private, max-age=31536000, immutable");
    assert_eq!(reply.header("x-content-type-options"), "nosniff");

    // HEAD: the same headers, no body; on the node that may hold no copy.
    let head = api.send(api.authed(3, Method::HEAD, &download, Some(&alice))).await?;
    assert_eq!((head.status, head.header("content-length"), head.body.len()), (200, "300000", 0));

    // Not a participant: 403 on every node; no token: 401.
    for node in [1, 2, 3] {
        let reply = api.get(node, &format!("{download}?token={}", carol.token), None).await?;
        assert_eq!(reply.status, 403, "node {node}: {}", reply.text());
        assert_eq!(reply.json()["message"], "파일에 접근할 권한이 없습니다.");
    }
    assert_eq!(api.get(2, &download, None).await?.status, 401);
    let unknown = "/api/files/download/1731900000000_0123456789abcdef.pdf";
    assert_eq!(api.get(2, unknown, Some(&bob)).await?.json()["message"], "파일을 찾을 수 없습니다.");

    // A document cannot be previewed.
    let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    let reply = api.upload(2, "/api/files/upload", &bob, &Part::file("notes.docx", docx, pattern(1000, 1))).await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let doc = reply.json()["file"].clone();
    attach(&cluster, doc["_id"].as_str().unwrap_or_default(), &room).await?;
    let doc_view = format!("/api/files/view/{}", doc["filename"].as_str().unwrap_or_default());
    let reply = api.get(1, &doc_view, Some(&alice)).await?;
    assert_eq!(reply.status, 415, "{}", reply.text());
    assert_eq!(reply.json()["message"], "미리보기를 지원하지 않는 파일 형식입니다.");

    // Only the uploader deletes; then it is gone from every node.
    let delete = format!("/api/files/{file_id}");
    assert_eq!(api.send(api.authed(2, Method::DELETE, &delete, Some(&bob))).await?.status, 403);
    let reply = api.send(api.authed(3, Method::DELETE, &delete, Some(&alice))).await?;
    assert_eq!((reply.status, reply.json()["message"].clone()), (200, json!("파일이 삭제되었습니다.")));
    assert_eq!(api.get(2, &download, Some(&bob)).await?.status, 404);
    assert!(!blob_files(&cluster).iter().any(|f| f.ends_with(filename)), "{:?}", blob_files(&cluster));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_uploads_and_path_tricks_get_clear_errors_and_change_nothing() -> Result<()> {
    let cluster = cluster().await?;
    let api = Api::new(&cluster);
    let alice = api.register(1, "alice").await?;
    let before = blob_files(&cluster);

    let cases: Vec<(Part, u16, &str)> = vec![
        (Part::file("photo.jpg", "image/png", pattern(100, 1)), 400, "파일 확장자가 파일 형식과 일치하지 않습니다."),
        (Part::file("photo", "image/png", pattern(100, 1)), 400, "파일 확장자가 파일 형식과 일치하지 않습니다."),
        (Part::file("notes.txt", "text/plain", pattern(100, 1)), 400, "지원하지 않는 파일 형식입니다."),
        (Part::file("empty.png", "image/png", Vec::new()), 400, "업로드할 파일이 없습니다."),
        (Part::file("", "image/png", pattern(100, 1)), 400, "파일 이름이 올바르지 않습니다."),
        (
            Part { field: "other", ..Part::file("a.png", "image/png", pattern(100, 1)) },
            400,
            "업로드할 파일이 없습니다.",
        ),
        (Part::file("big.png", "image/png", pattern(10 * MIB + 1, 1)), 400, "파일 크기는 10MB를 초과할 수 없습니다."),
        (
            Part::file("big.pdf", "application/pdf", pattern(20 * MIB + 1, 1)),
            400,
            "파일 크기는 20MB를 초과할 수 없습니다.",
        ),
    ];
    let long_name = format!("{}.png", "가".repeat(100));
    let long = Part::file(&long_name, "image/png", pattern(100, 1));
    for (part, status, message) in cases.iter().chain([(long, 400, "파일 이름이 올바르지 않습니다.")].iter())
    {
        let reply = api.upload(2, "/api/files/upload", &alice, part).await?;
        assert_eq!(
            (reply.status, reply.json()["message"].as_str().unwrap_or_default()),
            (*status, *message),
            "{}",
            part.filename
        );
    }
    // Over the 50 MiB request cap: the generic 413 envelope.
    let reply = api
        .upload(1, "/api/files/upload", &alice, &Part::file("huge.mp4", "video/mp4", pattern(50 * MIB + 1, 2)))
        .await?;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(reply.json()["success"], false);
    assert_eq!(reply.json()["path"], "/api/files/upload");
    assert_eq!(reply.json()["code"], "FILE_TOO_LARGE");
    assert_eq!(reply.json()["message"], "파일 크기는 5MB를 초과할 수 없습니다.");
    // Not multipart at all.
    let request = api.authed(1, Method::POST, "/api/files/upload", Some(&alice)).json(&json!({"file": "x"}));
    assert_eq!(api.send(request).await?.status, 400);

    let token = &alice.token;
    for trick in [
        "/api/files/download/../../../etc/passwd",
        "/api/files/download/..",
        "/api/files/view/..%2F..%2Fetc%2Fpasswd",
        "/api/files/download/%2Fetc%2Fpasswd",
        "/api/files/download//etc/passwd",
        "/api/files/view/1731900000000_0123456789abcdef.png%00.pdf",
        "/api/files/view/..%5C..%5Cetc%5Cpasswd",
        "/api/files/download/profiles/1731900000000_0123456789abcdef.png",
        "/api/files/download/1731900000000_0123456789abcdef.png/..",
    ] {
        let (status, body) = raw_get(&cluster, 2, &format!("{trick}?token={token}")).await?;
        assert_eq!(status, 400, "{trick}: {body}");
        assert!(body.contains("잘못된 파일명입니다."), "{trick}: {body}");
    }
    for trick in
        ["/api/uploads/profiles/..%2F..%2Fraft-log", "/api/uploads/../listening.json", "/api/uploads/%2Fetc%2Fpasswd"]
    {
        let (status, body) = raw_get(&cluster, 3, trick).await?;
        assert_eq!(status, 400, "{trick}: {body}");
    }

    assert!(cluster.state(1).await?.files.is_empty(), "no record may be left");
    assert_eq!(blob_files(&cluster), before, "no bytes may be left");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn profile_images_are_public_on_every_node_and_replaced_cleanly() -> Result<()> {
    let cluster = cluster().await?;
    let api = Api::new(&cluster);
    let alice = api.register(1, "alice").await?;
    let path = "/api/users/profile-image";

    let png = pattern(40_000, 3);
    let reply = api.upload(1, path, &alice, &Part::profile("me.png", "image/png", png.clone())).await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["message"], "프로필 이미지가 업데이트되었습니다.");
    let first = reply.json()["imageUrl"].as_str().unwrap_or_default().to_owned();
    assert!(first.starts_with("/api/uploads/profiles/") && first.ends_with(".png"), "{first}");

    // Public (no token) on every node, bytes and type intact.
    for node in [1, 2, 3] {
        let reply = api.get(node, &first, None).await?;
        assert_eq!((reply.status, reply.header("content-type")), (200, "image/png"), "node {node}");
        assert!(reply.body == png, "node {node} served other bytes");
    }
    assert_eq!(api.get(3, "/api/users/profile", Some(&alice)).await?.json()["user"]["profileImage"], first.as_str());

    // Replace: the old image is gone (record and every copy), the new one served.
    let jpg = pattern(20_000, 4);
    let reply = api.upload(2, path, &alice, &Part::profile("me.JPG", "image/jpeg", jpg.clone())).await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let second = reply.json()["imageUrl"].as_str().unwrap_or_default().to_owned();
    assert!(second.ends_with(".jpg"), "{second}");
    let old = api.get(3, &first, None).await?;
    assert_eq!((old.status, old.body.len()), (404, 0));
    assert!(api.get(1, &second, None).await?.body == jpg);
    let files = cluster.state(1).await?.files;
    assert_eq!(files.len(), 1, "only the current image is recorded");
    let old_name = first.trim_start_matches("/api/uploads/");
    assert!(!blob_files(&cluster).iter().any(|f| f.ends_with(old_name)), "{:?}", blob_files(&cluster));

    // Refusals.
    let cases = [
        (Part::profile("doc.pdf", "application/pdf", pattern(10, 1)), "이미지 파일만 업로드할 수 있습니다."),
        (Part::profile("me.png", "image/jpeg", pattern(10, 1)), "이미지 형식과 파일 확장자가 일치하지 않습니다."),
        (Part::profile("big.png", "image/png", pattern(5 * MIB + 1, 1)), "파일 크기는 5MB를 초과할 수 없습니다."),
        (Part::profile("empty.png", "image/png", Vec::new()), "이미지가 제공되지 않았습니다."),
    ];
    for (part, message) in &cases {
        let reply = api.upload(3, path, &alice, part).await?;
        assert_eq!((reply.status, reply.json()["message"].clone()), (400, json!(message)), "{}", part.filename);
    }

    // Delete: idempotent, the image disappears everywhere.
    for _ in 0..2 {
        let reply = api.send(api.authed(3, Method::DELETE, path, Some(&alice))).await?;
        assert_eq!((reply.status, reply.json()["message"].clone()), (200, json!("프로필 이미지가 삭제되었습니다.")));
    }
    assert_eq!(api.get(2, &second, None).await?.status, 404);
    assert_eq!(api.get(1, "/api/users/profile", Some(&alice)).await?.json()["user"]["profileImage"], "");
    assert!(cluster.state(2).await?.files.is_empty());
    assert!(blob_files(&cluster).iter().all(|f| f.ends_with(":profiles")), "{:?}", blob_files(&cluster));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acknowledged_upload_survives_killing_the_node_that_took_it() -> Result<()> {
    let mut cluster = cluster().await?;
    let api = Api::new(&cluster);
    let alice = api.register(2, "alice").await?;
    let bob = api.register(3, "bob").await?;
    let room = api.create_room(2, &alice).await?;
    api.join(3, &bob, &room).await?;
    let bytes = pattern(2 * MIB + 5, 9);
    let reply = api.upload(1, "/api/files/upload", &alice, &Part::file("clip.mp4", "video/mp4", bytes.clone())).await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let (file_id, filename) = {
        let file = &reply.json()["file"];
        (file["_id"].as_str().unwrap_or_default().to_owned(), file["filename"].as_str().unwrap_or_default().to_owned())
    };
    attach(&cluster, &file_id, &room).await?;
    drop(api);

    cluster.kill(1);
    let api = Api::new(&cluster);
    for node in [2, 3] {
        let path = format!("/api/files/download/{filename}?token={}", bob.token);
        let reply = wait_until(&format!("node {node} to serve the file"), Duration::from_secs(15), || async {
            api.get(node, &path, None).await.ok().filter(|r| r.status == 200)
        })
        .await?;
        assert!(reply.body == bytes, "node {node} served other bytes");
    }
    Ok(())
}
