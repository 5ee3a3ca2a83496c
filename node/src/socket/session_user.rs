//! What a socket knows about its user, stored in the socket's extensions by the
//! handshake, and the re-check of that user's session before each event acts.

use chat_raft::state::{SocketRef as PresenceSocket, User};
use socketioxide::extract::SocketRef;

use crate::auth::now_ms;
use crate::auth::session;
use crate::metrics::Rejection;
use crate::Node;

/// The client-facing text of `SESSION_EXPIRED` (protocol §2.3).
const SESSION_EXPIRED: &str = "세션이 만료되었습니다. 다시 로그인해주세요.";
/// This replica cannot tell right now (no leader contact): retrying can succeed.
const UNAVAILABLE: &str = "일시적으로 요청을 처리할 수 없습니다. 잠시 후 다시 시도해주세요.";

#[derive(Debug, Clone)]
pub(crate) struct SocketUser {
    pub user_id: String,
    pub session_id: String,
    pub name: String,
}

pub(crate) fn user_of(s: &SocketRef) -> Option<SocketUser> {
    s.extensions.get::<SocketUser>()
}

/// This socket's name in the replicated presence state.
pub(crate) fn presence_ref(node: &Node, s: &SocketRef) -> PresenceSocket {
    PresenceSocket { node: node.cluster.id(), socket: s.id.to_string() }
}

/// Why an event was refused by [`live_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionRefusal {
    /// The session ended (replaced, logged out, idle), or the user was banned or
    /// deleted: the socket's handshake no longer vouches for anything.
    Expired,
    /// This replica is not fresh enough to tell; the event may be retried.
    Unavailable,
}

/// The socket's user and their current record, once their session is checked again
/// on this replica (protocol §2.3). The handshake alone is not enough: a socket stays
/// connected for a while after its session ends (10 s after a replacing login), and
/// the end notice can be missed altogether (a lagging notices listener, a snapshot
/// install), so every event that acts re-checks.
pub(crate) async fn live_user(node: &Node, s: &SocketRef) -> Result<(SocketUser, User), SessionRefusal> {
    let Some(user) = user_of(s) else { return Err(SessionRefusal::Expired) };
    let now = now_ms();
    let pending = node.activity.last_seen(&user.user_id, &user.session_id);
    let checked = node.cluster.read(|state| session::check(state, &user.user_id, &user.session_id, now, pending)).await;
    match checked {
        Ok(Ok(record)) => Ok((user, record)),
        Ok(Err(_)) => {
            node.metrics.reject(Rejection::Session);
            Err(SessionRefusal::Expired)
        }
        Err(_) => {
            node.metrics.reject(Rejection::Session);
            Err(SessionRefusal::Unavailable)
        }
    }
}

/// Tell the socket why its event was refused: `SESSION_EXPIRED` (as `chatMessage`
/// always did), or a retryable error when this replica could not tell.
pub(crate) fn refuse(s: &SocketRef, refusal: SessionRefusal) {
    match refusal {
        SessionRefusal::Expired => super::emit_error(s, Some("SESSION_EXPIRED"), SESSION_EXPIRED),
        SessionRefusal::Unavailable => super::emit_error(s, Some("SERVICE_UNAVAILABLE"), UNAVAILABLE),
    }
}
