//! The web console's own JSON routes against real `chat-node` processes (protocol §12):
//! the dashboard's operator actions (transfer leadership, drain a node) for admins only,
//! with clear refusals that change nothing, and what draining does to a node's sockets,
//! health and handshakes; and the room presence list that marks participants online.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use chat_ops::client::{ChatApi, ChatSocket, Events, Incoming, Login};
use chat_raft::NodeId;
use chat_tests::{wait_until, NodeSpec, TestCluster};
use reqwest::Method;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(15);
const ROOT: &str = "root@console.test";
const PASSWORD: &str = "password-1";

struct Http<'a> {
    cluster: &'a TestCluster,
    http: reqwest::Client,
}

impl Http<'_> {
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

    async fn post(&self, node: NodeId, path: &str, who: &Login, body: Value) -> Result<(u16, Value)> {
        self.call(node, Method::POST, path, Some(&who.token), Some(body)).await
    }

    /// The dashboard's view of one member, as node `via` reports it.
    async fn member(&self, via: NodeId, who: &Login, id: NodeId) -> Result<Value> {
        let (status, view) = self.call(via, Method::GET, "/api/console/cluster", Some(&who.token), None).await?;
        ensure!(status == 200, "cluster view: {status} {view}");
        view["nodes"].as_array().and_then(|n| n.iter().find(|n| n["id"] == id).cloned()).context("member listed")
    }

    async fn online(&self, node: NodeId, who: &Login, room: &str) -> Result<Vec<String>> {
        let (status, body) =
            self.call(node, Method::GET, &format!("/api/rooms/{room}/presence"), Some(&who.token), None).await?;
        ensure!(status == 200, "presence: {status} {body}");
        Ok(serde_json::from_value(body["data"]["online"].clone())?)
    }
}

fn api(cluster: &TestCluster, node: NodeId) -> Result<ChatApi> {
    Ok(ChatApi::new(&cluster.node(node).addr.public)?)
}

