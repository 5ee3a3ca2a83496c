//! The CONNECT handshake (protocol §6.1): a socket must present `auth {token,
//! sessionId}` for a valid session, or it is refused with CONNECT_ERROR; it is recorded
//! in the replicated presence state before the CONNECT ack. Once connected, it joins its user's and
//! the room-list socket rooms, and re-joins the chat rooms its user is in through
//! other sockets (a second tab, a reconnect within the leave grace period).

use std::collections::BTreeSet;
use std::fmt;

use chat_raft::{Command, Outcome};
use serde::Deserialize;
use serde_json::json;
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

/// The CONNECT auth payload: only the two fields the handshake reads. Parsed straight
/// from the frame into this struct, so other fields are skipped without being built
/// into a JSON tree (a pre-auth client decides nothing about the server's memory).
#[derive(Debug, Deserialize)]
pub(crate) struct ConnectAuth {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "sessionId")]
    session_id: Option<String>,
}

/// The CONNECT_ERROR of a user at `--max-sockets-per-user`.
pub(crate) const TOO_MANY_SOCKETS: &str = "Too many connections";

/// Longest token or session id looked at; a longer one cannot be valid.
const MAX_CREDENTIAL_LEN: usize = 4096;

fn credential(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty() && v.len() <= MAX_CREDENTIAL_LEN)
}

pub(super) async fn authenticate(node: &Node, s: &SocketRef, auth: Option<ConnectAuth>) -> Result<(), Refused> {
    let Some(auth) = auth else { return Err(Refused("Authentication error")) };
    let (Some(token), Some(session_id)) = (credential(&auth.token), credential(&auth.session_id)) else {
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
    // Each socket costs Raft writes and replicated presence: a user's sockets are
    // capped cluster-wide, counted in this replica's presence (issue 12).
    let sockets = node.cluster.read_local(|state| state.presence.sockets_of_user(&user.user.id).count());
    if sockets >= node.config.max_sockets_per_user {
        node.metrics.limit_hit(crate::metrics::Limit::SocketsPerUser);
        tracing::info!(user = %user.user.id, sockets, "connection refused: too many sockets");
        return Err(Refused(TOO_MANY_SOCKETS));
    }
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

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn parse(text: &str) -> Option<ConnectAuth> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn only_the_two_credentials_are_read() {
        let auth = parse(r#"{"junk":[0,0,{"a":[1]}],"token":"t","sessionId":"s","x":null}"#).unwrap();
        assert_eq!((credential(&auth.token), credential(&auth.session_id)), (Some("t"), Some("s")));
        assert!(parse(r#"{"token":7,"sessionId":"s"}"#).is_none(), "a non-string token is refused");
        let empty = parse(r#"{"token":"","sessionId":"s"}"#).unwrap();
        assert_eq!(credential(&empty.token), None);
        let long = parse(&format!(r#"{{"token":"{}","sessionId":"s"}}"#, "t".repeat(MAX_CREDENTIAL_LEN + 1))).unwrap();
        assert_eq!(credential(&long.token), None, "an over-long credential is not looked at");
    }

    /// Property (issue 12 fuzzing, bounded: a fixed seed and 5,000 cases): random
    /// JSON-ish auth payloads, built from fragments of valid ones, never panic, and a
    /// credential is only ever taken from a string field of that name.
    #[test]
    fn random_auth_payloads_parse_or_refuse_without_panicking() {
        // Fragments of JSON, separated by `|`.
        const PIECES: &str = r#"{|}|[|]|,|:|"token"|"sessionId"|"t"|0|-1.5e3|null|"\u0000"|true|"\n"| "#;
        let pieces: Vec<&str> = PIECES.split('|').collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x0c0);
        for _ in 0..5_000 {
            let text: String = (0..rng.gen_range(0..24)).map(|_| pieces[rng.gen_range(0..pieces.len())]).collect();
            if let Some(auth) = parse(&text) {
                let value: serde_json::Value = serde_json::from_str(&text).expect("a parsed auth is JSON");
                if let Some(token) = credential(&auth.token) {
                    assert_eq!(value.get("token").and_then(|t| t.as_str()), Some(token), "{text}");
                }
            }
        }
    }
}
