//! The command set of the control plane and the outcomes `apply` commits.
//!
//! Commands are imperative, outcomes past tense. Every value that is not a pure
//! function of the current state (ids, clocks, password hashes) is stamped into the
//! command by the proposer, so `apply` stays deterministic on every replica. Domain
//! refusals ("email taken") are outcomes, not errors: they are committed like any
//! other result, and a retried request gets the same answer.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::messages::MessageCommand;
use crate::state::{FileRecord, Role, Room, Session, SocketRef, User};
use crate::types::NodeId;

/// Milliseconds since the Unix epoch, as stamped by a proposer.
pub type Millis = u64;

/// A proposer-chosen id that makes a request idempotent: a request whose id was
/// already applied returns the stored outcome instead of being applied again. This is
/// what lets a forwarded write be retried against a new leader after a failover.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub String);

impl RequestId {
    /// A fresh random id (128 bits, hex).
    pub fn random() -> Self {
        Self(format!("{:032x}", rand::random::<u128>()))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One client request: a command and the id that makes it idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: RequestId,
    pub cmd: Command,
}

impl Request {
    pub fn new(cmd: Command) -> Self {
        Self { id: RequestId::random(), cmd }
    }
}

/// The payload of one Raft log entry: requests batched by a proposer. Batching is
/// what lets many concurrent writers share one append and one flush.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub requests: Vec<Request>,
}

/// Everything that changes the control state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Create a user; the email (already lowercased by the proposer) must be unique.
    RegisterUser { user: User },
    /// Change a user's display name and/or profile image.
    UpdateUser { user_id: String, name: Option<String>, profile_image: Option<String>, at: Millis },
    /// Delete a user with their session, sockets and room participations; `by` is
    /// set when an admin did it (audited), absent when users delete themselves.
    DeleteUser {
        user_id: String,
        #[serde(default)]
        by: Option<Stamp>,
    },
    /// Make a user an admin or an ordinary user; the last admin cannot be demoted.
    /// `by` is absent in entries written before the audit log existed.
    SetRole {
        user_id: String,
        role: Role,
        #[serde(default)]
        by: Option<Stamp>,
    },
    /// Ban or unban a user without reason or end (entries written before [`Command::Ban`]
    /// existed, and `/admin/propose` scripts); banning also ends their session.
    SetBanned { user_id: String, banned: bool },
    /// Ban a user (not an admin) until `until` (`None`: until unbanned): their session
    /// ends, their sockets are dropped, logins are refused.
    Ban { user_id: String, reason: String, until: Option<Millis>, by: Stamp },
    /// Lift a user's ban.
    Unban { user_id: String, by: Stamp },
    /// Mute a user (not an admin) until `until`: they may read but not send.
    Mute { user_id: String, reason: String, until: Millis, by: Stamp },
    /// Lift a user's mute.
    Unmute { user_id: String, by: Stamp },
    /// End a user's current session and drop their sockets (admin logout).
    EndSession { user_id: String, by: Stamp },

    /// An admin deleted a message (its store made it a tombstone first): audited once
    /// per message, and every node tells the room's sockets it hosts (protocol §8.6).
    DeleteMessage { message_id: String, room_id: String, by: Stamp },
    /// Close a room (admin deletion, protocol §8.7): it leaves the room list, nobody
    /// can join or post, every socket leaves it; its history stays for admins.
    DeleteRoom { room_id: String, by: Stamp },

    /// Open a session, atomically replacing the user's previous one (single login).
    OpenSession { session: Session },
    /// End a session if it is still the user's current one.
    CloseSession { user_id: String, session_id: String },
    /// Slide `last_activity` of many sessions at once (batched by each node).
    TouchSessions { touches: Vec<SessionTouch> },

    /// Create a room; its creator becomes the first participant.
    CreateRoom { room: Room },
    /// Add a user to a room's participants, and optionally one of their sockets to
    /// the room. `password_hash` is the room hash the proposer verified the given
    /// password against; a room whose hash changed since is refused.
    JoinRoom { room_id: String, user_id: String, socket: Option<SocketRef>, password_hash: Option<String> },
    /// Remove a user from a room and every one of their sockets from it.
    LeaveRoom { room_id: String, user_id: String },

    /// Record a live socket connection of a user on a node.
    ConnectSocket { socket: SocketRef, user_id: String, session_id: String },
    /// Forget a socket and the rooms it had joined.
    DisconnectSocket { socket: SocketRef },

    /// A node stopped answering: forget every socket it hosted.
    NodeDown { node: NodeId },
    /// A node answers again.
    NodeUp { node: NodeId },

    /// Record an uploaded file (chat upload or profile image) once its bytes are
    /// stored on `file.holders`; the uploader must exist, id and name must be new, and
    /// with a `quota` (the proposer's `--upload-quota-mb`, in bytes) the uploader's
    /// recorded files and this one may not exceed it. Absent in entries written before
    /// quotas existed: no limit.
    RecordFile {
        file: FileRecord,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quota: Option<u64>,
    },
    /// A message referencing the file was posted in the room: its participants may
    /// now download it.
    AttachFile { file_id: String, room_id: String },
    /// Forget a file record (uploader only); the proposer then deletes the bytes.
    DeleteFile { file_id: String, user_id: String },
    /// Forget a chat upload that no message references and that was uploaded before
    /// `uploaded_before` (the proposer's clock minus `--upload-grace-ms`); the proposer
    /// then deletes the bytes. Decided in the apply: a file attached before this
    /// commits is kept (`Unchanged`), an attach after it finds no file. Profile images
    /// are never expired.
    ExpireFile { file_id: String, uploaded_before: Millis },

    /// A message-plane command (embedded message store only): applied by the
    /// state machine's [`crate::messages::MessageApplier`], not by `ClusterState`.
    Message(MessageCommand),
}

