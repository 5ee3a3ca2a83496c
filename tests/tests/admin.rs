//! Acceptance tests of the admin API (protocol §8) against real `chat-node` processes:
//! sanctions issued through one node take effect on every node (sockets elsewhere get
//! `session_ended` first, then close; tokens get 401 everywhere by the time the admin
//! is answered), roles from `CHAT_ADMIN_EMAILS` and `chatctl admin`, the last admin,
//! 403 for non-admins, bad input refused without a change, the audit log the same on
//! every node, and a ban that survives the leader's death mid-request. Deleted
//! messages (tombstones, `messageDeleted`), rooms (`roomDeleted`, closed everywhere,
//! history for admins) and users reach every node, and are audited with their types.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use chat_ops::client::{ChatApi, ChatSocket, Events, Incoming, Login};
use chat_raft::NodeId;
use chat_tests::{wait_until, NodeSpec, TestCluster};
use reqwest::Method;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(15);
const ROOT: &str = "root@admin.test";
const PASSWORD: &str = "password-1";

async fn cluster() -> Result<TestCluster> {
    TestCluster::start(NodeSpec::voters(3).with_args(&["--bcrypt-cost", "4", "--admin-emails", ROOT])).await
}

/// Raw HTTP to any node: status and JSON body.
struct Http<'a> {
    cluster: &'a TestCluster,
    http: reqwest::Client,
}

impl<'a> Http<'a> {
    fn new(cluster: &'a TestCluster) -> Self {
        Self { cluster, http: reqwest::Client::new() }
    }

    fn api(&self, node: NodeId) -> Result<ChatApi> {
        Ok(ChatApi::new(&self.cluster.node(node).addr.public)?)
    }

    async fn call(
        &self,
        node: NodeId,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        chat_tests::public_http::call(self.cluster, &self.http, node, method, path, token, body, WAIT).await
    }

    async fn admin(
        &self,
        node: NodeId,
        method: Method,
        path: &str,
        root: &Login,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        self.call(node, method, path, Some(&root.token), body).await
    }

    /// The status of the user's token on every node.
    async fn token_status(&self, user: &Login) -> Result<Vec<u16>> {
        let mut statuses = Vec::new();
        for id in self.cluster.ids() {
            statuses.push(self.call(id, Method::GET, "/api/users/profile", Some(&user.token), None).await?.0);
        }
        Ok(statuses)
    }

    async fn login(&self, node: NodeId, email: &str) -> Result<(u16, Value)> {
        let body = json!({"email": email, "password": PASSWORD});
        self.call(node, Method::POST, "/api/auth/login", None, Some(body)).await
    }
}

/// The next event or close.
async fn next_event(events: &mut Events) -> Result<Incoming> {
    tokio::time::timeout(WAIT, events.recv()).await.context("no event in time")?.context("event stream ended")
}

/// Skip unrelated events until `session_ended`; it must come before the close.
async fn expect_session_ended(events: &mut Events, reason: &str) -> Result<()> {
    loop {
        match next_event(events).await? {
            Incoming::Event { name, args, .. } if name == "session_ended" => {
                ensure!(args[0]["reason"] == reason, "session_ended {args:?}, expected reason {reason}");
                ensure!(args[0]["message"].as_str().is_some_and(|m| !m.is_empty()), "a message: {args:?}");
                break;
            }
            Incoming::Event { .. } => {}
            Incoming::Closed { reason: why } => bail!("closed ({why}) before session_ended"),
        }
    }
    loop {
        match next_event(events).await? {
            Incoming::Closed { .. } => return Ok(()),
            Incoming::Event { .. } => {}
        }
    }
}

