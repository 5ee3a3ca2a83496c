//! Fuzzing a real node (issue 12): proptest-generated REST bodies and query strings,
//! Socket.IO event payloads, raw Engine.IO frames, multipart uploads and tokens, thrown
//! at one running chat-node over real sockets.
//!
//! For any input the same things must hold: no answer is a server error (5xx), the node
//! keeps serving the caller and everyone else, and nothing outside the caller's reach
//! changes (another user's room and account, the caller's own role). Each target runs a
//! bounded number of cases (`FUZZ_CASES`, 256 by default) so the suite stays short; a
//! failing input is shrunk by proptest and kept in `tests/tests/fuzz_inputs.regressions`,
//! where it is replayed first on every later run (the regression tests of the fuzzers).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat_ops::client::{ChatApi, ChatSocket, Events, Login};
use chat_raft::state::{Room, User};
use chat_tests::socket_events::{next_event, WAIT};
use chat_tests::{NodeSpec, TestCluster};
use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;

/// Cases per target unless `FUZZ_CASES` says otherwise.
const DEFAULT_CASES: u32 = 256;

fn runner() -> TestRunner {
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES);
    TestRunner::new(Config {
        cases,
        max_shrink_iters: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        source_file: Some(file!()),
        ..Config::default()
    })
}

/// A case's failure, as proptest wants it.
fn fail(e: anyhow::Error) -> TestCaseError {
    TestCaseError::fail(format!("{e:#}"))
}

/// One node with two users: the `attacker` whose inputs are fuzzed, in a room of their
/// own, and a `victim` with a password room the attacker never joined.
struct Target {
    runtime: Runtime,
    cluster: TestCluster,
    api: ChatApi,
    attacker: Login,
    attacker_room: String,
    victim: Login,
    victim_room: String,
}

impl Target {
    fn start() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let (cluster, api, attacker, attacker_room, victim, victim_room) = runtime.block_on(async {
            // Limits that a few hundred fuzz cases would otherwise reach; they have
            // tests of their own (hostile_clients.rs).
            let args = [
                "--bcrypt-cost",
                "4",
                "--membership-rate-limit",
                "100000",
                "--room-create-rate-limit",
                "100000",
                "--password-failures-per-account",
                "100000",
                "--password-failures-per-address",
                "100000",
                "--max-sockets-per-user",
                "100000",
            ];
            let cluster = TestCluster::start(NodeSpec::voters(1).with_args(&args)).await?;
            let api = ChatApi::new(&cluster.node(1).addr.public)?;
            let victim = api.register("Victim", "victim@fuzz.test", "victim-pass-1").await?;
            let victim_room = api.create_room(&victim, "victim's room", Some("room-secret-1")).await?.id;
            let attacker = api.register("Attacker", "attacker@fuzz.test", "attacker-pass-1").await?;
            let attacker_room = api.create_room(&attacker, "attacker's room", None).await?.id;
            anyhow::Ok((cluster, api, attacker, attacker_room, victim, victim_room))
        })?;
        Ok(Self { runtime, cluster, api, attacker, attacker_room, victim, victim_room })
    }

    fn public(&self) -> &str {
        &self.cluster.node(1).addr.public
    }

    /// The replicated records the attacker must never change: the victim's room and
    /// account, and the attacker's own email, password and standing (their name and
    /// picture are theirs to change).
    fn guarded(&self) -> Result<Guarded> {
        let state = self.runtime.block_on(self.cluster.local_state(1))?;
        let standing = |u: &User| format!("{} {} {:?} {:?} {:?}", u.email, u.password_hash, u.role, u.ban, u.mute);
        Ok((
            state.rooms.get(&self.victim_room).cloned(),
            state.users.get(&self.victim.user_id).cloned(),
            state.users.get(&self.attacker.user_id).map(standing),
        ))
    }

    /// After a target ran: the node still runs and answers its health check and an
    /// authenticated request, and the guarded records are as they were.
    fn check_untouched(&self, before: &Guarded) -> Result<()> {
        if !self.cluster.node(1).is_running() {
            bail!("the node exited:\n{}", self.cluster.log_tails(40));
        }
        let health = self.runtime.block_on(reqwest::get(format!("http://{}/api/health", self.public())))?;
        if !health.status().is_success() {
            bail!("/api/health answered {}", health.status());
        }
        self.runtime.block_on(self.api.rooms(&self.victim, 1, 10))?;
        let after = self.guarded()?;
        if &after != before {
            bail!("records outside the attacker's reach changed:\nbefore {before:?}\nafter  {after:?}");
        }
        Ok(())
    }
}

