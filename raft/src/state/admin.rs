//! Admin actions as `ClusterState` transitions (protocol §8): role changes, bans,
//! mutes, forced logouts and deletions of users, deletions of messages and rooms, each
//! recorded in the audit log when an
//! admin or operator asked for it. Like the rest of `apply`, nothing here reads a
//! clock: end times and audit times come stamped in the commands.

use super::audit::{AuditAction, AuditEntry, AuditTarget};
use super::users::{Role, Sanction, OPERATOR};
use super::ClusterState;
use crate::command::{Millis, Outcome, Stamp};
use crate::state::SocketRef;

impl ClusterState {
    pub(super) fn set_role(&mut self, user_id: &str, role: Role, by: Option<&Stamp>) -> Outcome {
        let outcome = self.users.set_role(user_id, role);
        if let (Outcome::UserUpdated, Some(by)) = (&outcome, by) {
            let detail = match role {
                Role::Admin => "admin",
                Role::User => "user",
            };
            self.audit(by, AuditAction::SetRole, user_id, "", detail.to_owned());
        }
        outcome
    }

    pub(super) fn ban(&mut self, user_id: &str, reason: &str, until: Option<Millis>, by: &Stamp) -> Outcome {
        if let Some(refused) = self.refuse_sanction(user_id) {
            return refused;
        }
        let ban = Sanction { reason: reason.to_owned(), until, at: by.at, by: by.actor.clone() };
        self.users.set_ban(user_id, Some(ban));
        let sockets = self.end_sessions(user_id);
        self.audit(by, AuditAction::Ban, user_id, reason, until.map(|u| u.to_string()).unwrap_or_default());
        Outcome::Sanctioned { sockets }
    }

    pub(super) fn unban(&mut self, user_id: &str, by: &Stamp) -> Outcome {
        let outcome = self.users.set_ban(user_id, None);
        if outcome == Outcome::UserUpdated {
            self.audit(by, AuditAction::Unban, user_id, "", String::new());
        }
        outcome
    }

    pub(super) fn mute(&mut self, user_id: &str, reason: &str, until: Millis, by: &Stamp) -> Outcome {
        if let Some(refused) = self.refuse_sanction(user_id) {
            return refused;
        }
        let mute = Sanction { reason: reason.to_owned(), until: Some(until), at: by.at, by: by.actor.clone() };
        let outcome = self.users.set_mute(user_id, Some(mute));
        self.audit(by, AuditAction::Mute, user_id, reason, until.to_string());
        outcome
    }

    pub(super) fn unmute(&mut self, user_id: &str, by: &Stamp) -> Outcome {
        let outcome = self.users.set_mute(user_id, None);
        if outcome == Outcome::UserUpdated {
            self.audit(by, AuditAction::Unmute, user_id, "", String::new());
        }
        outcome
    }

    pub(super) fn end_session(&mut self, user_id: &str, by: &Stamp) -> Outcome {
        if !self.users.contains(user_id) {
            return Outcome::UnknownUser;
        }
        let sockets = self.end_sessions(user_id);
        self.audit(by, AuditAction::Logout, user_id, "", String::new());
        Outcome::Sanctioned { sockets }
    }

    /// The old operator flag: a ban without reason or end.
    pub(super) fn set_banned_legacy(&mut self, user_id: &str, banned: bool) -> Outcome {
        let ban = banned.then(|| Sanction { reason: String::new(), until: None, at: 0, by: OPERATOR.into() });
        let outcome = self.users.set_ban(user_id, ban);
        if banned && outcome == Outcome::UserUpdated {
            self.end_sessions(user_id);
        }
        outcome
    }

    /// Self-deletion and an admin's deletion are the same transition; only the
    /// admin's is audited.
    pub(super) fn delete_user(&mut self, user_id: &str, by: Option<&Stamp>) -> Outcome {
        if !self.users.contains(user_id) {
            return Outcome::UnknownUser;
        }
        if let Some(by) = by {
            if self.users.get(user_id).is_some_and(|u| u.is_admin()) {
                return Outcome::AdminTarget; // demote first, so the last admin stays
            }
            // Recorded before the user is gone, so the entry still names them.
            self.audit(by, AuditAction::DeleteUser, user_id, "", String::new());
        }
        self.users.remove(user_id);
        self.sessions.forget(user_id);
        self.rooms.remove_participant_everywhere(user_id);
        let sockets = self.presence.disconnect_user(user_id);
        Outcome::UserDeleted { user_id: user_id.to_owned(), sockets }
    }

    /// The message store already made the message a tombstone; this records the
    /// deletion once per message (a retried or repeated deletion is not audited or
    /// announced again, while the entry is kept).
    pub(super) fn delete_message(&mut self, message_id: &str, room_id: &str, by: &Stamp) -> Outcome {
        if self.audit.contains(AuditAction::DeleteMessage, message_id) {
            return Outcome::MessageDeleted { first: false };
        }
        self.record(by, AuditAction::DeleteMessage, (AuditTarget::Message, message_id), "", room_id.to_owned());
        Outcome::MessageDeleted { first: true }
    }

    /// Close a room: out of the open rooms (lists, joins, posts, socket joins all look
    /// only there) and out of every socket's rooms. A closed room is closed already.
    pub(super) fn delete_room(&mut self, room_id: &str, by: &Stamp) -> Outcome {
        if self.rooms.closed(room_id).is_some() {
            return Outcome::Unchanged;
        }
        let Some(closed) = self.rooms.close(room_id, by.at, &by.actor) else { return Outcome::UnknownRoom };
        let (members, name) = (closed.room.participants.clone(), closed.room.name.clone());
        self.presence.forget_room(room_id);
        self.record(by, AuditAction::DeleteRoom, (AuditTarget::Room, room_id), "", name);
        Outcome::RoomDeleted { members }
    }

    /// Why a ban or mute of `user_id` cannot be applied, if it cannot.
    fn refuse_sanction(&self, user_id: &str) -> Option<Outcome> {
        match self.users.get(user_id) {
            None => Some(Outcome::UnknownUser),
            Some(user) if user.is_admin() => Some(Outcome::AdminTarget),
            Some(_) => None,
        }
    }

    /// End the user's session and forget their sockets; each node's socket layer
    /// disconnects its own when it sees the outcome.
    fn end_sessions(&mut self, user_id: &str) -> Vec<SocketRef> {
        self.sessions.remove(user_id);
        self.presence.disconnect_user(user_id)
    }

    /// Audit an action on a user.
    fn audit(&mut self, by: &Stamp, action: AuditAction, user_id: &str, reason: &str, detail: String) {
        self.record(by, action, (AuditTarget::User, user_id), reason, detail);
    }

    fn record(&mut self, by: &Stamp, action: AuditAction, target: (AuditTarget, &str), reason: &str, detail: String) {
        let email_of = |id: &str| self.users.get(id).map(|u| u.email.clone()).unwrap_or_default();
        let (target_kind, target) = target;
        let target_email = match target_kind {
            AuditTarget::User => email_of(target),
            AuditTarget::Message | AuditTarget::Room => String::new(),
        };
        let entry = AuditEntry {
            id: 0,
            at: by.at,
            actor: by.actor.clone(),
            actor_email: email_of(&by.actor),
            action,
            target_kind,
            target: target.to_owned(),
            target_email,
            reason: reason.to_owned(),
            detail,
        };
        self.audit.record(entry);
    }
}
