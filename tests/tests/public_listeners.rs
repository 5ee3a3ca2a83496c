//! The public side of a node besides the chat API: the optional second Socket.IO
//! listener (protocol §1.1 and §9) and the Prometheus metrics.

use std::time::Duration;

use anyhow::Result;
use chat_tests::{wait_until, NodeSpec, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_listener_serves_socket_io_and_health_only() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3).with_args(&["--socket-addr", "127.0.0.1:0"])).await?;
    let http = reqwest::Client::new();
    for id in cluster.ids() {
        let socket = cluster.node(id).socket.clone().expect("a socket listener");
        // Right after start a node may still report 503 until its replica caught up.
        let health = wait_until(&format!("health 200 on {socket}"), Duration::from_secs(10), || async {
            let answer = http.get(format!("http://{socket}/api/health")).send().await.ok()?;
            (answer.status().as_u16() == 200).then_some(answer)
        })
        .await?;
        let body: serde_json::Value = health.json().await?;
        assert_eq!(body["status"], "ok");

        let open = http
            .get(format!("http://{socket}/socket.io/?EIO=4&transport=polling"))
            .header("Origin", "http://web.example")
            .send()
            .await?;
        assert_eq!(open.status().as_u16(), 200);
        // Polling from a browser on another origin needs CORS with credentials.
        let allow = open.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok());
        assert_eq!(allow, Some("http://web.example"));
        let packet = open.text().await?;
        assert!(packet.starts_with("0{") && packet.contains("\"sid\""), "Engine.IO OPEN packet, got {packet}");

        for path in ["/api/rooms", "/elsewhere", "/api/auth/login"] {
            let other = http.get(format!("http://{socket}{path}")).send().await?;
            assert_eq!(other.status().as_u16(), 400, "{path} on the socket listener");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_in_prometheus_text_format() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3)).await?;
    let leader = cluster.wait_for_leader(std::time::Duration::from_secs(20)).await?;
    let text = cluster.metrics(leader).await?;
    for name in [
        "chat_sockets_connected",
        "chat_users",
        "chat_rooms",
        "chat_messages_accepted_total",
        "chat_messages_rejected_total{reason=\"banned_word\"}",
        "chat_store_append_seconds_bucket",
        "chat_fanout_seconds_count",
        "chat_raft_term",
        "chat_raft_applied_index",
        "chat_raft_forwarded_batches_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    assert!(text.contains("chat_raft_is_leader 1"), "the leader reports itself:\n{text}");
    Ok(())
}
