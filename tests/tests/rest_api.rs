//! Acceptance tests of the public REST API (protocol §2, §3, §4) against real
//! `chat-node` processes: tokens and sessions across nodes (edge included), single
//! login, rooms visible everywhere, password rooms, room listing, CORS, and the
//! refusal of bad input without any state change.

use std::time::Duration;

use anyhow::{Context, Result};
use chat_raft::NodeId;
use chat_tests::{wait_until, NodeSpec, TestCluster};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};

/// A 3-voter cluster with one edge (node 4) and cheap bcrypt.
async fn cluster() -> Result<TestCluster> {
    TestCluster::start(NodeSpec::voters(3).with_edges(1).with_args(&["--bcrypt-cost", "4"])).await
}

/// One HTTP answer, read whole.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// Requests to the public listeners of a cluster's nodes.
struct Api<'a> {
    cluster: &'a TestCluster,
    http: reqwest::Client,
}

impl<'a> Api<'a> {
    fn new(cluster: &'a TestCluster) -> Self {
        Self { cluster, http: reqwest::Client::new() }
    }

    fn request(&self, node: NodeId, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("http://{}{}", self.cluster.node(node).addr.public, path);
        self.http.request(method, url)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply> {
        let response = request.send().await.context("send request")?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await?;
        Ok(Reply { status, headers, body })
    }

    async fn get(&self, node: NodeId, path: &str, token: Option<&str>) -> Result<Reply> {
        let mut request = self.request(node, Method::GET, path);
        if let Some(token) = token {
            request = request.header("x-auth-token", token);
        }
        self.send(request).await
    }

    async fn post(&self, node: NodeId, path: &str, token: Option<&str>, body: Value) -> Result<Reply> {
        let mut request = self.request(node, Method::POST, path).json(&body);
        if let Some(token) = token {
            request = request.header("x-auth-token", token);
        }
        self.send(request).await
    }

    /// Register and return (token, sessionId, userId).
    async fn register(
        &self,
        node: NodeId,
        name: &str,
        email: &str,
        password: &str,
    ) -> Result<(String, String, String)> {
        let reply = self
            .post(node, "/api/auth/register", None, json!({"name": name, "email": email, "password": password}))
            .await?;
        assert_eq!(reply.status, 201, "register {email}: {}", reply.body);
        let body = reply.json();
        Ok((str_of(&body["token"]), str_of(&body["sessionId"]), str_of(&body["user"]["_id"])))
    }
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_work_on_every_node_and_a_new_login_replaces_the_session() -> Result<()> {
    let cluster = cluster().await?;
    let api = Api::new(&cluster);

    // Register on node 1: a working token right away (register logs in).
    let reply = api
        .post(1, "/api/auth/register", None, json!({"name":"Kim","email":"Kim@Example.COM","password":"pa$$w0rd!"}))
        .await?;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "회원가입이 완료되었습니다.");
    assert_eq!(body["user"]["email"], "kim@example.com");
    assert_eq!(body["user"]["profileImage"], Value::Null);
    let (token, session_id, user_id) =
        (str_of(&body["token"]), str_of(&body["sessionId"]), str_of(&body["user"]["_id"]));
    assert!(is_hex(&session_id, 32) && is_hex(&user_id, 24), "{body}");

    // The token works on another voter and on the edge, from each token source.
    for node in [3, 4] {
        let profile = api.get(node, "/api/users/profile", Some(&token)).await?;
        assert_eq!(profile.status, 200, "node {node}: {}", profile.body);
        assert_eq!(
            profile.json(),
            json!({"success":true,"user":{"id":user_id,"name":"Kim","email":"kim@example.com","profileImage":"","role":"user"}})
        );
    }
    // Those uses slide the session's activity: batched, committed within one flush
    // period (5 s), without a Raft write per request.
    let opened = cluster.state(1).await?.sessions.current(&user_id).map(|s| s.last_activity).context("session")?;
    wait_until("session activity to be committed", Duration::from_secs(15), || async {
        let state = cluster.state(2).await.ok()?;
        state.sessions.current(&user_id).filter(|s| s.last_activity > opened).map(|_| ())
    })
    .await?;
    let bearer = api.request(2, Method::GET, "/api/users/status").bearer_auth(&token);
    assert_eq!(api.send(bearer).await?.status, 200);
    // `?token=` is read on file URLs only (issue 12); elsewhere it is no token at all.
    assert_eq!(api.get(2, &format!("/api/rooms?token={token}"), None).await?.status, 401);

    // The same email in another case is taken, cluster-wide.
    let dup = api
        .post(2, "/api/auth/register", None, json!({"name":"Other","email":"KIM@example.com","password":"123456"}))
        .await?;
    assert_eq!((dup.status, dup.json()), (409, json!({"success":false,"message":"이미 등록된 이메일입니다."})));

    // Bad credentials are 401 with the contract's body.
    let expected = json!({"success":false,"message":"이메일 또는 비밀번호가 올바르지 않습니다."});
    let wrong = api.post(3, "/api/auth/login", None, json!({"email":"kim@example.com","password":"nope!!"})).await?;
    assert_eq!((wrong.status, wrong.json()), (401, expected.clone()));
    let unknown = api.post(3, "/api/auth/login", None, json!({"email":"who@example.com","password":"x"})).await?;
    assert_eq!((unknown.status, unknown.json()), (401, expected));

    // Log in on node 2: the old session is gone everywhere the moment the answer is in.
    let login = api.post(2, "/api/auth/login", None, json!({"email":"KIM@example.com","password":"pa$$w0rd!"})).await?;
    assert_eq!(login.status, 200, "{}", login.body);
    let body = login.json();
    let (new_token, new_session) = (str_of(&body["token"]), str_of(&body["sessionId"]));
    assert_eq!(body["message"], Value::Null);
    assert_eq!(
        body["user"],
        json!({"_id":user_id,"name":"Kim","email":"kim@example.com","profileImage":"","role":"user"})
    );
    assert_eq!(login.header("authorization"), format!("Bearer {new_token}"));
    assert_eq!(login.header("x-session-id"), new_session);
    assert_ne!(new_session, session_id);
    for node in cluster.ids() {
        for path in ["/api/users/profile", "/api/health", "/api/auth/login"] {
            let old = api.get(node, path, Some(&token)).await?;
            assert_eq!((old.status, old.body.as_str()), (401, ""), "old token on node {node} {path}");
            assert_eq!(old.header("www-authenticate"), "Bearer");
        }
        assert_eq!(api.get(node, "/api/users/profile", Some(&new_token)).await?.status, 200, "node {node}");
    }

    check_verify_refresh_and_logout(&api, &new_token, &new_session).await
}

async fn check_verify_refresh_and_logout(api: &Api<'_>, token: &str, session_id: &str) -> Result<()> {
    let with_session = |node, path: &str, token: &str| {
        api.request(node, Method::POST, path).header("x-auth-token", token).header("x-session-id", session_id)
    };
    let verify = api.send(with_session(4, "/api/auth/verify-token", token)).await?;
    assert_eq!(verify.status, 200, "{}", verify.body);
    assert_eq!(verify.json()["message"], "토큰이 유효합니다.");
    let missing =
        api.send(api.request(1, Method::POST, "/api/auth/verify-token").header("x-auth-token", token)).await?;
    assert_eq!(
        (missing.status, missing.json()),
        (400, json!({"success":false,"message":"토큰 또는 세션 ID가 필요합니다.","user":null}))
    );

    // Refresh keeps the session: both the new and the old token stay valid.
    let refresh = api.send(with_session(3, "/api/auth/refresh-token", token)).await?;
    assert_eq!(refresh.status, 200, "{}", refresh.body);
    assert_eq!(refresh.json()["sessionId"], session_id);
    assert_eq!(refresh.json()["message"], "토큰이 갱신되었습니다.");
    let refreshed = str_of(&refresh.json()["token"]);
    assert_eq!(api.get(1, "/api/users/profile", Some(&refreshed)).await?.status, 200);
    assert_eq!(api.get(2, "/api/users/profile", Some(token)).await?.status, 200);

    // Garbage and foreign-key tokens: 401 naming the token as the problem.
    let garbage = api.get(2, "/api/health", Some("not.a.jwt")).await?;
    assert_eq!((garbage.status, garbage.body.as_str()), (401, ""));
    assert!(garbage.header("www-authenticate").starts_with("Bearer error=\"invalid_token\""), "{garbage:?}");

    // Logout needs the session id; then the session is over everywhere.
    let no_sid = api.post(1, "/api/auth/logout", Some(token), json!({})).await?;
    assert_eq!(
        (no_sid.status, no_sid.json()),
        (400, json!({"success":false,"message":"x-session-id 헤더가 필요합니다."}))
    );
    let logout = api.send(with_session(1, "/api/auth/logout", token)).await?;
    assert_eq!((logout.status, logout.json()), (200, json!({"success":true,"message":"로그아웃이 완료되었습니다."})));
    for node in [1, 2, 3, 4] {
        assert_eq!(api.get(node, "/api/users/profile", Some(&refreshed)).await?.status, 401, "node {node}");
    }
    let anonymous =
        api.send(api.request(2, Method::POST, "/api/auth/logout").header("x-session-id", session_id)).await?;
    assert_eq!(anonymous.status, 200, "logout without a token does nothing, successfully");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rooms_are_visible_on_every_node_and_passwords_are_checked() -> Result<()> {
    let cluster = cluster().await?;
    let api = Api::new(&cluster);
    let (owner, _, owner_id) = api.register(1, "Owner", "owner@example.com", "123456").await?;
    let (guest, _, guest_id) = api.register(3, "Guest", "guest@example.com", "123456").await?;

    let created =
        api.post(1, "/api/rooms", Some(&owner), json!({"name":"프로젝트 논의방","description":"ignored"})).await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let room = created.json()["data"].clone();
    let room_id = str_of(&room["_id"]);
    assert!(is_hex(&room_id, 24), "{room}");
    let owner_view = json!({"id":owner_id,"name":"Owner","email":"owner@example.com","profileImage":""});
    assert_eq!(room["creator"], owner_view);
    assert_eq!(room["participants"], json!([owner_view]));
    assert_eq!((room["participantsCount"].clone(), room["hasPassword"].clone()), (json!(1), json!(false)));
    assert_eq!(room["recentMessageCount"], 0);
    let created_at = str_of(&room["createdAt"]);
    assert!(created_at.len() == 24 && created_at.ends_with('Z'), "{created_at}");

    for node in cluster.ids() {
        let shown = api.get(node, &format!("/api/rooms/{room_id}"), Some(&guest)).await?;
        assert_eq!((shown.status, shown.json()), (200, json!({"success":true,"data":room})), "node {node}");
        let listed = api.get(node, "/api/rooms", Some(&guest)).await?;
        assert_eq!(listed.json()["data"][0]["_id"], room_id, "node {node}");
    }
    let not_found = json!({"success":false,"message":"채팅방을 찾을 수 없습니다."});
    for id in ["0123456789abcdef01234567", "not-an-id"] {
        let missing = api.get(2, &format!("/api/rooms/{id}"), Some(&guest)).await?;
        assert_eq!((missing.status, missing.json()), (404, not_found.clone()), "{id}");
    }

    // A password room: no, wrong and right password, then a repeat join.
    let secret = api.post(2, "/api/rooms", Some(&owner), json!({"name":"비밀방","password":"secret1"})).await?;
    assert_eq!(secret.status, 201, "{}", secret.body);
    assert_eq!(secret.json()["data"]["hasPassword"], true);
    let secret_id = str_of(&secret.json()["data"]["_id"]);
    let join_path = format!("/api/rooms/{secret_id}/join");
    let refused = json!({"success":false,"message":"비밀번호가 일치하지 않습니다."});
    for body in [json!({}), json!({"password":""}), json!({"password":"secret2"})] {
        let reply = api.post(3, &join_path, Some(&guest), body.clone()).await?;
        assert_eq!((reply.status, reply.json()), (401, refused.clone()), "join with {body}");
    }
    for _ in 0..2 {
        let joined = api.post(3, &join_path, Some(&guest), json!({"password":"secret1"})).await?;
        assert_eq!(joined.status, 200, "{}", joined.body);
        assert_eq!(joined.json()["data"]["participantsCount"], 2, "joining twice is idempotent");
    }
    let seen = api.get(4, &format!("/api/rooms/{secret_id}"), Some(&owner)).await?.json();
    let ids: Vec<String> = seen["data"]["participants"].as_array().unwrap().iter().map(|p| str_of(&p["id"])).collect();
    assert_eq!(ids, vec![owner_id, guest_id]);
    // An open room needs no password; the existing backend's clients send `{}`.
    let open = api.post(4, &format!("/api/rooms/{room_id}/join"), Some(&guest), json!({})).await?;
    assert_eq!((open.status, open.json()["data"]["participantsCount"].clone()), (200, json!(2)));

    // A node cut off from the leader cannot check sessions: 503, never a false 401.
    cluster.isolate(4, true).await?;
    let stale = api.get(4, "/api/users/profile", Some(&guest)).await?;
    assert_eq!((stale.status, stale.json()["code"].clone()), (503, json!("SERVICE_UNAVAILABLE")), "{}", stale.body);
    cluster.isolate(4, false).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_room_list_pages_sorts_and_searches() -> Result<()> {
    let cluster = cluster().await?;
    let api = Api::new(&cluster);
    let (token, _, _) = api.register(1, "Lister", "lister@example.com", "123456").await?;
    let (other, _, _) = api.register(2, "Joiner", "joiner@example.com", "123456").await?;
    let names = [
        "Alpha",
        "beta",
        "Gamma",
        "delta",
        "Epsilon",
        "알파 모임",
        "ALPHABET",
        "zeta",
        "Eta",
        "theta",
        "Iota",
        "kappa",
    ];
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let reply = api.post((i % 4) as NodeId + 1, "/api/rooms", Some(&token), json!({"name": name})).await?;
        assert_eq!(reply.status, 201, "{}", reply.body);
        ids.push(str_of(&reply.json()["data"]["_id"]));
    }
    // "Gamma" gets a second participant, so it leads by participant count.
    let gamma = &ids[2];
    assert_eq!(api.post(3, &format!("/api/rooms/{gamma}/join"), Some(&other), json!({})).await?.status, 200);

    let first = api.get(4, "/api/rooms?page=0&pageSize=5", Some(&token)).await?;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("cache-control"), "private, max-age=10");
    assert!(first.header("last-modified").ends_with('Z'), "{:?}", first.headers);
    let body = first.json();
    assert_eq!(
        body["metadata"],
        json!({"total":12,"page":0,"pageSize":5,"totalPages":3,"hasMore":true,"currentCount":5,
               "sort":{"field":"createdAt","order":"desc"}})
    );
    let newest_first: Vec<String> = body["data"].as_array().unwrap().iter().map(|r| str_of(&r["_id"])).collect();
    let expected: Vec<String> = ids.iter().rev().take(5).cloned().collect();
    assert_eq!(newest_first, expected);

    let last = api.get(2, "/api/rooms?page=2&pageSize=5", Some(&token)).await?.json();
    assert_eq!(
        (last["metadata"]["currentCount"].clone(), last["metadata"]["hasMore"].clone()),
        (json!(2), json!(false))
    );
    let clamped = api.get(1, "/api/rooms?page=-4&pageSize=999", Some(&token)).await?.json();
    assert_eq!((clamped["metadata"]["page"].clone(), clamped["metadata"]["pageSize"].clone()), (json!(0), json!(50)));

    let by_name = api.get(3, "/api/rooms?sortField=name&sortOrder=asc&pageSize=3", Some(&token)).await?.json();
    let names_sorted: Vec<String> = by_name["data"].as_array().unwrap().iter().map(|r| str_of(&r["name"])).collect();
    assert_eq!(names_sorted, ["ALPHABET", "Alpha", "Epsilon"]);
    let by_count = api.get(1, "/api/rooms?sortField=participantsCount&pageSize=1", Some(&token)).await?.json();
    assert_eq!(by_count["data"][0]["name"], "Gamma");
    assert_eq!(by_count["metadata"]["sort"], json!({"field":"participantsCount","order":"desc"}));

    let search = api.get(2, "/api/rooms?search=%20alpha%20&sortOrder=asc", Some(&token)).await?.json();
    let found: Vec<String> = search["data"].as_array().unwrap().iter().map(|r| str_of(&r["name"])).collect();
    assert_eq!(found, ["Alpha", "ALPHABET"]);
    assert_eq!(search["metadata"]["total"], 2);
    let korean = api.get(4, "/api/rooms?search=%EC%95%8C%ED%8C%8C", Some(&token)).await?.json();
    assert_eq!(korean["data"][0]["name"], "알파 모임");
    let bad = api.get(1, "/api/rooms?page=two", Some(&token)).await?;
    assert_eq!((bad.status, bad.json()["code"].clone()), (400, json!("INVALID_REQUEST")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cors_bad_input_and_validation_envelopes() -> Result<()> {
    let cluster = cluster().await?;
    let api = Api::new(&cluster);
    let origin = "http://localhost:3000";

    // CORS on a 401 and on a preflight (which needs no token).
    let refused = api.send(api.request(2, Method::GET, "/api/rooms").header("origin", origin)).await?;
    assert_eq!((refused.status, refused.body.as_str()), (401, ""));
    assert_eq!(refused.header("www-authenticate"), "Bearer");
    assert_eq!(refused.header("access-control-allow-origin"), origin);
    assert_eq!(refused.header("access-control-allow-credentials"), "true");
    assert_eq!(refused.header("access-control-expose-headers"), "x-auth-token, x-session-id");
    let preflight = api
        .send(
            api.request(3, Method::OPTIONS, "/api/rooms")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type,x-auth-token"),
        )
        .await?;
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.header("access-control-allow-origin"), origin);
    assert_eq!(preflight.header("access-control-allow-credentials"), "true");
    assert_eq!(preflight.header("access-control-allow-methods"), "GET, POST, PUT, DELETE, OPTIONS");
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        "Content-Type, Authorization, x-auth-token, x-session-id, Cache-Control, Pragma"
    );
    assert_eq!(preflight.header("access-control-max-age"), "3600");

    let (token, _, _) = api.register(1, "Valid", "valid@example.com", "123456").await?;
    let before = cluster.state(1).await?;
    check_bad_input(&api, &token).await?;
    let after = cluster.state(1).await?;
    assert_eq!(
        (after.users.len(), after.rooms.len()),
        (before.users.len(), before.rooms.len()),
        "bad input changed state"
    );
    check_validation_envelopes(&api, &token).await?;
    check_misc_routes(&api, &token).await
}

async fn check_bad_input(api: &Api<'_>, token: &str) -> Result<()> {
    let json_type = |node, path: &str, body: &'static str| {
        api.request(node, Method::POST, path)
            .header(CONTENT_TYPE, "application/json")
            .header("x-auth-token", token)
            .body(body)
    };
    let cases = [
        ("malformed JSON", json_type(1, "/api/rooms", "{\"name\": ")),
        ("wrong field type", json_type(2, "/api/rooms", "{\"name\": 42}")),
        ("not an object", json_type(3, "/api/auth/register", "[1,2]")),
        ("missing body", api.request(4, Method::POST, "/api/rooms").header("x-auth-token", token)),
        (
            "wrong content type",
            api.request(1, Method::POST, "/api/auth/register")
                .header(CONTENT_TYPE, "text/plain")
                .body(r#"{"name":"Text","email":"text@example.com","password":"123456"}"#),
        ),
    ];
    for (what, request) in cases {
        let reply = api.send(request).await?;
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        let body = reply.json();
        assert_eq!((body["success"].clone(), body["code"].clone()), (json!(false), json!("INVALID_REQUEST")), "{what}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
    }
    let huge = json!({ "name": "x".repeat(1_100_000) });
    let too_large = api.post(2, "/api/rooms", Some(token), huge).await?;
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    let long = api
        .post(
            3,
            "/api/auth/register",
            None,
            json!({"name":"Long","email":"long@example.com","password":"p".repeat(73)}),
        )
        .await?;
    assert_eq!(
        (long.status, long.json()),
        (400, json!({"success":false,"message":"password cannot be more than 72 bytes"}))
    );
    Ok(())
}

async fn check_validation_envelopes(api: &Api<'_>, token: &str) -> Result<()> {
    let register =
        api.post(1, "/api/auth/register", None, json!({"name":"K","email":"nope","password":"12345"})).await?;
    assert_eq!(
        (register.status, register.json()),
        (
            400,
            json!({"success":false,"message":"입력값이 올바르지 않습니다.","errors":[
                {"field":"name","message":"이름은 2자 이상이어야 합니다."},
                {"field":"email","message":"올바른 이메일 형식이 아닙니다."},
                {"field":"password","message":"비밀번호는 6자 이상이어야 합니다."}],"code":"VALIDATION_ERROR"})
        )
    );
    let login = api.post(2, "/api/auth/login", None, json!({"email":"","password":""})).await?;
    assert_eq!(
        login.json(),
        json!({"success":false,"message":"입력값이 올바르지 않습니다.","errors":[
            {"field":"email","message":"이메일을 입력해주세요."},
            {"field":"email","message":"올바른 이메일 형식이 아닙니다."},
            {"field":"password","message":"비밀번호를 입력해주세요."}],"code":"VALIDATION_ERROR"})
    );
    let profile = api
        .send(
            api.request(3, Method::PUT, "/api/users/profile").header("x-auth-token", token).json(&json!({"name":" "})),
        )
        .await?;
    assert_eq!(
        (profile.status, profile.json()),
        (
            400,
            json!({"success":false,"errors":[
                {"field":"name","message":"이름을 입력해주세요."},
                {"field":"name","message":"이름은 2자 이상이어야 합니다."}],
                "code":"VALIDATION_ERROR","path":"/api/users/profile"})
        )
    );
    let room = api.post(4, "/api/rooms", Some(token), json!({"name":"ok name","password":"abc"})).await?;
    assert_eq!(
        (room.status, room.json()),
        (
            400,
            json!({"success":false,"errors":[{"field":"password","message":"size must be between 4 and 100"}],
                   "code":"VALIDATION_ERROR","path":"/api/rooms"})
        )
    );
    let renamed = api
        .send(
            api.request(1, Method::PUT, "/api/users/profile")
                .header("x-auth-token", token)
                .json(&json!({"name":"새 이름"})),
        )
        .await?;
    assert_eq!(renamed.json()["message"], "프로필이 업데이트되었습니다.");
    assert_eq!(api.get(4, "/api/users/profile", Some(token)).await?.json()["user"]["name"], "새 이름");
    Ok(())
}

async fn check_misc_routes(api: &Api<'_>, token: &str) -> Result<()> {
    let info = api.get(1, "/api", Some(token)).await?;
    assert_eq!((info.status, info.json()["name"].clone()), (200, json!("Chat App API")));
    assert_eq!(api.get(1, "/api/", None).await?.status, 401);
    let auth = api.get(2, "/api/auth", None).await?;
    assert_eq!((auth.status, auth.json()["status"].clone()), (200, json!("active")));
    let history = api.get(3, "/api/message/rooms/0123456789abcdef01234567/messages", Some(token)).await?;
    assert_eq!((history.status, history.json()), (500, json!({"success":false,"message":"미구현."})));
    let unknown = api.get(4, "/api/no/such/thing", Some(token)).await?;
    assert_eq!((unknown.status, unknown.body.as_str()), (404, ""));
    let anonymous = api.get(4, "/api/no/such/thing", None).await?;
    assert_eq!((anonymous.status, anonymous.header("www-authenticate")), (401, "Bearer"));
    let favicon = api.get(1, "/favicon.ico", None).await?;
    assert_eq!((favicon.status, favicon.body.as_str()), (200, ""));
    let status = api.get(2, "/api/users/status", Some(token)).await?.json();
    assert_eq!(status["message"], "User API is running");
    assert_eq!(api.get(2, "/api/users/status", None).await?.status, 401);
    let health = api.get(3, "/api/health", Some(token)).await?;
    assert_eq!((health.status, health.json()["status"].clone()), (200, json!("ok")));

    // Deleting the account ends everything for that token, on every node.
    let deleted = api.send(api.request(4, Method::DELETE, "/api/users/account").header("x-auth-token", token)).await?;
    assert_eq!(
        (deleted.status, deleted.json()),
        (200, json!({"success":true,"message":"회원 탈퇴가 완료되었습니다."}))
    );
    for node in [1, 2, 3, 4] {
        assert_eq!(api.get(node, "/api/health", Some(token)).await?.status, 401, "node {node}");
    }
    Ok(())
}
