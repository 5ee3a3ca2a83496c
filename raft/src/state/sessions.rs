//! Login sessions: at most one per user (the single-login rule).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::command::{Millis, SessionTouch};

/// Idle sessions expire after this long without activity (protocol §2.3).
pub const SESSION_IDLE_MS: Millis = 30 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    /// 32 lowercase hex characters.
    pub session_id: String,
    pub created_at: Millis,
    pub last_activity: Millis,
    #[serde(default)]
    pub user_agent: String,
    #[serde(default)]
    pub ip_address: String,
}

impl Session {
    /// Whether the session is still within its idle timeout at `now`. Expiry is a
    /// read-time rule (it needs a clock), never an apply-time one.
    pub fn is_live_at(&self, now: Millis) -> bool {
        now.saturating_sub(self.last_activity) <= SESSION_IDLE_MS
    }
}

/// Logins remembered per user for admins (protocol §8.2), the current one included.
pub const RECENT_SESSIONS: usize = 5;

/// The current session of each user, by user id, and each user's last few logins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sessions {
    by_user: BTreeMap<String, Session>,
    /// Newest first, at most [`RECENT_SESSIONS`] each; as opened (activity not tracked).
    /// Defaulted so snapshots taken before it existed still load.
    #[serde(default)]
    recent: BTreeMap<String, VecDeque<Session>>,
}

impl Sessions {
    pub fn current(&self, user_id: &str) -> Option<&Session> {
        self.by_user.get(user_id)
    }

    pub fn is_current(&self, user_id: &str, session_id: &str) -> bool {
        self.current(user_id).is_some_and(|s| s.session_id == session_id)
    }

    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }

    /// The user's last logins, newest first.
    pub fn recent(&self, user_id: &str) -> impl Iterator<Item = &Session> {
        self.recent.get(user_id).into_iter().flatten()
    }

    /// Install `session` as the user's only session; returns the one it replaced.
    pub(super) fn open(&mut self, session: Session) -> Option<Session> {
        let recent = self.recent.entry(session.user_id.clone()).or_default();
        recent.push_front(session.clone());
        recent.truncate(RECENT_SESSIONS);
        self.by_user.insert(session.user_id.clone(), session)
    }

    /// Forget everything about a deleted user.
    pub(super) fn forget(&mut self, user_id: &str) {
        self.by_user.remove(user_id);
        self.recent.remove(user_id);
    }

    pub(super) fn close(&mut self, user_id: &str, session_id: &str) -> Option<Session> {
        if self.is_current(user_id, session_id) {
            self.by_user.remove(user_id)
        } else {
            None
        }
    }

    pub(super) fn remove(&mut self, user_id: &str) -> Option<Session> {
        self.by_user.remove(user_id)
    }

    /// Slide activity forward (never back) for sessions that are still current.
    pub(super) fn touch(&mut self, touches: &[SessionTouch]) -> usize {
        let mut count = 0;
        for touch in touches {
            if let Some(session) = self.by_user.get_mut(&touch.user_id) {
                if session.session_id == touch.session_id && touch.at > session.last_activity {
                    session.last_activity = touch.at;
                    count += 1;
                }
            }
        }
        count
    }
}
