//! The message plane's types as they travel through the Raft log in the embedded
//! store: chat messages, read watermarks and reactions.
//!
//! These commands are not applied to [`crate::ClusterState`] (message bodies are
//! high-volume and live on disk, architecture §3.2). The state machine hands them, in
//! log order, to a [`MessageApplier`] (the sled-backed store in chat-storage), which
//! assigns each room's `seq` and strictly increasing timestamps deterministically.

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};

use crate::command::{Millis, Outcome};

/// Most distinct reactions (emoji) one message keeps. Every reaction update carries the
/// message's whole reaction map, to the room and into the write's outcome, so the map
/// must stay small; the users per emoji are bounded by the room's participants.
pub const MAX_REACTIONS_PER_MESSAGE: usize = 50;

/// Whether adding `emoji` to a message with these `reactions` would pass
/// [`MAX_REACTIONS_PER_MESSAGE`]: the node checks before proposing, the replicated apply
/// again (two nodes may race). An emoji the message already has never does.
pub fn reaction_cap_reached(reactions: &BTreeMap<String, Vec<String>>, emoji: &str) -> bool {
    !reactions.contains_key(emoji) && reactions.len() >= MAX_REACTIONS_PER_MESSAGE
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    File,
    System,
    Ai,
}

/// The file a file message refers to (protocol §5.3, §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub id: String,
    pub filename: String,
    pub originalname: String,
    pub mimetype: String,
    pub size: u64,
    /// Uploader's user id.
    pub user: String,
    pub upload_date: Millis,
}

/// A message as proposed: everything but `seq` and the final timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMessage {
    /// 24 lowercase hex characters, chosen by the proposer.
    pub id: String,
    pub room: String,
    /// `None` for system and AI messages.
    pub sender: Option<String>,
    pub kind: MessageKind,
    pub content: String,
    pub file: Option<FileRef>,
    pub ai_type: Option<String>,
    #[serde(default)]
    pub mentions: Vec<String>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The proposer's clock; the stored timestamp is `max(at, previous in room + 1)`.
    pub at: Millis,
}

/// A member's read watermark in a room: every message of `room` up to `seq` is read
/// by `user_id`, who last raised the mark at `at`. Marks merge by maximum `seq` (a
/// lower or equal mark changes nothing), so they commute, and replaying one is
/// harmless. A message's readers are derived from the room's marks (see
/// [`readers_of`]) instead of being stored with each message: one small record per
/// member and room, however many messages are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMark {
    pub room: String,
    pub user_id: String,
    pub seq: u64,
    pub at: Millis,
}

/// What a member said they read, as `messagesRead {userId, messageIds}` announces it
/// to the room (protocol §6.5.5). Carried in [`MessageCommand::RaiseReadMarks`] next
/// to the marks, so every node that applies the command announces it to its own
/// sockets: no node has to send it to the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadNotice {
    pub room: String,
    pub user_id: String,
    pub message_ids: Vec<String>,
}

/// The readers of message `seq` as derived from its room's marks: every member whose
/// mark reaches it, with the mark's time, after the readers stored with the message
/// itself (records written before watermarks existed), each user once.
pub fn readers_of(seq: u64, stored: &[Reader], marks: &[ReadMark]) -> Vec<Reader> {
    let mut readers = stored.to_vec();
    for mark in marks.iter().filter(|m| m.seq >= seq) {
        if !readers.iter().any(|r| r.user_id == mark.user_id) {
            readers.push(Reader { user_id: mark.user_id.clone(), read_at: mark.at });
        }
    }
    readers
}