type Guarded = (Option<Room>, Option<User>, Option<String>);

/// Strings a parser might trip on, mixed into the generated values.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        Just("\u{0}".to_owned()),
        Just("../../etc/passwd".to_owned()),
        Just("a".repeat(70_000)),
        Just("😀".repeat(3_000)),
        Just("__proto__".to_owned()),
        Just("$where".to_owned()),
        Just("{\"$gt\":\"\"}".to_owned()),
        Just("attacker@fuzz.test".to_owned()),
        Just("victim@fuzz.test".to_owned()),
        Just("admin".to_owned()),
        "\\PC{0,40}",
        "[a-z0-9@._-]{0,30}",
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "name", "email", "password", "roomId", "content", "type", "messageIds", "messageId",
            "reaction", "emoji", "before", "limit", "role", "duration", "reason", "fileData",
            "token", "sessionId", "page", "pageSize", "id", "_id", "participants", "creator",
        ])
        .prop_map(str::to_owned),
        1 => tricky_string(),
    ]
}

/// Arbitrary JSON, with room and user ids of the target among the strings so that
/// inputs reach past "unknown id" checks.
fn json_value(ids: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![Just(u64::MAX), Just(0u64), any::<u64>()].prop_map(Value::from),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        tricky_string().prop_map(Value::String),
        prop::sample::select(ids).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6).prop_map(|fields| Value::Object(Map::from_iter(fields))),
        ]
    })
}

/// A request body: mostly JSON, sometimes bytes that are not.
fn body(ids: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_value(ids).prop_map(|v| serde_json::to_vec(&v).expect("a Value serializes")),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => Just(b"{\"a\":".repeat(10_000)),
    ]
}

fn ids_of(target: &Target) -> Vec<String> {
    vec![
        target.attacker_room.clone(),
        target.victim_room.clone(),
        target.victim.user_id.clone(),
        target.attacker.user_id.clone(),
        "000000000000000000000000".to_owned(),
    ]
}

/// REST routes that read a body or a path id, `{room}` and `{user}` filled in by the case.
/// (Not `GET /api/message/rooms/{id}/messages`: the contract answers it 500 "미구현." always.)
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/verify-token"),
    ("POST", "/api/auth/refresh-token"),
    ("GET", "/api/rooms"),
    ("POST", "/api/rooms"),
    ("GET", "/api/rooms/{room}"),
    ("POST", "/api/rooms/{room}/join"),
    ("GET", "/api/rooms/{room}/presence"),
    ("PUT", "/api/users/profile"),
    ("GET", "/api/users/status"),
    ("PUT", "/api/admin/users/{user}/role"),
    ("POST", "/api/admin/users/{user}/ban"),
    ("POST", "/api/admin/users/{user}/mute"),
    ("DELETE", "/api/admin/rooms/{room}"),
    ("DELETE", "/api/files/{room}"),
    ("POST", "/api/console/cluster/transfer-leader"),
];

/// REST bodies, path ids and query strings on every route that takes them, with the
/// attacker's token: never a 5xx, the answer is JSON, and the attacker changes nothing
/// of the victim's nor their own role (the admin routes answer 403).
#[test]
fn fuzzed_rest_requests_never_fail_the_server_or_reach_others() -> Result<()> {
    let target = Target::start()?;
    let before = target.guarded()?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let ids = ids_of(&target);
    let strategy = (
        prop::sample::select(ROUTES),
        prop::sample::select(ids.clone()),
        tricky_string(),
        body(ids),
        prop::option::of("[a-zA-Z=&%0-9.\\-]{0,60}"),
        any::<bool>(),
    );
    let outcome = runner().run(&strategy, |((method, route), id, path_noise, body, query, noisy_path)| {
        let id = if noisy_path { urlencode(&path_noise) } else { id };
        let path = route.replace("{room}", &id).replace("{user}", &id);
        let url = match &query {
            Some(q) => format!("http://{}{path}?{q}", target.public()),
            None => format!("http://{}{path}", target.public()),
        };
        let request = http
            .request(method.parse().expect("a method"), url)
            .header("x-auth-token", &target.attacker.token)
            .header("x-session-id", &target.attacker.session_id)
            .header("content-type", "application/json")
            .body(body);
        let Some((status, text)) = target.runtime.block_on(send(&target, request)).map_err(fail)? else {
            return Ok(());
        };
        prop_assert!(status.as_u16() < 500, "{method} {path} answered {status}: {text}");
        // Unknown paths are an empty 404 by contract (protocol §3.7); every other answer
        // is JSON.
        let empty_404 = status == 404 && text.is_empty();
        prop_assert!(
            empty_404 || serde_json::from_str::<Value>(&text).is_ok(),
            "{method} {path} answered {status} with a body that is not JSON: {text}"
        );
        Ok(())
    });
    outcome.map_err(|e| anyhow::anyhow!("{e}"))?;
    target.check_untouched(&before)
}

