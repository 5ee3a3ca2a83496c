//! chatctl's chat client (`chat_ops::client`, the load of `chatctl bench` and
//! `chatctl drill`) against real nodes: REST login and rooms, a Socket.IO message from
//! one node to another, refused handshakes, and a replaced session seen from both
//! sides. The protocol itself is proven by the socket.io-client conformance suite;
//! this shows our client speaks it.

use anyhow::{bail, Result};
use chat_ops::client::{ApiError, ChatApi, ChatSocket, Incoming, SocketError};
use chat_tests::socket_events::{next_event, WAIT};
use chat_tests::{NodeSpec, TestCluster};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_chats_across_nodes_and_sees_refusals() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3).with_args(&["--bcrypt-cost", "4"])).await?;
    let public = |id| cluster.node(id).addr.public.to_string();
    let (one, three) = (ChatApi::new(&public(1))?, ChatApi::new(&format!("http://{}/", public(3)))?);

    let alice = one.register("Alice", "alice@client.test", "password-1").await?;
    let bob = three.register("Bob", "bob@client.test", "password-2").await?;
    let room = one.create_room(&alice, "client room", None).await?;
    assert_eq!(room.participants_count, 1);
    let joined = three.join_room(&bob, &room.id, None).await?;
    assert_eq!(joined.participants_count, 2);
    let listed = three.rooms(&bob, 0, 10).await?;
    assert!(listed.iter().any(|r| r.id == room.id), "the room list shows the new room: {listed:?}");

    let (alice_socket, mut alice_events) = ChatSocket::connect(one.base(), &alice, WAIT).await?;
    let (bob_socket, mut bob_events) = ChatSocket::connect(three.base(), &bob, WAIT).await?;
    for (socket, events) in [(&alice_socket, &mut alice_events), (&bob_socket, &mut bob_events)] {
        socket.emit("joinRoom", json!([room.id]))?;
        next_event(events, "joinRoomSuccess", |p| p["roomId"] == room.id).await?;
    }
    alice_socket.emit("chatMessage", json!([{"room": room.id, "type": "text", "content": "hello from node 1"}]))?;
    let delivered = next_event(&mut bob_events, "message", |m| m["content"] == "hello from node 1").await?;
    assert_eq!(delivered["sender"]["id"], alice.user_id);
    next_event(&mut alice_events, "message", |m| m["content"] == "hello from node 1").await?;

    // Refused handshakes carry the server's exact message.
    let forged = json!({"token": alice.token, "sessionId": "0".repeat(32)});
    match ChatSocket::connect_with_auth(one.base(), &forged, WAIT).await {
        Err(SocketError::Refused { message }) => assert_eq!(message, "Invalid session"),
        other => bail!("a forged session was not refused: {other:?}"),
    }
    match ChatSocket::connect_with_auth(one.base(), &json!({}), WAIT).await {
        Err(SocketError::Refused { message }) => assert_eq!(message, "Authentication error"),
        other => bail!("a handshake without credentials was not refused: {other:?}"),
    }

    // Bob logs in elsewhere: his old socket hears it, his old token is refused.
    let two = ChatApi::new(&public(2))?;
    let bob_again = two.login("bob@client.test", "password-2").await?;
    assert_ne!(bob_again.session_id, bob.session_id);
    next_event(&mut bob_events, "duplicate_login", |_| true).await?;
    let stale = three.rooms(&bob, 0, 10).await.expect_err("the replaced session must be refused");
    assert_eq!(stale.status(), Some(401), "{stale}");
    assert!(!stale.is_retryable());

    let wrong = one.login("alice@client.test", "not-her-password").await.expect_err("a wrong password");
    assert!(matches!(&wrong, ApiError::Status { status: 401, .. }), "{wrong}");
    assert_eq!(wrong.endpoint(), "POST /api/auth/login");

    // Closing ends the event stream with a reason.
    alice_socket.close();
    loop {
        match tokio::time::timeout(WAIT, alice_events.recv()).await? {
            Some(Incoming::Closed { reason }) => {
                assert!(reason.contains("client"), "{reason}");
                break;
            }
            Some(Incoming::Event { .. }) => {}
            None => bail!("no Closed after close()"),
        }
    }
    assert!(alice_socket.emit("ping", Value::Null).is_err(), "emit after close fails");
    bob_socket.close();
    Ok(())
}
