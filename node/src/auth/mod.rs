//! Authentication shared by the REST layer and the socket layer: JWTs ([`jwt`]), the
//! session check every authenticated request and socket event goes through
//! ([`session`]), batched session activity ([`activity`]) and bcrypt ([`password`], hashed on the pool of `hashing.rs`).
//!
//! Nothing here knows HTTP: the REST guard and the Socket.IO handshake both call
//! [`session::validate`] and map [`AuthError`] to their own wire answers.

pub(crate) mod activity;
pub(crate) mod hashing;
pub(crate) mod jwt;
pub(crate) mod password;
pub(crate) mod session;

use std::time::{SystemTime, UNIX_EPOCH};

use chat_raft::command::Millis;

pub(crate) use session::{AuthError, AuthUser};

/// Wall-clock milliseconds since the Unix epoch: what proposers stamp into commands
/// and what session idleness is measured against.
pub(crate) fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
}
