//! The session check (protocol §2.3): a token is good iff its JWT verifies, its user
//! exists and is not banned, and the user's current session on the replica is the
//! presented one and was active within the idle timeout, counting activity this node
//! saw but has not flushed yet. Used by the REST guard on every request carrying a
//! token, and by the socket layer on the handshake and every `chatMessage`.

use chat_raft::command::Millis;
use chat_raft::state::{Session, User};
use chat_raft::ClusterState;

use crate::auth::jwt::JwtError;
use crate::auth::now_ms;
use crate::Node;

/// Who an accepted token belongs to: the user as the replica had them at the check.
#[derive(Debug, Clone)]
pub(crate) struct AuthUser {
    pub user: User,
    pub session_id: String,
}

/// Why a token or session was refused. `Unavailable` is not a refusal: this node
/// cannot tell right now (stale replica), and clients must not be logged out for it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("invalid token: {0}")]
    Token(#[from] JwtError),
    #[error("the session is not current, has expired or does not match the token")]
    Session,
    #[error("the user does not exist")]
    UserNotFound,
    #[error("the user is banned")]
    Banned,
    #[error("sessions cannot be checked on this node right now: {0}")]
    Unavailable(chat_raft::Error),
}

/// Check `token`, and the session it claims or `session_id` when the caller got one
/// separately (the socket handshake's `auth.sessionId`, `x-session-id`), which must
/// then equal the token's claim. On success the activity is recorded.
pub(crate) async fn validate(node: &Node, token: &str, session_id: Option<&str>) -> Result<AuthUser, AuthError> {
    let claims = node.jwt.verify(token)?;
    let session_id = session_id.unwrap_or(&claims.session_id);
    if session_id != claims.session_id {
        return Err(AuthError::Session);
    }
    let now = now_ms();
    let pending = node.activity.last_seen(&claims.user_id, session_id);
    let user = node
        .cluster
        .read(|state| check(state, &claims.user_id, session_id, now, pending))
        .await
        .map_err(AuthError::Unavailable)??;
    node.activity.record(&user.id, session_id, now);
    Ok(AuthUser { user, session_id: session_id.to_owned() })
}

/// Count a use of the session as activity (e.g. after a `chatMessage` was sent).
pub(crate) fn record_activity(node: &Node, user_id: &str, session_id: &str) {
    node.activity.record(user_id, session_id, now_ms());
}

/// The pure part of the check, against one replica state. `pending` is activity this
/// node recorded for this session that may not be replicated yet.
pub(crate) fn check(
    state: &ClusterState,
    user_id: &str,
    session_id: &str,
    now: Millis,
    pending: Option<Millis>,
) -> Result<User, AuthError> {
    let user = state.users.get(user_id).ok_or(AuthError::UserNotFound)?;
    if user.ban_at(now).is_some() {
        return Err(AuthError::Banned);
    }
    let session = state.sessions.current(user_id).filter(|s| s.session_id == session_id).ok_or(AuthError::Session)?;
    let last_activity = pending.map_or(session.last_activity, |p| p.max(session.last_activity));
    let effective = Session { last_activity, ..session.clone() };
    if !effective.is_live_at(now) {
        return Err(AuthError::Session);
    }
    Ok(user.clone())
}

#[cfg(test)]
mod tests {
    use chat_raft::{Command, Outcome, Request};

    use super::*;

    const T0: Millis = 1_700_000_000_000;
    const IDLE: Millis = 30 * 60 * 1000;

    fn state_with_session() -> ClusterState {
        let mut state = ClusterState::default();
        let user = User {
            id: "u1".into(),
            email: "a@b.co".into(),
            name: "A".into(),
            password_hash: "x".into(),
            profile_image: String::new(),
            role: Default::default(),
            ban: None,
            mute: None,
            created_at: T0,
            updated_at: T0,
        };
        apply(&mut state, Command::RegisterUser { user });
        let session = Session {
            user_id: "u1".into(),
            session_id: "s1".into(),
            created_at: T0,
            last_activity: T0,
            user_agent: String::new(),
            ip_address: String::new(),
        };
        apply(&mut state, Command::OpenSession { session });
        state
    }

    fn apply(state: &mut ClusterState, cmd: Command) -> Outcome {
        state.apply(&Request::new(cmd))
    }

    #[test]
    fn the_current_live_session_passes_and_others_do_not() {
        let state = state_with_session();
        assert_eq!(check(&state, "u1", "s1", T0 + 1, None).unwrap().id, "u1");
        assert!(matches!(check(&state, "u1", "s2", T0, None), Err(AuthError::Session)));
        assert!(matches!(check(&state, "nobody", "s1", T0, None), Err(AuthError::UserNotFound)));
    }

    #[test]
    fn idleness_counts_pending_activity() {
        let state = state_with_session();
        assert!(check(&state, "u1", "s1", T0 + IDLE, None).is_ok(), "exactly 30 min idle is still live");
        assert!(matches!(check(&state, "u1", "s1", T0 + IDLE + 1, None), Err(AuthError::Session)));
        let pending = Some(T0 + 10 * 60 * 1000);
        assert!(check(&state, "u1", "s1", T0 + IDLE + 1, pending).is_ok(), "unflushed activity slides the session");
        assert!(matches!(check(&state, "u1", "s1", T0 + 2 * IDLE, pending), Err(AuthError::Session)));
    }

    #[test]
    fn banned_and_deleted_users_are_refused() {
        let mut state = state_with_session();
        let mut banned = state.clone();
        apply(&mut banned, Command::SetBanned { user_id: "u1".into(), banned: true });
        assert!(matches!(check(&banned, "u1", "s1", T0, None), Err(AuthError::Banned)));
        apply(&mut state, Command::DeleteUser { user_id: "u1".into(), by: None });
        assert!(matches!(check(&state, "u1", "s1", T0, None), Err(AuthError::UserNotFound)));
    }
}
