//! Hostile HTTP against real nodes (issue 12, the "Low" items): tokens in URLs, the
//! headers browsers rely on, which origins may read answers cross-origin, and who may
//! read `/metrics`. Each test failed on the code before its change.

use anyhow::{Context, Result};
use chat_ops::client::{ChatApi, Login};
use chat_tests::{NodeSpec, TestCluster};
use reqwest::{Method, Response};

/// A single-voter cluster started with `args` (and a cheap bcrypt cost), and one user.
async fn node_with(args: &[&str]) -> Result<(TestCluster, Login)> {
    let cluster = TestCluster::start(NodeSpec::voters(1).with_args(&[&["--bcrypt-cost", "4"], args].concat())).await?;
    let api = ChatApi::new(&cluster.node(1).addr.public)?;
    let me = api.register("Hostile", "hostile@http.test", "password-1").await?;
    Ok((cluster, me))
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `chat_limit_hits_total{limit="<limit>"}` on node 1, from the cluster listener.
async fn limit_hits(cluster: &TestCluster, limit: &str) -> Result<u64> {
    cluster.metric(1, &format!("chat_limit_hits_total{{limit=\"{limit}\"}} ")).await
}

/// `?token=` is read on the file URLs browsers load without headers, nowhere else: on
/// any other `/api` route a token only in the URL is no token (401, empty body, plain
/// `Bearer` challenge). Before, `/api/rooms?token=` and `/api/users/profile?token=` were
/// 200, so tokens in logs, proxies and browser history opened the whole API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_tokens_are_read_on_file_urls_only() -> Result<()> {
    let (cluster, me) = node_with(&[]).await?;
    let public = &cluster.node(1).addr.public;
    let http = reqwest::Client::new();
    let token = &me.token;
    for path in ["/api/rooms", "/api/users/profile", "/api/users/status", "/api"] {
        let answer = http.get(format!("http://{public}{path}?token={token}")).send().await?;
        assert_eq!(answer.status().as_u16(), 401, "{path}?token= must be refused");
        assert_eq!(header(&answer, "www-authenticate"), Some("Bearer"), "{path}: the no-token challenge");
        assert_eq!(answer.text().await?, "", "{path}: empty body");
        // The same token in a header works.
        let answer = http.get(format!("http://{public}{path}")).header("x-auth-token", token).send().await?;
        assert_eq!(answer.status().as_u16(), 200, "{path} with x-auth-token");
    }
    // A POST with the token in the URL changes nothing: no room is created.
    let create = http
        .post(format!("http://{public}/api/rooms?token={token}"))
        .json(&serde_json::json!({"name": "via-url"}))
        .send()
        .await?;
    assert_eq!(create.status().as_u16(), 401);
    assert!(cluster.state(1).await?.rooms.is_empty(), "a refused request created a room");

    // On file URLs the query token is still the user's credential: a good one gets past
    // the auth layer (the file does not exist: 404), a bad one is refused there.
    let name = "1700000000000_0123456789abcdef.png";
    for route in ["download", "view"] {
        let good = http.get(format!("http://{public}/api/files/{route}/{name}?token={token}")).send().await?;
        assert_eq!(good.status().as_u16(), 404, "{route} with a good ?token=");
        let bad = http.get(format!("http://{public}/api/files/{route}/{name}?token=not-a-jwt")).send().await?;
        assert_eq!(bad.status().as_u16(), 401, "{route} with a bad ?token=");
        assert!(header(&bad, "www-authenticate").is_some_and(|v| v.contains("invalid_token")));
    }
    Ok(())
}

/// Every answer of the client listeners carries `X-Content-Type-Options: nosniff`,
/// `Referrer-Policy: no-referrer` and `X-Frame-Options: DENY` (downloads, fetched in
/// hidden iframes, excepted); JSON API answers are `no-store`, the room list (emails)
/// `private`. Before, none of these headers were sent and the room list was cacheable
/// by any shared cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_browser_defences() -> Result<()> {
    let (cluster, me) = node_with(&["--socket-addr", "127.0.0.1:0"]).await?;
    let public = &cluster.node(1).addr.public;
    let socket = cluster.node(1).socket.clone().context("a socket listener")?;
    let http = reqwest::Client::new();
    let get = |base: &str, path: &str, token: Option<&str>| {
        let mut request = http.get(format!("http://{base}{path}"));
        if let Some(token) = token {
            request = request.header("x-auth-token", token);
        }
        request.send()
    };
    let token = Some(me.token.as_str());
    let answers = [
        ("console page", get(public, "/", None).await?),
        ("console chat page", get(public, "/chat", None).await?),
        ("console nodes", get(public, "/console/nodes", None).await?),
        ("health", get(public, "/api/health", None).await?),
        ("401", get(public, "/api/rooms", None).await?),
        ("profile", get(public, "/api/users/profile", token).await?),
        ("room list", get(public, "/api/rooms", token).await?),
        ("unknown api path", get(public, "/api/nope", token).await?),
        ("unknown path", get(public, "/nope", None).await?),
        ("polling", get(public, "/socket.io/?EIO=4&transport=polling", None).await?),
        ("file view", get(public, "/api/files/view/1700000000000_0123456789abcdef.png", token).await?),
        ("socket listener health", get(&socket, "/api/health", None).await?),
        ("socket listener other", get(&socket, "/elsewhere", None).await?),
    ];
    for (what, answer) in &answers {
        assert_eq!(header(answer, "x-content-type-options"), Some("nosniff"), "{what}");
        assert_eq!(header(answer, "referrer-policy"), Some("no-referrer"), "{what}");
        assert_eq!(header(answer, "x-frame-options"), Some("DENY"), "{what}");
    }
    let [_, _, _, (_, health), (_, refused), (_, profile), (_, rooms), ..] = &answers;
    assert_eq!(rooms.status().as_u16(), 200);
    assert_eq!(header(rooms, "cache-control"), Some("private, max-age=10"), "the room list carries emails");
    for (what, answer) in [("health", health), ("401", refused), ("profile", profile)] {
        assert_eq!(header(answer, "cache-control"), Some("no-store"), "{what}");
    }
    // A download is fetched through a hidden iframe: not framed-denied.
    let download = get(public, "/api/files/download/1700000000000_0123456789abcdef.png", token).await?;
    assert_eq!(header(&download, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&download, "x-frame-options"), None);
    Ok(())
}

