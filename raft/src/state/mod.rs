//! The control state of the cluster and its pure `apply`.
//!
//! `ClusterState` is what every replica holds in memory: users (with roles and
//! sanctions), rooms, sessions, the audit log of admin actions,
//! presence, node liveness and file metadata. [`ClusterState::apply`] is deterministic: no clock, no
//! randomness, no IO, so every replica that applies the same log reaches the same state.

mod admin;
mod audit;
mod dedup;
mod files;
mod nodes;
mod presence;
mod restore;
mod rooms;
mod sessions;
mod users;

#[cfg(test)]
mod files_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use audit::{AuditAction, AuditEntry, AuditLog, AuditTarget, AUDIT_CAPACITY};
pub use dedup::Dedup;
pub use files::{FileRecord, Files};
pub use presence::{Presence, SocketInfo, SocketRef};
pub use rooms::{ClosedRoom, Room, Rooms};
pub use sessions::{Session, Sessions, RECENT_SESSIONS, SESSION_IDLE_MS};
pub use users::{Role, Sanction, User, Users, OPERATOR};

use crate::command::{Command, Outcome, Request};
use crate::messages::MessageCommand;
use crate::types::NodeId;

/// The replicated control state. Serialized whole into snapshots.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterState {
    pub users: Users,
    pub rooms: Rooms,
    pub sessions: Sessions,
    pub presence: Presence,
    /// Nodes the leader declared down; their sockets were dropped from `presence`.
    pub down_nodes: BTreeSet<NodeId>,
    /// Outcomes of recently applied requests, by request id.
    pub dedup: Dedup,
    /// Uploaded files' metadata (the bytes live in the blob stores of `holders`).
    /// Defaulted so snapshots taken before files existed still load.
    #[serde(default)]
    pub files: Files,
    /// Admin actions, newest last (bounded). Defaulted for older snapshots.
    #[serde(default)]
    pub audit: AuditLog,
}

impl ClusterState {
    /// Apply one request. A request whose id was applied before returns the outcome
    /// it got then and changes nothing.
    pub fn apply(&mut self, req: &Request) -> Outcome {
        self.apply_routed(req, |_| Outcome::NoMessageStore)
    }

    /// Like [`apply`](Self::apply), with message-plane commands handed to `messages`
    /// (the message store). Deduplication covers both planes.
    pub fn apply_routed(&mut self, req: &Request, messages: impl FnOnce(&MessageCommand) -> Outcome) -> Outcome {
        if let Some(previous) = self.dedup.get(&req.id) {
            return previous.clone();
        }
        let outcome = match &req.cmd {
            Command::Message(command) => messages(command),
            command => self.execute(command),
        };
        self.dedup.remember(req.id.clone(), outcome.clone());
        outcome
    }