async fn cluster() -> Result<TestCluster> {
    TestCluster::start(NodeSpec::voters(3).with_args(&["--bcrypt-cost", "4", "--admin-emails", ROOT])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_actions_are_for_admins_and_refuse_bad_input_without_a_change() -> Result<()> {
    let cluster = cluster().await?;
    let http = Http { cluster: &cluster, http: reqwest::Client::new() };
    let root = api(&cluster, 1)?.register("Root", ROOT, PASSWORD).await?;
    let alice = api(&cluster, 2)?.register("Alice", "alice@console.test", PASSWORD).await?;
    let leader = cluster.wait_for_leader(WAIT).await?;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).context("a follower")?;

    let actions = [
        ("/api/console/cluster/transfer-leader", json!({ "to": follower })),
        ("/api/console/cluster/drain", json!({ "node": follower })),
    ];
    for (path, body) in &actions {
        let (status, answer) = http.post(3, path, &alice, body.clone()).await?;
        assert_eq!((status, answer["message"].as_str()), (403, Some("관리자만 볼 수 있습니다.")), "{path}: {answer}");
        let (status, _) = http.call(3, Method::POST, path, None, Some(body.clone())).await?;
        assert_eq!(status, 401, "{path} without a token");
    }

    let bad = [
        ("/api/console/cluster/drain", json!({}), 400, "VALIDATION_ERROR"),
        ("/api/console/cluster/drain", json!({ "node": 99 }), 404, "NODE_NOT_FOUND"),
        ("/api/console/cluster/drain", json!({ "node": "two" }), 400, "INVALID_REQUEST"),
        ("/api/console/cluster/transfer-leader", json!({ "to": 99 }), 404, "NODE_NOT_FOUND"),
        ("/api/console/cluster/transfer-leader", json!({ "to": leader }), 400, "INVALID_NODE"),
        ("/api/console/cluster/transfer-leader", json!({ "to": -1 }), 400, "INVALID_REQUEST"),
    ];
    for (path, body, status, code) in bad {
        let (got, answer) = http.post(1, path, &root, body.clone()).await?;
        assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{path} {body}: {answer}");
    }
    // Nothing changed: the same leader, no node draining.
    assert_eq!(cluster.leader().await, Some(leader));
    for id in cluster.ids() {
        assert_eq!(http.member(1, &root, id).await?["draining"], false, "node {id}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_moves_leadership_and_drains_a_node_of_its_sockets() -> Result<()> {
    let cluster = cluster().await?;
    let http = Http { cluster: &cluster, http: reqwest::Client::new() };
    let root = api(&cluster, 1)?.register("Root", ROOT, PASSWORD).await?;
    let leader = cluster.wait_for_leader(WAIT).await?;
    let successor = cluster.ids().into_iter().find(|id| *id != leader).context("a follower")?;

    // Transfer to a chosen voter, asked on a node that is not the leader.
    let via = cluster.ids().into_iter().find(|id| *id != leader && *id != successor).context("a third node")?;
    let (status, answer) =
        http.post(via, "/api/console/cluster/transfer-leader", &root, json!({ "to": successor })).await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["data"]["from"].as_u64(), answer["data"]["to"].as_u64()), (Some(leader), Some(successor)));
    wait_until("the chosen voter to lead", WAIT, || async {
        (cluster.leader().await == Some(successor)).then_some(())
    })
    .await?;

    // Drain a follower that holds Alice's socket.
    let drained = cluster.ids().into_iter().find(|id| *id != successor).context("a follower")?;
    let alice = api(&cluster, drained)?.register("Alice", "alice@console.test", PASSWORD).await?;
    let room = api(&cluster, drained)?.create_room(&alice, "drain room", None).await?;
    api(&cluster, successor)?.join_room(&root, &room.id, None).await?;
    let (socket, mut events) = ChatSocket::connect(&cluster.node(drained).addr.public, &alice, WAIT).await?;
    socket.emit("joinRoom", json!(room.id))?;
    wait_for(&mut events, "joinRoomSuccess").await?;
    let online = http.online(successor, &root, &room.id).await?;
    assert_eq!(online, vec![alice.user_id.clone()], "Alice's socket makes her online; root, a participant, has none");

    let (status, answer) = http.post(1, "/api/console/cluster/drain", &root, json!({ "node": drained })).await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["draining"], true);
    assert!(answer["data"]["sockets"].as_u64() >= Some(1), "Alice's socket counted: {answer}");
    let notice = wait_for(&mut events, "serverDraining").await?;
    assert_eq!(notice["node"], drained, "{notice}");
    // This client does not move by itself, so the node disconnects it after the grace.
    wait_closed(&mut events).await?;
    socket.close();

    let (status, health) = http.call(drained, Method::GET, "/api/health", None, None).await?;
    assert_eq!((status, health["reason"].as_str()), (503, Some("draining")), "{health}");
    assert!(
        ChatSocket::connect(&cluster.node(drained).addr.public, &alice, Duration::from_secs(3)).await.is_err(),
        "a draining node takes no new socket"
    );
    assert_eq!(http.member(successor, &root, drained).await?["draining"], true);
    // REST is still served there, and the cluster keeps its leader.
    assert_eq!(http.call(drained, Method::GET, "/api/users/profile", Some(&alice.token), None).await?.0, 200);
    assert_eq!(cluster.leader().await, Some(successor));
    wait_until("Alice to be offline", WAIT, || async {
        http.online(successor, &root, &room.id).await.ok().filter(|o| o.is_empty())
    })
    .await?;
    // Once the leave grace is over she left the room (protocol §6.5.2); she joins again below.

    // Ending the drain: healthy again, sockets welcome.
    let (status, answer) =
        http.post(1, "/api/console/cluster/drain", &root, json!({ "node": drained, "drain": false })).await?;
    assert_eq!((status, &answer["data"]["draining"]), (200, &json!(false)), "{answer}");
    assert_eq!(http.call(drained, Method::GET, "/api/health", None, None).await?.0, 200);
    let (socket, mut events) = ChatSocket::connect(&cluster.node(drained).addr.public, &alice, WAIT).await?;
    socket.emit("joinRoom", json!(room.id))?;
    wait_for(&mut events, "joinRoomSuccess").await?;
    wait_until("Alice to be online again", WAIT, || async {
        http.online(successor, &root, &room.id).await.ok().filter(|o| o.len() == 1)
    })
    .await?;
    socket.close();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn room_presence_needs_a_token_and_an_existing_room() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3).with_args(&["--bcrypt-cost", "4"])).await?;
    let http = Http { cluster: &cluster, http: reqwest::Client::new() };
    let alice = api(&cluster, 1)?.register("Alice", "alice@presence.test", PASSWORD).await?;
    let room = api(&cluster, 1)?.create_room(&alice, "presence room", None).await?;
    assert_eq!(http.online(2, &alice, &room.id).await?, Vec::<String>::new(), "no socket: nobody online");
    let path = format!("/api/rooms/{}/presence", room.id);
    assert_eq!(http.call(2, Method::GET, &path, None, None).await?.0, 401);
    for missing in ["0123456789abcdef01234567", "not-an-id"] {
        let (status, body) =
            http.call(2, Method::GET, &format!("/api/rooms/{missing}/presence"), Some(&alice.token), None).await?;
        assert_eq!((status, body["message"].as_str()), (404, Some("채팅방을 찾을 수 없습니다.")), "{missing}");
    }
    Ok(())
}

async fn wait_for(events: &mut Events, name: &str) -> Result<Value> {
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await.with_context(|| format!("no {name} in time"))? {
            Some(Incoming::Event { name: got, mut args, .. }) if got == name => {
                return Ok(if args.is_empty() { Value::Null } else { args.swap_remove(0) });
            }
            Some(Incoming::Event { .. }) => {}
            Some(Incoming::Closed { reason }) => bail!("closed ({reason}) before {name}"),
            None => bail!("event stream ended before {name}"),
        }
    }
}

async fn wait_closed(events: &mut Events) -> Result<()> {
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await.context("the draining node kept the socket")? {
            Some(Incoming::Closed { .. }) | None => return Ok(()),
            Some(Incoming::Event { .. }) => {}
        }
    }
}