/// The status and body of `request`; `None` when the node answered before reading the
/// whole body and closed the connection under it (a refusal by status it is entitled to
/// send early), as long as it still serves.
async fn send(target: &Target, request: reqwest::RequestBuilder) -> Result<Option<(reqwest::StatusCode, String)>> {
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            Ok(Some((status, response.text().await?)))
        }
        Err(e) => {
            let health = reqwest::get(format!("http://{}/api/health", target.public())).await;
            match health {
                Ok(health) if health.status().is_success() => Ok(None),
                _ => Err(anyhow::Error::new(e).context("the request failed and the node no longer answers")),
            }
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

const EVENTS: &[&str] = &[
    "joinRoom",
    "leaveRoom",
    "chatMessage",
    "fetchPreviousMessages",
    "markMessagesAsRead",
    "messageReaction",
    "typing",
    "",
    "connect",
    "disconnect",
    "error",
];

/// Socket.IO events with arbitrary arguments from an authenticated member, each case on
/// a socket of its own: the socket is never dropped for them, the node keeps delivering
/// the member's own messages on it, and nothing of the victim's changes.
#[test]
fn fuzzed_socket_events_never_break_the_socket_or_reach_others() -> Result<()> {
    let target = Target::start()?;
    let before = target.guarded()?;
    let ids = ids_of(&target);
    // Event names without JSON escapes: socketioxide reads the name borrowed from the
    // frame and closes the connection on one it would have to unescape (README "Limits").
    let event = prop_oneof![3 => prop::sample::select(EVENTS).prop_map(str::to_owned), 1 => "[^\"\\\\\\p{Cc}]{0,40}"];
    let strategy = prop::collection::vec((event, prop::collection::vec(json_value(ids), 0..3)), 1..6);
    let case = std::cell::Cell::new(0u64);
    let outcome = runner().run(&strategy, |emits| {
        case.set(case.get() + 1);
        // A packet over the 64 KiB frame limit closes the connection by design
        // (README "Limits"); the raw-frame target covers what the node does then.
        let packet: usize =
            emits.iter().map(|(name, args)| name.len() + Value::Array(args.clone()).to_string().len()).sum();
        if packet > 60 * 1024 {
            return Ok(());
        }
        let marker = format!("fuzz check {}", case.get());
        target
            .runtime
            .block_on(async {
                let (socket, mut events) = ChatSocket::connect(target.api.base(), &target.attacker, WAIT).await?;
                join(&socket, &mut events, &target.attacker_room).await?;
                for (name, args) in &emits {
                    socket.emit(name, Value::Array(args.clone()))?;
                }
                // A fuzzed leaveRoom may have taken the attacker out of their room: join
                // again, then their own message must come back on this socket.
                join(&socket, &mut events, &target.attacker_room).await?;
                let message = json!([{ "room": target.attacker_room, "type": "text", "content": marker }]);
                socket.emit("chatMessage", message)?;
                next_event(&mut events, "message", |m| m["content"] == marker.as_str()).await?;
                socket.close();
                anyhow::Ok(())
            })
            .map_err(fail)
    });
    outcome.map_err(|e| anyhow::anyhow!("{e}"))?;
    target.check_untouched(&before)
}

async fn join(socket: &ChatSocket, events: &mut Events, room: &str) -> Result<()> {
    socket.emit("joinRoom", json!([room]))?;
    next_event(events, "joinRoomSuccess", |p| p["roomId"] == room).await.map(drop)
}

/// Raw Engine.IO / Socket.IO text frames before any authentication: whatever the node
/// does with them (answer, refuse, close), it keeps serving.
#[test]
fn fuzzed_raw_frames_before_authentication_leave_the_node_serving() -> Result<()> {
    let target = Target::start()?;
    let before = target.guarded()?;
    let frame = prop_oneof![
        ("[0-6]", "[0-6]?", "\\PC{0,80}").prop_map(|(a, b, rest)| format!("{a}{b}{rest}")),
        ("4[0-6]", json_value(vec!["x".into()])).prop_map(|(p, v)| format!("{p}{v}")),
        ("4[0-6]/[a-z]{0,6},", json_value(vec!["x".into()])).prop_map(|(p, v)| format!("{p}{v}")),
        "\\PC{0,120}",
    ];
    let strategy = prop::collection::vec(frame, 1..5);
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", target.public());
    let outcome = runner().run(&strategy, |frames| {
        target
            .runtime
            .block_on(async {
                let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
                for frame in &frames {
                    if ws.send(Message::Text(frame.clone().into())).await.is_err() {
                        break; // closed by the node: a fine answer
                    }
                }
                // Read what comes back for a moment; any answer or a close is fine.
                let _ = tokio::time::timeout(Duration::from_millis(50), ws.next()).await;
                let _ = ws.close(None).await;
                let health = reqwest::get(format!("http://{}/api/health", target.public())).await?;
                if !health.status().is_success() {
                    bail!("/api/health answered {} after {frames:?}", health.status());
                }
                anyhow::Ok(())
            })
            .map_err(fail)
    });
    outcome.map_err(|e| anyhow::anyhow!("{e}"))?;
    target.check_untouched(&before)
}

/// A multipart body built from fuzzed parts: names, file names, content types,
/// contents, and sometimes a broken boundary or a truncated end.
fn multipart() -> impl Strategy<Value = (String, Vec<u8>)> {
    let part = (
        prop_oneof![Just("file".to_owned()), Just("profileImage".to_owned()), tricky_string()],
        prop::option::of(prop_oneof![
            Just("a.png".to_owned()),
            Just("x.".to_owned()),
            Just(".".to_owned()),
            Just("a.😀".to_owned()),
            Just("a.exe".to_owned()),
            Just("a.PNG".to_owned()),
            Just(format!("a.{}", "b".repeat(300))),
            tricky_string(),
        ]),
        prop::option::of(prop_oneof![
            Just("image/png".to_owned()),
            Just("text/plain".to_owned()),
            Just("application/octet-stream".to_owned()),
            tricky_string(),
        ]),
        prop::collection::vec(any::<u8>(), 0..512),
    );
    (prop::collection::vec(part, 0..3), "[a-zA-Z0-9]{1,30}", any::<bool>(), any::<bool>()).prop_map(
        |(parts, boundary, truncate, wrong_boundary)| {
            let mut body = Vec::new();
            for (name, filename, content_type, content) in parts {
                body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
                if let Some(filename) = filename {
                    disposition.push_str(&format!("; filename=\"{filename}\""));
                }
                body.extend_from_slice(disposition.as_bytes());
                body.extend_from_slice(b"\r\n");
                if let Some(content_type) = content_type {
                    body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
                }
                body.extend_from_slice(b"\r\n");
                body.extend_from_slice(&content);
                body.extend_from_slice(b"\r\n");
            }
            if !truncate {
                body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            }
            let header_boundary = if wrong_boundary { format!("{boundary}x") } else { boundary };
            (format!("multipart/form-data; boundary={header_boundary}"), body)
        },
    )
}

/// Multipart uploads (chat files and profile images) with fuzzed parts: never a 5xx,
/// and the node keeps serving.
#[test]
fn fuzzed_multipart_uploads_never_fail_the_server() -> Result<()> {
    let target = Target::start()?;
    let before = target.guarded()?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let route = prop::sample::select(vec!["/api/files/upload", "/api/users/profile-image"]);
    let outcome = runner().run(&(route, multipart()), |(route, (content_type, body))| {
        let request = http
            .post(format!("http://{}{route}", target.public()))
            .header("x-auth-token", &target.attacker.token)
            .header("x-session-id", &target.attacker.session_id)
            .header("content-type", content_type)
            .body(body);
        let Some((status, text)) = target.runtime.block_on(send(&target, request)).map_err(fail)? else {
            return Ok(());
        };
        prop_assert!(status.as_u16() < 500, "{route} answered {status}: {text}");
        Ok(())
    });
    outcome.map_err(|e| anyhow::anyhow!("{e}"))?;
    target.check_untouched(&before)
}

/// Ways to spoil a valid token.
#[derive(Debug, Clone)]
enum Spoil {
    /// Replace the character at this position (never a segment's last one, whose
    /// spare base64 bits could leave the decoded bytes as they were).
    Replace(usize, char),
    Delete(usize),
    Insert(usize, char),
    /// Swap two of the three segments.
    Swap(usize, usize),
    /// Signed with another secret.
    OtherSecret(String),
    /// The same claims under `alg: none` and no signature.
    AlgNone,
    /// Not a token at all.
    Garbage(String),
}

fn spoil() -> impl Strategy<Value = Spoil> {
    let base64_char = prop::sample::select(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ".chars().collect::<Vec<_>>(),
    );
    prop_oneof![
        (any::<usize>(), base64_char.clone()).prop_map(|(i, c)| Spoil::Replace(i, c)),
        any::<usize>().prop_map(Spoil::Delete),
        (any::<usize>(), base64_char).prop_map(|(i, c)| Spoil::Insert(i, c)),
        (0usize..3, 0usize..3).prop_map(|(a, b)| Spoil::Swap(a, b)),
        "[ -~]{0,40}".prop_map(Spoil::OtherSecret),
        Just(Spoil::AlgNone),
        "[ -~]{0,200}".prop_map(Spoil::Garbage),
    ]
}

/// The spoiled token, or `None` when the spoil would leave it valid (a no-op swap).
fn spoiled(token: &str, spoil: &Spoil) -> Option<String> {
    let chars: Vec<char> = token.chars().collect();
    // Positions whose change always changes the decoded token: not a segment's last
    // character and not a dot.
    let inner: Vec<usize> =
        (0..chars.len()).filter(|&i| chars[i] != '.' && chars.get(i + 1).is_some_and(|c| *c != '.')).collect();
    match spoil {
        Spoil::Replace(i, c) => {
            let at = inner[i % inner.len()];
            (chars[at] != *c).then(|| {
                let mut out = chars.clone();
                out[at] = *c;
                out.into_iter().collect()
            })
        }
        Spoil::Delete(i) => {
            let mut out = chars.clone();
            out.remove(inner[i % inner.len()]);
            Some(out.into_iter().collect())
        }
        Spoil::Insert(i, c) => {
            let mut out = chars.clone();
            out.insert(inner[i % inner.len()], *c);
            Some(out.into_iter().collect())
        }
        Spoil::Swap(a, b) => {
            let mut segments: Vec<&str> = token.split('.').collect();
            (segments[*a] != segments[*b]).then(|| {
                segments.swap(*a, *b);
                segments.join(".")
            })
        }
        Spoil::OtherSecret(secret) => {
            let claims = claims_of(token)?;
            let key = jsonwebtoken::EncodingKey::from_secret(format!("not the node's secret {secret}").as_bytes());
            jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).ok()
        }
        Spoil::AlgNone => {
            let payload = token.split('.').nth(1)?;
            Some(format!("{}.{payload}.", base64url(br#"{"alg":"none","typ":"JWT"}"#)))
        }
        Spoil::Garbage(text) => (text != token).then(|| text.clone()),
    }
}

/// The claims of a token, decoded without checking its signature.
fn claims_of(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&from_base64url(payload)?).ok()
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn from_base64url(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut held = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        bits = bits << 6 | BASE64URL.iter().position(|&a| a == c)? as u32;
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
        }
    }
    Some(out)
}

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(BASE64URL[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Spoiled tokens (changed characters, swapped segments, another secret, `alg: none`,
/// garbage) on an authenticated route with the real session id: always 401, never the
/// attacker's profile.
#[test]
fn fuzzed_tokens_are_always_refused() -> Result<()> {
    let target = Target::start()?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let token = target.attacker.token.clone();
    // The unspoiled token is accepted: the refusals below are the spoiling's doing.
    let status = target.runtime.block_on(profile_status(&http, &target, &token))?;
    if status != 200 {
        bail!("the valid token got {status}");
    }
    let outcome = runner().run(&spoil(), |spoil| {
        let Some(bad) = spoiled(&token, &spoil) else { return Ok(()) };
        let status = target.runtime.block_on(profile_status(&http, &target, &bad)).map_err(fail)?;
        prop_assert_eq!(status, 401, "{:?} gave {:?}", spoil, bad);
        Ok(())
    });
    outcome.map_err(|e| anyhow::anyhow!("{e}"))
}

async fn profile_status(http: &reqwest::Client, target: &Target, token: &str) -> Result<u16> {
    let response = http
        .get(format!("http://{}/api/users/profile", target.public()))
        .header("x-auth-token", token)
        .header("x-session-id", &target.attacker.session_id)
        .send()
        .await
        .context("GET /api/users/profile")?;
    Ok(response.status().as_u16())
}