    fn execute(&mut self, cmd: &Command) -> Outcome {
        match cmd {
            Command::RegisterUser { user } => self.users.register(user.clone()),
            Command::UpdateUser { user_id, name, profile_image, at } => {
                self.users.update(user_id, name.as_deref(), profile_image.as_deref(), *at)
            }
            Command::DeleteUser { user_id, by } => self.delete_user(user_id, by.as_ref()),
            Command::SetRole { user_id, role, by } => self.set_role(user_id, *role, by.as_ref()),
            Command::SetBanned { user_id, banned } => self.set_banned_legacy(user_id, *banned),
            Command::Ban { user_id, reason, until, by } => self.ban(user_id, reason, *until, by),
            Command::Unban { user_id, by } => self.unban(user_id, by),
            Command::Mute { user_id, reason, until, by } => self.mute(user_id, reason, *until, by),
            Command::Unmute { user_id, by } => self.unmute(user_id, by),
            Command::EndSession { user_id, by } => self.end_session(user_id, by),
            Command::DeleteMessage { message_id, room_id, by } => self.delete_message(message_id, room_id, by),
            Command::DeleteRoom { room_id, by } => self.delete_room(room_id, by),
            Command::OpenSession { session } => {
                match self.users.get(&session.user_id) {
                    None => return Outcome::UnknownUser,
                    // The proposer checked the ban on its replica; a ban committed in
                    // between must still win. Its expiry is judged at the login's
                    // stamped time, never this replica's clock.
                    Some(user) if user.ban_at(session.created_at).is_some() => return Outcome::UserBanned,
                    Some(_) => {}
                }
                Outcome::SessionOpened { replaced: self.sessions.open(session.clone()) }
            }
            Command::CloseSession { user_id, session_id } => match self.sessions.close(user_id, session_id) {
                Some(session) => Outcome::SessionClosed { session },
                None => Outcome::UnknownSession,
            },
            Command::TouchSessions { touches } => Outcome::SessionsTouched { count: self.sessions.touch(touches) },
            Command::CreateRoom { room } => {
                if !self.users.contains(&room.creator) {
                    return Outcome::UnknownUser;
                }
                self.rooms.create(room.clone())
            }
            Command::JoinRoom { room_id, user_id, socket, password_hash } => {
                self.join_room(room_id, user_id, socket.as_ref(), password_hash.as_deref())
            }
            Command::LeaveRoom { room_id, user_id } => self.leave_room(room_id, user_id),
            Command::ConnectSocket { socket, user_id, session_id } => {
                // A node already declared down must not gain sockets: nothing would
                // ever remove them (NodeDown is proposed once per outage).
                if self.down_nodes.contains(&socket.node) || !self.sessions.is_current(user_id, session_id) {
                    return Outcome::SocketRefused;
                }
                self.presence.connect(socket.clone(), user_id.clone(), session_id.clone());
                Outcome::SocketConnected
            }
            Command::DisconnectSocket { socket } => match self.presence.disconnect(socket) {
                Some(info) => Outcome::SocketDisconnected { rooms: info.rooms.into_iter().collect() },
                None => Outcome::Unchanged,
            },
            Command::NodeDown { node } => nodes::mark_down(self, *node),
            Command::NodeUp { node } => nodes::mark_up(self, *node),
            Command::RecordFile { file, quota } => {
                if !self.users.contains(&file.user) {
                    return Outcome::UnknownUser;
                }
                self.files.record(file.clone(), *quota)
            }
            Command::AttachFile { file_id, room_id } => {
                if self.rooms.get(room_id).is_none() {
                    return Outcome::UnknownRoom;
                }
                self.files.attach(file_id, room_id)
            }
            Command::DeleteFile { file_id, user_id } => self.files.delete(file_id, user_id),
            Command::ExpireFile { file_id, uploaded_before } => self.files.expire(file_id, *uploaded_before),
            // Routed to the message store by the state machine before reaching here.
            Command::Message(_) => Outcome::NoMessageStore,
        }
    }

    fn join_room(
        &mut self,
        room_id: &str,
        user_id: &str,
        socket: Option<&SocketRef>,
        password_hash: Option<&str>,
    ) -> Outcome {
        if !self.users.contains(user_id) {
            return Outcome::UnknownUser;
        }
        let Some(room) = self.rooms.get_mut(room_id) else {
            return Outcome::UnknownRoom;
        };
        if let Some(expected) = room.password_hash.as_deref() {
            if password_hash != Some(expected) {
                return Outcome::WrongRoomPassword;
            }
        }
        let added = room.add_participant(user_id);
        if let Some(socket) = socket {
            self.presence.join_room(socket, user_id, room_id);
        }
        Outcome::RoomJoined { added }
    }

    fn leave_room(&mut self, room_id: &str, user_id: &str) -> Outcome {
        let Some(room) = self.rooms.get_mut(room_id) else {
            return Outcome::UnknownRoom;
        };
        let removed = room.remove_participant(user_id);
        self.presence.leave_room_for_user(user_id, room_id);
        Outcome::RoomLeft { removed }
    }
}