/// Who asked for an admin action and when, stamped by the proposer: the audit log
/// records it, and sanction end times are computed from `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The acting admin's user id, or `operator` / `config`.
    pub actor: String,
    pub at: Millis,
}

/// One entry of a [`Command::TouchSessions`] batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionTouch {
    pub user_id: String,
    pub session_id: String,
    pub at: Millis,
}

/// What applying one request produced. Outcomes are kept small (no copies of whole
/// rooms or users): they are remembered for deduplication, and callers read the
/// current state from their local replica after the write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    UserRegistered {
        user_id: String,
    },
    EmailTaken,
    UserUpdated,
    UserDeleted {
        user_id: String,
        sockets: Vec<SocketRef>,
    },
    UnknownUser,
    /// The user is banned: no new session.
    UserBanned,
    /// The role change would leave the cluster without an admin.
    LastAdmin,
    /// Admins cannot be banned or muted (demote them first).
    AdminTarget,
    /// The user's session ended and these sockets were dropped (ban, admin logout).
    Sanctioned {
        sockets: Vec<SocketRef>,
    },

    /// The session is open; `replaced` is the session it displaced, if any.
    SessionOpened {
        replaced: Option<Session>,
    },
    SessionClosed {
        session: Session,
    },
    /// The session is not (or no longer) the user's current one.
    UnknownSession,
    SessionsTouched {
        count: usize,
    },

    RoomCreated,
    RoomExists,
    /// `added` is false when the user already was a participant.
    RoomJoined {
        added: bool,
    },
    /// `removed` is false when the user was not a participant.
    RoomLeft {
        removed: bool,
    },
    UnknownRoom,
    WrongRoomPassword,
    /// The room is closed; `members` were its participants, told on every node.
    RoomDeleted {
        members: Vec<String>,
    },
    /// `first` is false when this message's deletion was recorded before (a retry or a
    /// second deletion): nothing was audited or announced again.
    MessageDeleted {
        first: bool,
    },

    SocketConnected,
    SocketDisconnected {
        rooms: Vec<String>,
    },
    /// The socket's session is not the user's current one, or its node is down.
    SocketRefused,

    NodeMarkedDown {
        node: NodeId,
        sockets: Vec<SocketRef>,
    },
    NodeMarkedUp {
        node: NodeId,
    },
    /// The command changed nothing (e.g. `NodeDown` for a node already down).
    Unchanged,

    FileRecorded,
    /// A file with this id or stored name exists already.
    FileExists,
    /// `added` is false when the room was attached already.
    FileAttached {
        added: bool,
    },
    /// The record is gone; the bytes are still on `holders`.
    FileDeleted {
        filename: String,
        holders: Vec<NodeId>,
    },
    UnknownFile,
    /// The file would take its uploader over the upload quota; `used` is what their
    /// recorded files take already. Nothing was recorded.
    UploadQuotaExceeded {
        used: u64,
    },
    /// Someone other than the uploader asked to delete the file.
    NotFileOwner,

    /// A message was stored with this room sequence number and timestamp.
    MessageAppended {
        seq: u64,
        timestamp: Millis,
    },
    /// These message ids gained the reader (others had it already or are unknown).
    ReadsMarked {
        changed: Vec<String>,
    },
    /// How many of the marks raised a watermark (the others were at or below it).
    ReadMarksRaised {
        raised: usize,
    },
    /// The message's reactions after the change.
    Reacted {
        room: String,
        reactions: std::collections::BTreeMap<String, Vec<String>>,
    },
    /// The message is a tombstone since `deleted_at` (now or by an earlier deletion).
    Tombstoned {
        room: String,
        seq: u64,
        deleted_at: Millis,
    },
    UnknownMessage,
    /// A message command reached a node without a message store (misconfiguration).
    NoMessageStore,
}