/// Fill each message's `readers` from its room's marks (all messages of one room).
pub fn derive_readers(messages: &mut [StoredMessage], marks: &[ReadMark]) {
    for message in messages {
        message.readers = readers_of(message.seq, &message.readers, marks);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reader {
    pub user_id: String,
    pub read_at: Millis,
}

impl NewMessage {
    /// The message as a store keeps it once it was given its room `seq` and final
    /// timestamp (no reactions or readers yet).
    pub fn stored_as(&self, seq: u64, timestamp: Millis) -> StoredMessage {
        StoredMessage {
            id: self.id.clone(),
            room: self.room.clone(),
            seq,
            sender: self.sender.clone(),
            kind: self.kind,
            content: self.content.clone(),
            file: self.file.clone(),
            ai_type: self.ai_type.clone(),
            mentions: self.mentions.clone(),
            metadata: self.metadata.clone(),
            timestamp,
            reactions: BTreeMap::new(),
            readers: Vec::new(),
            deleted_at: None,
        }
    }
}

/// A message as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub id: String,
    pub room: String,
    /// Per-room sequence number: 1, 2, 3, ... without gaps in the embedded store.
    pub seq: u64,
    pub sender: Option<String>,
    pub kind: MessageKind,
    pub content: String,
    pub file: Option<FileRef>,
    pub ai_type: Option<String>,
    pub mentions: Vec<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Epoch ms, strictly increasing within the room.
    pub timestamp: Millis,
    /// emoji -> user ids, in the order they reacted.
    pub reactions: BTreeMap<String, Vec<String>>,
    pub readers: Vec<Reader>,
    /// When an admin deleted the message (protocol §8.6): it is then a tombstone. Absent
    /// in records written before deletion existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Millis>,
}

/// The content of a deleted message (protocol §8.6).
pub const DELETED_CONTENT: &str = "삭제된 메시지입니다.";

impl StoredMessage {
    /// Turn the message into its tombstone, deleted at `at`: the content is replaced, the
    /// file reference, mentions, metadata and reactions dropped; id, room, `seq`, sender,
    /// kind and timestamp stay, so history keeps its order and gaps stay explained.
    /// Returns false (and changes nothing) when it was deleted already: the first
    /// deletion's time stands.
    pub fn tombstone(&mut self, at: Millis) -> bool {
        if self.deleted_at.is_some() {
            return false;
        }
        self.content = DELETED_CONTENT.to_owned();
        self.file = None;
        self.mentions.clear();
        self.metadata.clear();
        self.reactions.clear();
        self.deleted_at = Some(at);
        true
    }
}

/// Message-plane commands carried by the Raft log (embedded store only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MessageCommand {
    /// Store a message -> `Outcome::MessageAppended`.
    Append { message: Box<NewMessage> },
    /// Written by versions before read watermarks; applied as the watermarks of the
    /// listed messages -> `Outcome::ReadsMarked` with the ids whose mark rose.
    MarkRead { user_id: String, message_ids: Vec<String>, at: Millis },
    /// Raise each member's read watermark (a node's marks of a few milliseconds,
    /// coalesced into one command) -> `Outcome::ReadMarksRaised`. `notices` are the
    /// `messagesRead` announcements behind the marks (none for marks from history
    /// loads, and none in entries written before they were carried).
    RaiseReadMarks {
        marks: Vec<ReadMark>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notices: Vec<ReadNotice>,
    },
    /// Add or remove one user's reaction -> `Outcome::Reacted`, or `UnknownMessage`.
    React { message_id: String, emoji: String, user_id: String, add: bool },
    /// Replace a message by its tombstone (admin deletion, protocol §8.6) ->
    /// `Outcome::Tombstoned`, or `UnknownMessage`. Deleting a tombstone changes nothing.
    Delete { message_id: String, at: Millis },
}

/// The store that applies [`MessageCommand`]s, called by the state machine in log
/// order, on every node.
///
/// Rules for implementations:
/// - Deterministic: the same commands give the same results on every replica (the
///   room `seq` and timestamp come from what is stored, never from a clock).
/// - Persist the highest applied position atomically with each command's effects. A
///   command at or below it (openraft replays the log after a restart, or after a
///   snapshot whose export was taken while applies went on) changes nothing and
///   returns an outcome derived from what is stored: exact for `Append`, the current
///   reactions for `React`; read marks merge by maximum, so replaying them is
///   harmless. One log entry can carry several message commands, so the position
///   is the entry's index plus the command's place in it.
/// - `export` may run while `apply` continues: it records the applied index first and
///   then writes the data, which may therefore include effects of later entries; the
///   replay of those entries must then be harmless (see the previous rule).
pub trait MessageApplier: Send + Sync + 'static {
    fn apply(&self, index: u64, command: &MessageCommand) -> Outcome;

    /// The commands applied from here to [`MessageApplier::end_group`] may store their
    /// effects together when the group ends: one write to the disk instead of one per
    /// command. Readers other than `apply` see a group's effects only once it ended.
    /// By default each command's effects are stored at once.
    fn begin_group(&self) {}

    /// Store the effects of the commands applied since [`MessageApplier::begin_group`].
    fn end_group(&self) -> io::Result<()> {
        Ok(())
    }

    /// The highest log index whose effects are stored (0 when empty).
    fn applied_index(&self) -> u64;

    /// Make every applied effect durable (called before a snapshot is acknowledged,
    /// since openraft may purge the log it covers right after).
    fn flush(&self) -> io::Result<()>;

    /// Write everything the store holds, applied index included, for a snapshot.
    fn export(&self, out: &mut dyn io::Write) -> io::Result<()>;

    /// Replace everything the store holds with an `export`.
    fn import(&self, input: &mut dyn io::Read) -> io::Result<()>;

    /// Write an `export` as of log index `index`: messages appended by later entries
    /// are left out (a backup pairs it with the control state at `index`). Returns
    /// the number of messages written.
    fn export_upto(&self, index: u64, out: &mut dyn io::Write) -> io::Result<u64>;

    /// The number of messages `export_upto(index)` writes.
    fn count_upto(&self, index: u64) -> io::Result<u64>;
}
