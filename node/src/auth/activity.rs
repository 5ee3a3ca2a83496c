//! Sliding session activity without a Raft write per request (architecture §3.1,
//! protocol §10.5).
//!
//! Every successful session check records `(user, session, now)` here, in memory. A
//! background task ([`run`]) commits what changed since its last flush as one
//! `Command::TouchSessions` at most every [`FLUSH_EVERY`], and commits nothing when
//! nothing changed, so an idle cluster's log does not grow. Until a touch is
//! replicated, this node's own checks count it ([`Activity::last_seen`]): the session
//! really was active, and the replica lags by at most one flush, far below the 30 min
//! idle timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_raft::command::{Millis, SessionTouch};
use chat_raft::{Command, Outcome};
use tokio::sync::watch;

use crate::auth::now_ms;
use crate::Node;

/// How often pending activity is committed, at most.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// How long the final flush at shutdown may take.
const FINAL_FLUSH_DEADLINE: Duration = Duration::from_secs(2);
/// Forget activity older than the session idle timeout (protocol §2.3): such a session
/// is dead anyway.
const FORGET_AFTER_MS: Millis = chat_raft::state::SESSION_IDLE_MS;
/// Touches per command: keeps one log entry small even with very many active users.
const MAX_TOUCHES_PER_COMMAND: usize = 2_000;

/// The activity this node observed, per user (one session per user, protocol §2.3).
#[derive(Default)]
pub(crate) struct Activity {
    seen: Mutex<HashMap<String, Seen>>,
}

struct Seen {
    session_id: String,
    /// The latest activity observed.
    at: Millis,
    /// The latest activity already committed (0 = none).
    flushed: Millis,
}

impl Activity {
    /// Note that `session_id` of `user_id` was used at `at`.
    pub(crate) fn record(&self, user_id: &str, session_id: &str, at: Millis) {
        let mut seen = self.seen.lock().expect("activity lock");
        match seen.get_mut(user_id) {
            Some(entry) if entry.session_id == session_id => entry.at = entry.at.max(at),
            _ => {
                let entry = Seen { session_id: session_id.to_owned(), at, flushed: 0 };
                seen.insert(user_id.to_owned(), entry);
            }
        }
    }

    /// The latest activity this node saw for exactly this session, flushed or not.
    pub(crate) fn last_seen(&self, user_id: &str, session_id: &str) -> Option<Millis> {
        let seen = self.seen.lock().expect("activity lock");
        seen.get(user_id).filter(|e| e.session_id == session_id).map(|e| e.at)
    }

    /// Touches not committed yet; forgets sessions idle for longer than the timeout.
    fn due(&self, now: Millis) -> Vec<SessionTouch> {
        let mut seen = self.seen.lock().expect("activity lock");
        seen.retain(|_, e| now.saturating_sub(e.at) <= FORGET_AFTER_MS);
        seen.iter()
            .filter(|(_, e)| e.at > e.flushed)
            .map(|(user_id, e)| SessionTouch { user_id: user_id.clone(), session_id: e.session_id.clone(), at: e.at })
            .collect()
    }

    /// Remember that these touches are committed.
    fn flushed(&self, touches: &[SessionTouch]) {
        let mut seen = self.seen.lock().expect("activity lock");
        for touch in touches {
            if let Some(entry) = seen.get_mut(&touch.user_id).filter(|e| e.session_id == touch.session_id) {
                entry.flushed = entry.flushed.max(touch.at);
            }
        }
    }

    /// Commit pending touches; on failure they stay pending for the next flush.
    pub(crate) async fn flush(&self, node: &Node) -> Result<usize, chat_raft::Error> {
        let due = self.due(now_ms());
        let mut committed = 0;
        for chunk in due.chunks(MAX_TOUCHES_PER_COMMAND) {
            let outcome = node.cluster.propose(Command::TouchSessions { touches: chunk.to_vec() }).await?;
            if let Outcome::SessionsTouched { count } = outcome {
                committed += count;
            }
            self.flushed(chunk);
        }
        Ok(committed)
    }
}

/// The flush loop of a node, until `stop` turns true; then one last bounded flush so
/// activity seen just before a restart is not lost.
pub(crate) async fn run(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = node.activity.flush(&node).await {
                    tracing::warn!(node = node.config.id, error = %e, "session activity flush failed; retrying later");
                }
            }
            () = stopped(&mut stop) => break,
        }
    }
    match tokio::time::timeout(FINAL_FLUSH_DEADLINE, node.activity.flush(&node)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(node = node.config.id, error = %e, "final session activity flush failed"),
        Err(_) => tracing::warn!(node = node.config.id, "final session activity flush timed out"),
    }
}

/// Resolves once `stop` turns true (or its sender is gone). Returns `()` so no
/// non-`Send` watch guard lives across the select's other arm.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_slide_forward_per_session_and_a_new_session_replaces_the_old() {
        let activity = Activity::default();
        activity.record("u1", "s1", 1_000);
        activity.record("u1", "s1", 900);
        assert_eq!(activity.last_seen("u1", "s1"), Some(1_000));
        assert_eq!(activity.last_seen("u1", "other"), None);
        activity.record("u1", "s2", 1_100);
        assert_eq!(activity.last_seen("u1", "s1"), None);
        assert_eq!(activity.last_seen("u1", "s2"), Some(1_100));
    }

    #[test]
    fn only_unflushed_activity_is_due_and_idle_entries_are_forgotten() {
        let activity = Activity::default();
        activity.record("u1", "s1", 1_000);
        activity.record("u2", "s2", 2_000);
        let due = activity.due(3_000);
        assert_eq!(due.len(), 2);
        activity.flushed(&due);
        assert!(activity.due(3_000).is_empty(), "nothing new: nothing to commit");
        activity.record("u1", "s1", 4_000);
        let due = activity.due(4_000);
        assert_eq!(due, vec![SessionTouch { user_id: "u1".into(), session_id: "s1".into(), at: 4_000 }]);
        activity.due(4_000 + FORGET_AFTER_MS + 1);
        assert_eq!(activity.last_seen("u1", "s1"), None);
    }
}