fn login_of(body: &Value, email: &str) -> Login {
    Login {
        user_id: body["user"]["_id"].as_str().unwrap_or_default().to_owned(),
        name: body["user"]["name"].as_str().unwrap_or_default().to_owned(),
        email: email.to_owned(),
        token: body["token"].as_str().unwrap_or_default().to_owned(),
        session_id: body["sessionId"].as_str().unwrap_or_default().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sanctions_take_effect_on_every_node_and_are_audited() -> Result<()> {
    let cluster = cluster().await?;
    let http = Http::new(&cluster);
    let root = http.api(1)?.register("Root", "Root@Admin.test", PASSWORD).await?;
    let alice = http.api(2)?.register("Alice", "alice@admin.test", PASSWORD).await?;
    let alice_id = alice.user_id.clone();
    let (_, profile) = http.call(3, Method::GET, "/api/users/profile", Some(&root.token), None).await?;
    assert_eq!(profile["user"]["role"], "admin", "--admin-emails made root an admin: {profile}");

    // Non-admins get 403 on every admin route, on every node; no token gets 401.
    let routes = [
        (Method::GET, "/api/admin/users".to_owned(), None),
        (Method::GET, format!("/api/admin/users/{}", root.user_id), None),
        (Method::PUT, format!("/api/admin/users/{}/role", alice_id), Some(json!({"role": "admin"}))),
        (Method::POST, format!("/api/admin/users/{}/ban", root.user_id), Some(json!({"reason": "x"}))),
        (Method::POST, format!("/api/admin/users/{}/unban", root.user_id), None),
        (Method::POST, format!("/api/admin/users/{}/mute", root.user_id), Some(json!({"reason": "x", "minutes": 1}))),
        (Method::POST, format!("/api/admin/users/{}/unmute", root.user_id), None),
        (Method::POST, format!("/api/admin/users/{}/logout", root.user_id), None),
        (Method::DELETE, format!("/api/admin/users/{}", root.user_id), None),
        (Method::GET, "/api/admin/audit".to_owned(), None),
    ];
    for id in cluster.ids() {
        for (method, path, body) in &routes {
            let (status, answer) = http.call(id, method.clone(), path, Some(&alice.token), body.clone()).await?;
            assert_eq!(
                (status, answer["code"].as_str()),
                (403, Some("FORBIDDEN")),
                "{method} {path} on {id}: {answer}"
            );
            assert_eq!(answer["path"], path.split('?').next().unwrap());
            assert_eq!(http.call(id, method.clone(), path, None, body.clone()).await?.0, 401, "{method} {path}");
        }
    }

    // Bad input: a clear 400/404/409, and nothing changes.
    let unknown = "0123456789abcdef01234567";
    let bad = [
        (Method::POST, format!("/api/admin/users/{unknown}/ban"), json!({"reason": "spam"}), 404, "USER_NOT_FOUND"),
        (
            Method::POST,
            format!("/api/admin/users/{alice_id}/ban"),
            json!({"reason": "spam", "minutes": -5}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            format!("/api/admin/users/{alice_id}/ban"),
            json!({"reason": "x".repeat(501)}),
            400,
            "VALIDATION_ERROR",
        ),
        (Method::POST, format!("/api/admin/users/{alice_id}/ban"), json!({"minutes": 5}), 400, "VALIDATION_ERROR"),
        (
            Method::POST,
            format!("/api/admin/users/{alice_id}/ban"),
            json!({"reason": "x", "minutes": "ten"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            Method::POST,
            format!("/api/admin/users/{alice_id}/mute"),
            json!({"reason": "flood"}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            Method::POST,
            format!("/api/admin/users/{alice_id}/mute"),
            json!({"reason": "flood", "minutes": 0}),
            400,
            "VALIDATION_ERROR",
        ),
        (Method::PUT, format!("/api/admin/users/{alice_id}/role"), json!({"role": "root"}), 400, "VALIDATION_ERROR"),
        (Method::PUT, format!("/api/admin/users/{}/role", root.user_id), json!({"role": "user"}), 409, "LAST_ADMIN"),
        (
            Method::POST,
            format!("/api/admin/users/{}/ban", root.user_id),
            json!({"reason": "me"}),
            400,
            "CANNOT_TARGET_SELF",
        ),
        (Method::POST, format!("/api/admin/users/{unknown}/logout"), json!({}), 404, "USER_NOT_FOUND"),
    ];
    for (method, path, body, status, code) in bad {
        let (got, answer) = http.admin(1, method.clone(), &path, &root, Some(body.clone())).await?;
        assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{method} {path} {body}: {answer}");
    }
    let (_, users) = http.admin(1, Method::GET, "/api/admin/users?status=banned", &root, None).await?;
    assert_eq!(users["metadata"]["total"], 0, "{users}");
    let (_, audit) = http.admin(2, Method::GET, "/api/admin/audit", &root, None).await?;
    assert_eq!(audit["data"], json!([]), "refusals are not audited: {audit}");

    // Ban through node 1: alice's sockets on nodes 2 and 3 hear why, then close; her
    // token is refused everywhere as soon as the admin is answered.
    let (s2, mut e2) = ChatSocket::connect(http.api(2)?.base(), &alice, WAIT).await?;
    let (s3, mut e3) = ChatSocket::connect(http.api(3)?.base(), &alice, WAIT).await?;
    let path = format!("/api/admin/users/{alice_id}/ban");
    let (status, banned) = http.admin(1, Method::POST, &path, &root, Some(json!({"reason": "spam"}))).await?;
    assert_eq!(status, 200, "{banned}");
    assert_eq!(http.token_status(&alice).await?, [401, 401, 401]);
    assert_eq!(
        (banned["user"]["banned"].as_bool(), banned["user"]["ban"]["reason"].as_str()),
        (Some(true), Some("spam"))
    );
    assert_eq!(banned["user"]["ban"]["until"], Value::Null);
    expect_session_ended(&mut e2, "banned").await?;
    expect_session_ended(&mut e3, "banned").await?;
    drop((s2, s3));
    for id in cluster.ids() {
        let (status, refused) = http.login(id, "alice@admin.test").await?;
        assert_eq!(
            (status, refused["code"].as_str(), refused["reason"].as_str()),
            (403, Some("ACCOUNT_BANNED"), Some("spam")),
            "{refused}"
        );
        assert_eq!(refused["bannedUntil"], Value::Null);
        let (_, listed) = http.admin(id, Method::GET, "/api/admin/users?status=banned", &root, None).await?;
        assert_eq!(listed["data"][0]["id"], alice_id.as_str(), "node {id}: {listed}");
    }
    let (wrong, _) = http
        .call(
            2,
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": "alice@admin.test", "password": "nope!!"})),
        )
        .await?;
    assert_eq!(wrong, 401, "a wrong password learns nothing of the ban");
    assert_eq!(http.admin(3, Method::POST, &format!("/api/admin/users/{alice_id}/unban"), &root, None).await?.0, 200);
    let (status, body) = http.login(2, "alice@admin.test").await?;
    assert_eq!(status, 200, "unban restores login: {body}");
    let alice = login_of(&body, "alice@admin.test");

    // Admin logout through node 2 ends the session on node 3's socket; login works again.
    let (s3, mut e3) = ChatSocket::connect(http.api(3)?.base(), &alice, WAIT).await?;
    assert_eq!(http.admin(2, Method::POST, &format!("/api/admin/users/{alice_id}/logout"), &root, None).await?.0, 200);
    assert_eq!(http.token_status(&alice).await?, [401, 401, 401]);
    expect_session_ended(&mut e3, "admin_logout").await?;
    drop(s3);
    let (status, body) = http.login(3, "alice@admin.test").await?;
    assert_eq!(status, 200, "{body}");
    let alice = login_of(&body, "alice@admin.test");

    // Mute through node 1: alice on node 3 may still read, but her message is refused
    // with the end time; unmuted, it goes through.
    let room = http.api(3)?.create_room(&alice, "mute room", None).await?;
    let (s3, mut e3) = ChatSocket::connect(http.api(3)?.base(), &alice, WAIT).await?;
    s3.emit("joinRoom", json!([room.id]))?;
    wait_for_event(&mut e3, "joinRoomSuccess").await?;
    let mute = json!({"reason": "flood", "minutes": 10});
    let (status, muted) =
        http.admin(1, Method::POST, &format!("/api/admin/users/{alice_id}/mute"), &root, Some(mute)).await?;
    assert_eq!((status, muted["user"]["muted"].as_bool()), (200, Some(true)), "{muted}");
    assert_eq!(http.token_status(&alice).await?, [200, 200, 200], "a mute keeps the session");
    s3.emit("chatMessage", json!([{"room": room.id, "type": "text", "content": "still here?"}]))?;
    let error = wait_for_event(&mut e3, "error").await?;
    assert_eq!(error["code"], "MESSAGE_ERROR", "{error}");
    assert_eq!(error["mutedUntil"], muted["user"]["mute"]["until"], "{error}");
    assert_eq!(http.admin(2, Method::POST, &format!("/api/admin/users/{alice_id}/unmute"), &root, None).await?.0, 200);
    s3.emit("chatMessage", json!([{"room": room.id, "type": "text", "content": "back"}]))?;
    let message = wait_for_matching(&mut e3, "message", |m| m["content"] == "back").await?;
    assert_eq!(message["sender"]["id"], alice_id.as_str());

    // The user list and detail know her presence, rooms and logins.
    let (_, detail) = http.admin(2, Method::GET, &format!("/api/admin/users/{alice_id}"), &root, None).await?;
    let user = &detail["user"];
    assert_eq!(
        (user["online"].as_bool(), user["socketCount"].as_u64(), user["roomCount"].as_u64()),
        (Some(true), Some(1), Some(1)),
        "{detail}"
    );
    assert_eq!(user["rooms"][0]["id"], room.id.as_str());
    assert_eq!(user["sessions"].as_array().map(Vec::len), Some(3), "register and two logins: {detail}");
    assert_eq!(user["sessions"][0]["current"], true);
    let (_, found) =
        http.admin(3, Method::GET, "/api/admin/users?search=ALICE&role=user&status=online", &root, None).await?;
    assert_eq!(
        (found["metadata"]["total"].as_u64(), found["data"][0]["email"].as_str()),
        (Some(1), Some("alice@admin.test")),
        "{found}"
    );
    drop(s3);

    // chatctl grant and revoke through the cluster listener; the last admin stays.
    chatctl(&cluster, &["admin", "grant", "--email", "ALICE@admin.test"])?;
    let (status, _) = http.call(1, Method::GET, "/api/admin/users", Some(&alice.token), None).await?;
    assert_eq!(status, 200, "alice is an admin now");
    chatctl(&cluster, &["admin", "revoke", "--email", ROOT])?;
    let refused = chatctl(&cluster, &["admin", "revoke", "--email", "alice@admin.test"]).expect_err("the last admin");
    assert!(refused.to_string().contains("last admin"), "{refused}");
    chatctl(&cluster, &["admin", "grant", "--email", ROOT])?;

    // Every node lists every action in the same order, newest first.
    let expected = ["set_role", "set_role", "set_role", "unmute", "mute", "logout", "unban", "ban"];
    let mut first: Option<Value> = None;
    for id in cluster.ids() {
        let (_, audit) = http.admin(id, Method::GET, "/api/admin/audit?pageSize=100", &root, None).await?;
        let actions: Vec<&str> =
            audit["data"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
        assert_eq!(actions, expected, "node {id}: {audit}");
        assert_eq!(audit["data"][7]["actor"]["email"], "root@admin.test");
        assert_eq!(audit["data"][7]["target"]["id"], alice_id.as_str());
        assert_eq!(audit["data"][7]["reason"], "spam");
        assert_eq!(audit["data"][0]["actor"]["id"], "operator");
        let same = first.get_or_insert_with(|| audit["data"].clone());
        assert_eq!(same, &audit["data"], "node {id} agrees");
    }
    let (_, paged) = http.admin(3, Method::GET, "/api/admin/audit?page=1&pageSize=3", &root, None).await?;
    assert_eq!(paged["data"][0]["action"], "unmute", "{paged}");
    assert_eq!((paged["metadata"]["total"].as_u64(), paged["metadata"]["hasMore"].as_bool()), (Some(8), Some(true)));
    Ok(())
}

/// Skip other events until `name`; its first argument.
async fn wait_for_event(events: &mut Events, name: &str) -> Result<Value> {
    wait_for_matching(events, name, |_| true).await
}

/// Skip other events until `name` with a first argument that `matches`.
async fn wait_for_matching(events: &mut Events, name: &str, matches: impl Fn(&Value) -> bool) -> Result<Value> {
    loop {
        match next_event(events).await? {
            Incoming::Event { name: got, mut args, .. } if got == name => {
                let first = if args.is_empty() { Value::Null } else { args.swap_remove(0) };
                if matches(&first) {
                    return Ok(first);
                }
            }
            Incoming::Event { .. } => {}
            Incoming::Closed { reason } => bail!("closed ({reason}) while waiting for {name}"),
        }
    }
}

/// Run `chatctl <args> --cluster <node 1> --secret <secret>`; Err with its stderr.
fn chatctl(cluster: &TestCluster, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(chat_tests::local_up::chatctl()?)
        .args(args)
        .args(["--cluster", &cluster.node(1).addr.cluster, "--secret", cluster.secret()])
        .output()?;
    if !out.status.success() {
        bail!("chatctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ban_survives_a_leader_kill_in_the_middle_of_the_request() -> Result<()> {
    let mut cluster = cluster().await?;
    let leader = cluster.wait_for_leader(WAIT).await?;
    let via = cluster.ids().into_iter().find(|id| *id != leader).context("a follower")?;
    let (root, alice) = {
        let http = Http::new(&cluster);
        let root = http.api(via)?.register("Root", ROOT, PASSWORD).await?;
        let alice = http.api(via)?.register("Alice", "alice@admin.test", PASSWORD).await?;
        (root, alice)
    };
    // The ban goes to a follower, which forwards it to the leader; the leader dies
    // while the request is in flight.
    let url = format!("http://{}/api/admin/users/{}/ban", cluster.node(via).addr.public, alice.user_id);
    let request = reqwest::Client::new()
        .post(url)
        .header("x-auth-token", &root.token)
        .json(&json!({"reason": "during failover"}))
        .timeout(Duration::from_secs(30))
        .send();
    let pending = tokio::spawn(request);
    cluster.kill(leader);
    let answer = pending.await?;
    let acknowledged = matches!(&answer, Ok(response) if response.status() == 200);
    cluster.wait_for_leader(WAIT).await?;

    // Either applied everywhere or nowhere: every live node agrees, and so does the
    // old leader once it is back.
    let survivors: Vec<NodeId> = cluster.running_ids();
    let banned_on = |state: &chat_raft::ClusterState| state.users.get(&alice.user_id).is_some_and(|u| u.ban.is_some());
    let mut verdicts = Vec::new();
    for id in &survivors {
        verdicts.push(banned_on(&cluster.state(*id).await?));
    }
    ensure!(verdicts.iter().all(|v| *v == verdicts[0]), "nodes disagree: {verdicts:?}");
    if acknowledged {
        ensure!(verdicts[0], "an acknowledged ban must be applied");
    }
    cluster.restart(leader).await?;
    cluster.wait_fresh(leader, WAIT).await?;
    let back = wait_until("the old leader catches up", WAIT, || async {
        let state = cluster.local_state(leader).await.ok()?;
        let sessions_gone = !verdicts[0] || state.sessions.current(&alice.user_id).is_none();
        (banned_on(&state) == verdicts[0] && sessions_gone).then_some(())
    })
    .await;
    back.map_err(anyhow::Error::msg)?;
    let http = Http::new(&cluster);
    let expected = if verdicts[0] { 401 } else { 200 };
    assert_eq!(http.token_status(&alice).await?, vec![expected; 3], "acknowledged: {acknowledged}");
    let (_, audit) = http.admin(leader, Method::GET, "/api/admin/audit", &root, None).await?;
    let bans = audit["data"].as_array().map_or(0, |a| a.iter().filter(|e| e["action"] == "ban").count());
    assert_eq!(bans, usize::from(verdicts[0]), "applied once at most: {audit}");
    Ok(())
}

/// The `roomDeleted` of `room`, skipping other events; the socket stays open.
async fn expect_room_deleted(events: &mut Events, room: &str) -> Result<()> {
    let event = wait_for_matching(events, "roomDeleted", |e| e["roomId"] == room).await?;
    ensure!(event == json!({"roomId": room}), "roomDeleted {event}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletions_of_messages_rooms_and_users_reach_every_node_and_are_audited() -> Result<()> {
    // The first admin from the environment this time (the other tests use the flag).
    let spec = NodeSpec::voters(3).with_args(&["--bcrypt-cost", "4"]).with_env("CHAT_ADMIN_EMAILS", ROOT);
    let cluster = TestCluster::start(spec).await?;
    let http = Http::new(&cluster);
    let root = http.api(1)?.register("Root", ROOT, PASSWORD).await?;
    let (_, profile) = http.call(2, Method::GET, "/api/users/profile", Some(&root.token), None).await?;
    assert_eq!(profile["user"]["role"], "admin", "CHAT_ADMIN_EMAILS made root an admin: {profile}");
    let alice = http.api(2)?.register("Alice", "alice@admin.test", PASSWORD).await?;
    let bob = http.api(3)?.register("Bob", "bob@admin.test", PASSWORD).await?;
    let room = http.api(2)?.create_room(&alice, "doomed room", None).await?;
    http.api(3)?.join_room(&bob, &room.id, None).await?;
    let kept = http.api(3)?.create_room(&bob, "kept room", None).await?;

    // Alice on node 2 and Bob on node 3 are in the room; Alice says something.
    let (s2, mut e2) = ChatSocket::connect(http.api(2)?.base(), &alice, WAIT).await?;
    let (s3, mut e3) = ChatSocket::connect(http.api(3)?.base(), &bob, WAIT).await?;
    for (socket, events) in [(&s2, &mut e2), (&s3, &mut e3)] {
        socket.emit("joinRoom", json!([room.id]))?;
        wait_for_event(events, "joinRoomSuccess").await?;
    }
    s2.emit("chatMessage", json!([{"room": room.id, "type": "text", "content": "delete me"}]))?;
    let said = wait_for_matching(&mut e3, "message", |m| m["content"] == "delete me").await?;
    let message_id = said["_id"].as_str().context("message id")?.to_owned();
    s2.emit("chatMessage", json!([{"room": room.id, "type": "text", "content": "keep me"}]))?;
    wait_for_matching(&mut e3, "message", |m| m["content"] == "keep me").await?;

    // Non-admins get 403 on the new routes, on every node; unknown ids get 404.
    let routes = [
        (Method::DELETE, format!("/api/admin/messages/{message_id}")),
        (Method::DELETE, format!("/api/admin/rooms/{}", room.id)),
        (Method::GET, format!("/api/admin/rooms/{}/messages", room.id)),
    ];
    for id in cluster.ids() {
        for (method, path) in &routes {
            let (status, answer) = http.call(id, method.clone(), path, Some(&bob.token), None).await?;
            assert_eq!((status, answer["code"].as_str()), (403, Some("FORBIDDEN")), "{method} {path}: {answer}");
        }
    }
    let unknown = "0123456789abcdef01234567";
    let missing = [
        (Method::DELETE, format!("/api/admin/messages/{unknown}"), "MESSAGE_NOT_FOUND"),
        (Method::DELETE, format!("/api/admin/rooms/{unknown}"), "ROOM_NOT_FOUND"),
        (Method::GET, format!("/api/admin/rooms/{unknown}/messages"), "ROOM_NOT_FOUND"),
    ];
    for (method, path, code) in missing {
        let (status, answer) = http.admin(1, method.clone(), &path, &root, None).await?;
        assert_eq!((status, answer["code"].as_str()), (404, Some(code)), "{method} {path}: {answer}");
        assert_eq!(answer["success"], false);
    }

    // The message deletion, through node 1: both members' sockets hear of it.
    let path = format!("/api/admin/messages/{message_id}");
    let (status, deleted) = http.admin(1, Method::DELETE, &path, &root, None).await?;
    assert_eq!((status, deleted["alreadyDeleted"].as_bool()), (200, Some(false)), "{deleted}");
    assert_eq!(
        (deleted["data"]["deleted"].as_bool(), deleted["data"]["_id"].as_str()),
        (Some(true), Some(&*message_id))
    );
    for events in [&mut e2, &mut e3] {
        let event = wait_for_matching(events, "messageDeleted", |e| e["messageId"] == message_id.as_str()).await?;
        assert_eq!(event, json!({"messageId": message_id, "roomId": room.id}));
    }
    // History on every node shows the tombstone in place, the other message as it was.
    for id in cluster.ids() {
        let path = format!("/api/admin/rooms/{}/messages", room.id);
        let (status, page) = http.admin(id, Method::GET, &path, &root, None).await?;
        assert_eq!(status, 200, "node {id}: {page}");
        // Without the system messages of the joins.
        let messages: Vec<&Value> =
            page["messages"].as_array().context("messages")?.iter().filter(|m| m["type"] != "system").collect();
        let contents: Vec<&str> = messages.iter().filter_map(|m| m["content"].as_str()).collect();
        assert_eq!(contents, ["삭제된 메시지입니다.", "keep me"], "node {id}: {page}");
        assert_eq!((messages[0]["_id"].as_str(), messages[0]["deleted"].as_bool()), (Some(&*message_id), Some(true)));
        assert!(messages[0]["deletedAt"].as_u64().is_some(), "{page}");
        assert_eq!(messages[0]["sender"]["id"], alice.user_id.as_str(), "the sender stays");
        assert_eq!((messages[1]["deleted"].clone(), page["room"]["deleted"].as_bool()), (Value::Null, Some(false)));
    }
    s3.emit("fetchPreviousMessages", json!([{"roomId": room.id}]))?;
    let loaded = wait_for_event(&mut e3, "previousMessagesLoaded").await?;
    let tombstone = loaded["messages"].as_array().and_then(|m| m.iter().find(|m| m["_id"] == message_id.as_str()));
    assert_eq!(
        tombstone.map(|m| (m["deleted"].clone(), m["content"].clone())),
        Some((json!(true), json!("삭제된 메시지입니다.")))
    );
    s3.emit("messageReaction", json!([{"messageId": message_id, "reaction": "👍", "type": "add"}]))?;
    let refused = wait_for_event(&mut e3, "error").await?;
    assert_eq!(refused["code"], "MESSAGE_DELETED", "a tombstone takes no reaction: {refused}");
    // A second deletion is answered as such and changes nothing.
    let (status, again) = http.admin(2, Method::DELETE, &path, &root, None).await?;
    assert_eq!((status, again["alreadyDeleted"].as_bool()), (200, Some(true)), "{again}");
    assert_eq!(again["data"]["deletedAt"], deleted["data"]["deletedAt"], "the first deletion time stands");

    // The room deletion, through node 1: members on nodes 2 and 3 hear of it, and the
    // room is gone from every node's list and closed to them.
    let (status, closed) = http.admin(1, Method::DELETE, &format!("/api/admin/rooms/{}", room.id), &root, None).await?;
    assert_eq!((status, closed["alreadyDeleted"].as_bool()), (200, Some(false)), "{closed}");
    expect_room_deleted(&mut e2, &room.id).await?;
    expect_room_deleted(&mut e3, &room.id).await?;
    for id in cluster.ids() {
        let listed: Vec<String> = http.api(id)?.rooms(&alice, 0, 100).await?.into_iter().map(|r| r.id).collect();
        assert!(!listed.contains(&room.id) && listed.contains(&kept.id), "node {id}: {listed:?}");
        let (status, _) =
            http.call(id, Method::GET, &format!("/api/rooms/{}", room.id), Some(&bob.token), None).await?;
        assert_eq!(status, 404, "node {id}: the room is closed");
        let join = format!("/api/rooms/{}/join", room.id);
        assert_eq!(http.call(id, Method::POST, &join, Some(&bob.token), Some(json!({}))).await?.0, 404, "join");
    }
    // Nothing said in the room reaches anybody now; the socket is told why.
    s2.emit("chatMessage", json!([{"room": room.id, "type": "text", "content": "anyone?"}]))?;
    let refused = wait_for_event(&mut e2, "error").await?;
    assert!(refused["message"].as_str().is_some_and(|m| !m.is_empty()), "{refused}");
    // Admins still read its history, on every node.
    for id in cluster.ids() {
        let (status, page) =
            http.admin(id, Method::GET, &format!("/api/admin/rooms/{}/messages?limit=1", room.id), &root, None).await?;
        assert_eq!((status, page["room"]["deleted"].as_bool()), (200, Some(true)), "node {id}: {page}");
        assert_eq!((page["messages"][0]["content"].as_str(), page["hasMore"].as_bool()), (Some("keep me"), Some(true)));
    }
    let (status, again) = http.admin(3, Method::DELETE, &format!("/api/admin/rooms/{}", room.id), &root, None).await?;
    assert_eq!((status, again["alreadyDeleted"].as_bool()), (200, Some(true)), "{again}");

    // An admin's deletion of a user, through node 1, is the user's own deletion on every
    // node: her socket on node 2 closes, her token and login are refused everywhere, and
    // she is out of every room.
    let carol = http.api(3)?.register("Carol", "carol@admin.test", PASSWORD).await?;
    http.api(3)?.join_room(&carol, &kept.id, None).await?;
    let (s_carol, mut e_carol) = ChatSocket::connect(http.api(2)?.base(), &carol, WAIT).await?;
    let (status, gone) =
        http.admin(1, Method::DELETE, &format!("/api/admin/users/{}", carol.user_id), &root, None).await?;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(http.token_status(&carol).await?, [401, 401, 401]);
    loop {
        match next_event(&mut e_carol).await? {
            Incoming::Closed { .. } => break,
            Incoming::Event { .. } => {}
        }
    }
    drop(s_carol);
    for id in cluster.ids() {
        assert_eq!(http.login(id, "carol@admin.test").await?.0, 401, "node {id}: the account is gone");
        let state = cluster.state(id).await?;
        let participants = state.rooms.get(&kept.id).map(|r| r.participants.clone());
        assert_eq!(participants, Some(vec![bob.user_id.clone()]), "node {id}");
        assert!(
            state.users.get(&carol.user_id).is_none()
                && state.presence.sockets_of_user(&carol.user_id).next().is_none()
        );
    }

    // Every node's audit log lists the three, once each, with their target types.
    for id in cluster.ids() {
        let (_, audit) = http.admin(id, Method::GET, "/api/admin/audit", &root, None).await?;
        let entries = audit["data"].as_array().context("entries")?;
        let shown: Vec<(&str, &str, &str)> = entries
            .iter()
            .map(|e| {
                let (action, kind, target) = (&e["action"], &e["target"]["type"], &e["target"]["id"]);
                (action.as_str().unwrap_or(""), kind.as_str().unwrap_or(""), target.as_str().unwrap_or(""))
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("delete_user", "user", carol.user_id.as_str()),
                ("delete_room", "room", room.id.as_str()),
                ("delete_message", "message", message_id.as_str())
            ],
            "node {id}: {audit}"
        );
        assert_eq!(entries[0]["target"]["email"], "carol@admin.test", "{audit}");
        let entries = &entries[1..];
        assert_eq!(
            (entries[0]["target"]["name"].as_str(), entries[1]["target"]["roomId"].as_str()),
            (Some("doomed room"), Some(&*room.id))
        );
        assert_eq!(entries[0]["actor"]["email"], ROOT);
    }
    drop((s2, s3));
    Ok(())
}
