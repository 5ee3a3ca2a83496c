//! How [`MongoMessageStore`](super::MongoMessageStore) lays a message out in MongoDB:
//! the `messages` document, its conversion from and to [`StoredMessage`], and the
//! escaping of reaction keys.
//!
//! The layout follows the existing backend's `messages` collection (camelCase names,
//! `type`, `aiType`, epoch-ms `timestamp`) where it can. Two choices are ours:
//! - ids are stored as the 24-hex strings the proposer chose, never as ObjectIds, so
//!   every query is a plain string match (the test server nx-27017 cannot match a
//!   non-`_id` ObjectId field);
//! - read receipts are two parallel arrays of scalars, `readerIds` and `readAts`,
//!   pushed together by one update, instead of an array of `{userId, readAt}`
//!   documents: a scalar array can be guarded with `$nin` in the same update, and
//!   nx-27017 stores a document pushed into an array as a JSON string.

use std::collections::BTreeMap;

use chat_raft::command::Millis;
use chat_raft::messages::{FileRef, MessageKind, NewMessage, Reader, StoredMessage};
use serde::{Deserialize, Serialize};

/// One message in the `messages` collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MessageDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub room: String,
    pub seq: i64,
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(rename = "type")]
    pub kind: MessageKind,
    pub content: String,
    /// Absent (not null) without a file, so the sparse `file.filename` index skips it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_type: Option<String>,
    #[serde(default)]
    pub mentions: Vec<String>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Escaped emoji (see [`reaction_key`]) -> user ids in the order they reacted. An
    /// emoji may map to an empty list for a moment (see `MongoMessageStore::react`).
    #[serde(default)]
    pub reactions: BTreeMap<String, Vec<String>>,
    /// `readerIds[i]` read the message at `readAts[i]`; both always exist.
    #[serde(default)]
    pub reader_ids: Vec<String>,
    #[serde(default)]
    pub read_ats: Vec<i64>,
    /// Set when an admin deleted the message (it is then a tombstone, protocol §8.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<i64>,
}

/// The file a file message refers to, embedded in the message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FileDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub filename: String,
    pub originalname: String,
    pub mimetype: String,
    pub size: i64,
    pub user: String,
    pub upload_date: i64,
}

impl MessageDoc {
    /// The document of a new message with the `seq` and timestamp the store assigned.
    pub fn new(message: NewMessage, seq: u64, timestamp: Millis) -> Self {
        Self {
            id: message.id,
            room: message.room,
            seq: to_i64(seq),
            timestamp: to_i64(timestamp),
            sender: message.sender,
            kind: message.kind,
            content: message.content,
            file: message.file.map(FileDoc::from),
            ai_type: message.ai_type,
            mentions: message.mentions,
            metadata: message.metadata,
            reactions: BTreeMap::new(),
            reader_ids: Vec::new(),
            read_ats: Vec::new(),
            deleted_at: None,
        }
    }

    pub fn into_message(self) -> StoredMessage {
        let readers = self
            .reader_ids
            .into_iter()
            .zip(self.read_ats.into_iter().map(to_u64))
            .map(|(user_id, read_at)| Reader { user_id, read_at })
            .collect();
        StoredMessage {
            id: self.id,
            room: self.room,
            seq: to_u64(self.seq),
            sender: self.sender,
            kind: self.kind,
            content: self.content,
            file: self.file.map(FileRef::from),
            ai_type: self.ai_type,
            mentions: self.mentions,
            metadata: self.metadata,
            timestamp: to_u64(self.timestamp),
            reactions: reactions_from_doc(self.reactions),
            readers,
            deleted_at: self.deleted_at.map(to_u64),
        }
    }
}

impl From<FileRef> for FileDoc {
    fn from(file: FileRef) -> Self {
        Self {
            id: file.id,
            filename: file.filename,
            originalname: file.originalname,
            mimetype: file.mimetype,
            size: to_i64(file.size),
            user: file.user,
            upload_date: to_i64(file.upload_date),
        }
    }
}

impl From<FileDoc> for FileRef {
    fn from(file: FileDoc) -> Self {
        Self {
            id: file.id,
            filename: file.filename,
            originalname: file.originalname,
            mimetype: file.mimetype,
            size: to_u64(file.size),
            user: file.user,
            upload_date: to_u64(file.upload_date),
        }
    }
}

/// The stored reactions as the trait answers them: keys unescaped, and an emoji left
/// without users dropped (a removal clears the empty list in a second update).
pub(super) fn reactions_from_doc(stored: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    stored.into_iter().filter(|(_, users)| !users.is_empty()).map(|(key, users)| (unescape_key(&key), users)).collect()
}

/// The field path of one emoji's user list: `reactions.<escaped emoji>`.
pub(super) fn reaction_path(emoji: &str) -> String {
    format!("reactions.{}", reaction_key(emoji))
}

/// An emoji as a field name. Emoji come from clients, and a field name with `.` would
/// address a nested field, one starting with `$` an operator, and NUL cannot be in a
/// BSON key; so `%`, `.`, `$` and NUL are percent-encoded, and the empty string (not a
/// usable field name either) becomes a lone `%`, which no escaped key can be.
pub(super) fn reaction_key(emoji: &str) -> String {
    if emoji.is_empty() {
        return "%".into();
    }
    let mut key = String::with_capacity(emoji.len());
    for c in emoji.chars() {
        match c {
            '%' => key.push_str("%25"),
            '.' => key.push_str("%2E"),
            '$' => key.push_str("%24"),
            '\0' => key.push_str("%00"),
            c => key.push(c),
        }
    }
    key
}

fn unescape_key(key: &str) -> String {
    if key == "%" {
        return String::new();
    }
    let mut emoji = String::with_capacity(key.len());
    let mut rest = key;
    while let Some(at) = rest.find('%') {
        emoji.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3);
        let c = match code {
            Some("25") => '%',
            Some("2E") => '.',
            Some("24") => '$',
            Some("00") => '\0',
            // Not written by `reaction_key`: keep it as it is.
            _ => {
                emoji.push('%');
                rest = &rest[at + 1..];
                continue;
            }
        };
        emoji.push(c);
        rest = &rest[at + 3..];
    }
    emoji.push_str(rest);
    emoji
}

/// BSON has no unsigned integers; epoch milliseconds and seqs fit an i64 for ages.
pub(super) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaction_keys_round_trip_and_cannot_address_other_fields() {
        for emoji in ["👍", "❤️", "", "%", "%25", "a.b", "$set", "a\0b", "%2E.$", "%x%"] {
            let key = reaction_key(emoji);
            assert!(!key.contains(['.', '$', '\0']) && !key.is_empty(), "{emoji:?} -> {key:?}");
            assert_eq!(unescape_key(&key), emoji, "{emoji:?} -> {key:?}");
        }
        assert_ne!(reaction_key(""), reaction_key("%"));
        assert_eq!(reaction_path("a.b"), "reactions.a%2Eb");
    }

    #[test]
    fn empty_reaction_lists_are_dropped() {
        let stored = BTreeMap::from([("a%2Eb".to_owned(), vec!["u1".to_owned()]), ("x".to_owned(), vec![])]);
        assert_eq!(reactions_from_doc(stored), BTreeMap::from([("a.b".to_owned(), vec!["u1".to_owned()])]));
    }
}
