//! The on-disk layout of the embedded message store: one sled tree whose keys are
//! prefixed by kind, so that one `sled::Batch` makes a command's effects and the
//! applied position atomic.
//!
//! - `m<id>` -> record: the appending position (12 bytes), the last changing position
//!   (12 bytes), then the message as JSON;
//! - `r<room len u32><room><seq u64>` -> id: the room's messages by sequence number;
//! - `t<room len u32><room><timestamp u64>` -> id: the room's messages by timestamp;
//! - `w<room len u32><room><user>` -> the user's read watermark in the room: `seq`
//!   then the time it was raised (two `u64`);
//! - `a` -> the applied position (12 bytes).
//!
//! Integers are big-endian so sled's byte order is numeric order. The room is
//! length-prefixed so that no room's key range is a prefix of another's, whatever
//! bytes room ids contain.

use chat_raft::messages::StoredMessage;

use crate::Error;

pub(super) const APPLIED_KEY: &[u8] = b"a";
const MESSAGE: u8 = b'm';
pub(super) const BY_SEQ: u8 = b'r';
pub(super) const BY_TIME: u8 = b't';
pub(super) const READ_MARK: u8 = b'w';
const POS_LEN: usize = 12;

/// Where a command sits in the log: the entry's index and its rank among the message
/// commands of that entry (from 1). One entry carries a batch of requests, so the index
/// alone cannot tell the second append of a batch from a replay of the first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct LogPos {
    pub index: u64,
    pub nth: u32,
}

impl LogPos {
    /// After every command of entry `index`.
    pub fn end_of(index: u64) -> Self {
        Self { index, nth: u32::MAX }
    }

    pub fn to_bytes(self) -> [u8; POS_LEN] {
        let mut bytes = [0u8; POS_LEN];
        bytes[..8].copy_from_slice(&self.index.to_be_bytes());
        bytes[8..].copy_from_slice(&self.nth.to_be_bytes());
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let index = bytes.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
        let nth = bytes.get(8..POS_LEN).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
        match (index, nth) {
            (Some(index), Some(nth)) => Ok(Self { index, nth }),
            _ => Err(Error::Corrupt("log position shorter than 12 bytes".into())),
        }
    }
}

/// A stored message with the positions that make replays exact: a replayed command
/// whose position is at or below `changed` is already reflected in `message`.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub appended: LogPos,
    pub changed: LogPos,
    pub message: StoredMessage,
}

impl Record {
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(&self.appended.to_bytes());
        bytes.extend_from_slice(&self.changed.to_bytes());
        serde_json::to_writer(&mut bytes, &self.message).map_err(|source| Error::Encode { what: "message", source })?;
        Ok(bytes)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        Ok(Self {
            appended: Self::appended_of(bytes)?,
            changed: LogPos::from_bytes(bytes.get(POS_LEN..).unwrap_or_default())?,
            message: Self::message_of(bytes)?,
        })
    }

    /// The appending position alone, without decoding the JSON (snapshot export).
    pub fn appended_of(bytes: &[u8]) -> Result<LogPos, Error> {
        LogPos::from_bytes(bytes)
    }

    /// The message alone (reads have no use for the positions).
    pub fn message_of(bytes: &[u8]) -> Result<StoredMessage, Error> {
        let json = bytes.get(2 * POS_LEN..).ok_or_else(|| Error::Corrupt("message record too short".into()))?;
        serde_json::from_slice(json).map_err(|source| Error::Decode { what: "message", source })
    }
}

pub(super) fn message_key(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(MESSAGE);
    key.extend_from_slice(id.as_bytes());
    key
}

pub(super) fn message_prefix() -> [u8; 1] {
    [MESSAGE]
}

/// The prefix shared by every `BY_SEQ` or `BY_TIME` key of `room`.
pub(super) fn room_prefix(kind: u8, room: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 4 + room.len() + 8);
    key.push(kind);
    // Room ids longer than u32::MAX bytes cannot exist: a sled key that long would not fit.
    key.extend_from_slice(&(room.len() as u32).to_be_bytes());
    key.extend_from_slice(room.as_bytes());
    key
}

pub(super) fn room_key(kind: u8, room: &str, n: u64) -> Vec<u8> {
    let mut key = room_prefix(kind, room);
    key.extend_from_slice(&n.to_be_bytes());
    key
}

/// The number (seq or timestamp) at the end of a room index key.
pub(super) fn room_key_number(key: &[u8]) -> Result<u64, Error> {
    key.len()
        .checked_sub(8)
        .and_then(|start| key[start..].try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| Error::Corrupt("room index key shorter than 8 bytes".into()))
}

/// The key of `user`'s read watermark in `room` (under `room_prefix(READ_MARK, room)`).
pub(super) fn read_mark_key(room: &str, user: &str) -> Vec<u8> {
    let mut key = room_prefix(READ_MARK, room);
    key.extend_from_slice(user.as_bytes());
    key
}

/// A watermark's value: the seq read up to, then when it was raised.
pub(super) fn encode_read_mark(seq: u64, at: u64) -> [u8; 16] {
    let mut value = [0u8; 16];
    value[..8].copy_from_slice(&seq.to_be_bytes());
    value[8..].copy_from_slice(&at.to_be_bytes());
    value
}

pub(super) fn decode_read_mark(value: &[u8]) -> Result<(u64, u64), Error> {
    let seq = value.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
    let at = value.get(8..16).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
    seq.zip(at).ok_or_else(|| Error::Corrupt("read watermark shorter than 16 bytes".into()))
}

/// The user id at the end of a read-watermark key of `room`.
pub(super) fn read_mark_user(room: &str, key: &[u8]) -> Result<String, Error> {
    let user = key.get(1 + 4 + room.len()..).ok_or_else(|| Error::Corrupt("read watermark key too short".into()))?;
    String::from_utf8(user.to_vec()).map_err(|_| Error::Corrupt("read watermark user is not UTF-8".into()))
}
