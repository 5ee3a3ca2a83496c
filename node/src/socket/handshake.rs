//! The CONNECT handshake (protocol §6.1): a socket must present `auth {token,
//! sessionId}` for a valid session, or it is refused with CONNECT_ERROR; it is recorded
//! in the replicated presence state before the CONNECT ack. Once connected, it joins its user's and
//! the room-list socket rooms, and re-joins the chat rooms its user is in through
//! other sockets (a second tab, a reconnect within the leave grace period).

use std::collections::BTreeSet;
use std::fmt;

use chat_raft::{Command, Outcome};
use serde_json::{json, Value};
use socketioxide::extract::SocketRef;

use super::session_user::{presence_ref, SocketUser};
use crate::auth::session::{self, AuthError};
use crate::fanout::{user_room, ROOM_LIST};
use crate::Node;

/// A refused handshake; its text becomes the CONNECT_ERROR `message`.
#[derive(Debug)]
pub(crate) struct Refused(&'static str);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

fn field<'a>(auth: &'a Option<Value>, name: &str) -> Option<&'a str> {
    auth.as_ref()?.get(name)?.as_str().filter(|v| !v.is_empty())
}

pub(super) async fn authenticate(node: &Node, s: &SocketRef, auth: Option<Value>) -> Result<(), Refused> {
    let (Some(token), Some(session_id)) = (field(&auth, "token"), field(&auth, "sessionId")) else {
        return Err(Refused("Authentication error"));
    };
    let user = match session::validate(node, token, Some(session_id)).await {
        Ok(user) => user,
        Err(AuthError::Token(_)) => return Err(Refused("Invalid token")),
        Err(AuthError::Session | AuthError::Banned) => return Err(Refused("Invalid session")),
        Err(AuthError::UserNotFound) => return Err(Refused("User not found")),
        Err(AuthError::Unavailable(e)) => {
            tracing::warn!(error = %e, "handshake refused: node not caught up");
            return Err(Refused("Service temporarily unavailable"));
        }
    };
    // Record the socket in the replicated presence state before the CONNECT ack, so
    // an event the client sends right after connecting (typically `joinRoom`) finds
    // it there and the room's fan-out routes to this node.
    let connect = Command::ConnectSocket {
        socket: presence_ref(node, s),
        user_id: user.user.id.clone(),
        session_id: user.session_id.clone(),
    };
    match node.cluster.propose(connect).await {
        Ok(Outcome::SocketConnected) => {}
        Ok(_) => return Err(Refused("Invalid session")),
        Err(e) => {
            tracing::warn!(user = %user.user.id, error = %e, "could not record socket presence");
            return Err(Refused("연결 처리 중 오류가 발생했습니다."));
        }
    }
    s.extensions.insert(SocketUser {
        user_id: user.user.id.clone(),
        session_id: user.session_id.clone(),
        name: user.user.name.clone(),
    });
    Ok(())
}

/// After the CONNECT ack: socket rooms, re-joins.
pub(super) async fn connected(node: &Node, s: &SocketRef) {
    let Some(user) = super::session_user::user_of(s) else { return };
    node.metrics.sockets_connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    s.join([user_room(&user.user_id), ROOM_LIST.to_owned()]);
    let me = presence_ref(node, s);
    let connect =
        Command::ConnectSocket { socket: me.clone(), user_id: user.user_id.clone(), session_id: user.session_id };
    match node.cluster.propose(connect).await {
        Ok(Outcome::SocketConnected) => {}
        Ok(other) => {
            // The session was replaced between the handshake and now.
            tracing::info!(user = %user.user_id, ?other, "socket refused by the cluster");
            let _ = s.clone().disconnect();
            return;
        }
        Err(e) => {
            tracing::warn!(user = %user.user_id, error = %e, "could not record socket presence");
            super::emit_error(s, None, "연결 처리 중 오류가 발생했습니다.");
            return;
        }
    }
    let remembered: Vec<(String, Option<String>)> = node.cluster.read_local(|state| {
        let rooms: BTreeSet<&String> = state
            .presence
            .sockets_of_user(&user.user_id)
            .filter(|other| **other != me)
            .filter_map(|other| state.presence.socket(other))
            .flat_map(|info| info.rooms.iter())
            .collect();
        rooms.into_iter().filter_map(|r| state.rooms.get(r)).map(|r| (r.id.clone(), r.password_hash.clone())).collect()
    });
    for (room_id, password_hash) in remembered {
        let join = Command::JoinRoom {
            room_id: room_id.clone(),
            user_id: user.user_id.clone(),
            socket: Some(me.clone()),
            password_hash,
        };
        if let Ok(Outcome::RoomJoined { .. }) = node.cluster.propose(join).await {
            s.join(room_id.clone());
            let _ = s.emit("joinRoomSuccess", &json!({ "roomId": room_id }));
        }
    }
}