/// With `--cors-origins`, only the listed origins get CORS headers (with credentials);
/// another origin gets none on answers and polling, its preflight gets 403, and each
/// such request is counted as `limit="cors_origin"`. Before, every origin was echoed with
/// credentials and there was no way to narrow it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_cors_origins_alone_may_read_answers() -> Result<()> {
    let allowed = "http://chat.allowed.test:3000";
    let (cluster, me) = node_with(&["--cors-origins", &format!("https://other.allowed.test,{allowed}")]).await?;
    let public = &cluster.node(1).addr.public;
    let http = reqwest::Client::new();
    let request = |method: Method, path: &str, origin: &str| {
        http.request(method, format!("http://{public}{path}"))
            .header("origin", origin)
            .header("x-auth-token", &me.token)
    };

    let ok = request(Method::GET, "/api/rooms", allowed).send().await?;
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(header(&ok, "access-control-allow-origin"), Some(allowed));
    assert_eq!(header(&ok, "access-control-allow-credentials"), Some("true"));
    let preflight = request(Method::OPTIONS, "/api/rooms", allowed)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-auth-token")
        .send()
        .await?;
    assert_eq!(preflight.status().as_u16(), 200);
    assert_eq!(header(&preflight, "access-control-allow-origin"), Some(allowed));
    assert!(header(&preflight, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));

    assert_eq!(limit_hits(&cluster, "cors_origin").await?, 0);
    for evil in ["http://evil.test", "http://chat.allowed.test:3001", "http://chat.allowed.test:3000.evil.test"] {
        let answer = request(Method::GET, "/api/rooms", evil).send().await?;
        assert_eq!(answer.status().as_u16(), 200, "the request itself is served; the browser hides it");
        for name in ["access-control-allow-origin", "access-control-allow-credentials", "access-control-expose-headers"]
        {
            assert_eq!(header(&answer, name), None, "{name} for {evil}");
        }
        let preflight = request(Method::OPTIONS, "/api/rooms", evil)
            .header("access-control-request-method", "DELETE")
            .send()
            .await?;
        assert_eq!(preflight.status().as_u16(), 403, "preflight from {evil}");
        assert_eq!(header(&preflight, "access-control-allow-origin"), None);
        assert_eq!(header(&preflight, "access-control-allow-methods"), None);
        let polling = request(Method::GET, "/socket.io/?EIO=4&transport=polling", evil).send().await?;
        assert_eq!(header(&polling, "access-control-allow-origin"), None, "polling from {evil}");
    }
    assert_eq!(limit_hits(&cluster, "cors_origin").await?, 9);
    // Requests without Origin (same-origin pages, non-browser clients) are untouched.
    let plain = http.get(format!("http://{public}/api/rooms")).header("x-auth-token", &me.token).send().await?;
    assert_eq!(plain.status().as_u16(), 200);
    assert_eq!(header(&plain, "access-control-allow-origin"), None);
    Ok(())
}

/// `/metrics` is served on the cluster listener behind the cluster secret, and on the
/// public listener only with `--public-metrics`. Before, anyone reaching the load
/// balancer could read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_cluster_secret_unless_made_public() -> Result<()> {
    let (cluster, _) = node_with(&[]).await?;
    let node = cluster.node(1);
    let http = reqwest::Client::new();
    let public = http.get(format!("http://{}/metrics", node.addr.public)).send().await?;
    assert_eq!(public.status().as_u16(), 404, "no /metrics on the public listener by default");
    let anonymous = http.get(format!("http://{}/metrics", node.addr.cluster)).send().await?;
    assert_eq!(anonymous.status().as_u16(), 401, "the cluster listener wants the secret");
    let wrong = http
        .get(format!("http://{}/metrics", node.addr.cluster))
        .header(chat_raft::api::SECRET_HEADER, "not-the-cluster-secret")
        .send()
        .await?;
    assert_eq!(wrong.status().as_u16(), 401);
    let text = cluster.metrics(1).await?;
    assert!(text.contains("chat_users 1"), "{text}");
    drop(cluster);

    let (cluster, _) = node_with(&["--public-metrics"]).await?;
    let public = http.get(format!("http://{}/metrics", cluster.node(1).addr.public)).send().await?;
    assert_eq!(public.status().as_u16(), 200);
    assert!(public.text().await?.contains("chat_users 1"));
    Ok(())
}
