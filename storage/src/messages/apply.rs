//! How each [`MessageCommand`] changes the embedded store, deterministically: the room's
//! next `seq` and timestamp come from the room's indexes (never from a clock or a
//! counter kept elsewhere), so every replica that applies the same log holds the same
//! messages.
//!
//! Replays are exact. A command at or below the applied position changes nothing and
//! answers from what is stored. A command above it may still find its effect on a
//! message imported from a snapshot taken while applies went on; the message's
//! `changed` position says so, and the command is not applied to it a second time
//! (re-adding a reaction after a later remove would reorder the emoji's users).

use std::collections::{BTreeMap, HashMap, HashSet};

use chat_raft::command::{Millis, Outcome};
use chat_raft::messages::{reaction_cap_reached, MessageCommand, NewMessage, ReadMark, StoredMessage};

use super::layout::{self, LogPos, Record, APPLIED_KEY, BY_SEQ, BY_TIME};
use super::sled_messages::{Progress, RoomTail, SledMessages};
use crate::Error;

/// Apply a command at `pos` (above the applied position) as one atomic batch.
/// `progress` is the store's, held by the caller for the whole apply.
pub(super) fn execute(
    store: &SledMessages,
    progress: &mut Progress,
    pos: LogPos,
    command: &MessageCommand,
) -> Result<Outcome, Error> {
    let mut batch = sled::Batch::default();
    // The room's new tail, remembered only once the batch that stores it is applied.
    let mut appended_to = None;
    let outcome = match command {
        MessageCommand::Append { message } => {
            let (outcome, tail) = append(store, progress, pos, message, &mut batch)?;
            appended_to = tail.map(|tail| (message.room.as_str(), tail));
            outcome
        }
        MessageCommand::MarkRead { user_id, message_ids, at } => {
            mark_read(store, user_id, message_ids, *at, &mut batch)?
        }
        MessageCommand::RaiseReadMarks { marks, .. } => {
            let mut raising = Raising::new(store, &mut batch);
            let raised = marks.iter().map(|m| raising.raise(m)).collect::<Result<Vec<_>, _>>()?;
            Outcome::ReadMarksRaised { raised: raised.into_iter().filter(|r| *r).count() }
        }
        MessageCommand::React { message_id, emoji, user_id, add } => {
            react(store, pos, message_id, emoji, user_id, *add, &mut batch)?
        }
        MessageCommand::Delete { message_id, at } => delete(store, pos, message_id, *at, &mut batch)?,
    };
    // Even a command that changed nothing advances the position, so that the next
    // command of the same entry is not mistaken for a replay of it.
    batch.insert(APPLIED_KEY, &pos.to_bytes());
    store.tree().apply_batch(batch)?;
    if let Some((room, tail)) = appended_to {
        progress.tails.set(room, tail);
    }
    Ok(outcome)
}

/// The outcome of a command at or below the applied position, derived from what is
/// stored; nothing is written.
pub(super) fn replayed(store: &SledMessages, command: &MessageCommand) -> Result<Outcome, Error> {
    Ok(match command {
        MessageCommand::Append { message } => match store.record(&message.id)? {
            Some(record) => appended(&record.message),
            None => Outcome::UnknownMessage,
        },
        // Marks merge by maximum: what a replay would raise is already stored.
        MessageCommand::MarkRead { .. } => Outcome::ReadsMarked { changed: Vec::new() },
        MessageCommand::RaiseReadMarks { .. } => Outcome::ReadMarksRaised { raised: 0 },
        MessageCommand::React { message_id, .. } => match store.record(message_id)? {
            Some(record) => reacted(record.message),
            None => Outcome::UnknownMessage,
        },
        MessageCommand::Delete { message_id, .. } => match store.record(message_id)? {
            Some(record) => tombstoned(&record.message),
            None => Outcome::UnknownMessage,
        },
    })
}

/// The outcome, and the room's tail with this message when it is new.
fn append(
    store: &SledMessages,
    progress: &Progress,
    pos: LogPos,
    message: &NewMessage,
    batch: &mut sled::Batch,
) -> Result<(Outcome, Option<RoomTail>), Error> {
    if let Some(existing) = store.record(&message.id)? {
        // The same message proposed twice (a retry under a new request id).
        return Ok((appended(&existing.message), None));
    }
    let tail = progress.tails.get(store, &message.room)?;
    let seq = tail.seq.map_or(1, |last| last.saturating_add(1));
    let timestamp = match tail.timestamp {
        Some(last) => message.at.max(last.saturating_add(1)),
        None => message.at,
    };
    let record = Record { appended: pos, changed: pos, message: message.stored_as(seq, timestamp) };
    let value = record.encode()?;
    index(batch, &record.message, value);
    Ok((Outcome::MessageAppended { seq, timestamp }, Some(RoomTail { seq: Some(seq), timestamp: Some(timestamp) })))
}

/// A command of an earlier version: each listed message raises the reader's mark in its
/// room to the message's seq.
fn mark_read(
    store: &SledMessages,
    user_id: &str,
    message_ids: &[String],
    at: Millis,
    batch: &mut sled::Batch,
) -> Result<Outcome, Error> {
    let mut raising = Raising::new(store, batch);
    let mut changed = Vec::new();
    for id in unique(message_ids) {
        let Some(record) = store.record(id)? else { continue };
        let mark = ReadMark { room: record.message.room, user_id: user_id.to_owned(), seq: record.message.seq, at };
        if raising.raise(&mark)? {
            changed.push(id.clone());
        }
    }
    Ok(Outcome::ReadsMarked { changed })
}

/// Raises read watermarks into one batch; remembers what it wrote, so two marks of one
/// member and room in the same command merge like any others.
struct Raising<'a> {
    store: &'a SledMessages,
    batch: &'a mut sled::Batch,
    written: HashMap<Vec<u8>, u64>,
}

impl<'a> Raising<'a> {
    fn new(store: &'a SledMessages, batch: &'a mut sled::Batch) -> Self {
        Self { store, batch, written: HashMap::new() }
    }

    /// Whether the mark rose (a mark at or below the stored one changes nothing).
    fn raise(&mut self, mark: &ReadMark) -> Result<bool, Error> {
        let key = layout::read_mark_key(&mark.room, &mark.user_id);
        let current = match self.written.get(&key) {
            Some(seq) => Some(*seq),
            None => self.store.tree().get(&key)?.map(|v| layout::decode_read_mark(&v)).transpose()?.map(|(seq, _)| seq),
        };
        if current.is_some_and(|seq| seq >= mark.seq) {
            return Ok(false);
        }
        self.batch.insert(key.clone(), &layout::encode_read_mark(mark.seq, mark.at));
        self.written.insert(key, mark.seq);
        Ok(true)
    }
}

fn react(
    store: &SledMessages,
    pos: LogPos,
    message_id: &str,
    emoji: &str,
    user_id: &str,
    add: bool,
    batch: &mut sled::Batch,
) -> Result<Outcome, Error> {
    let Some(mut record) = store.record(message_id)? else { return Ok(Outcome::UnknownMessage) };
    if record.changed < pos && change_reaction(&mut record.message.reactions, emoji, user_id, add) {
        record.changed = pos;
        batch.insert(layout::message_key(message_id), record.encode()?);
    }
    Ok(reacted(record.message))
}

/// Replace the message by its tombstone; a tombstone stays as it is (its first
/// deletion time stands), so a replay or a second deletion changes nothing.
fn delete(
    store: &SledMessages,
    pos: LogPos,
    message_id: &str,
    at: Millis,
    batch: &mut sled::Batch,
) -> Result<Outcome, Error> {
    let Some(mut record) = store.record(message_id)? else { return Ok(Outcome::UnknownMessage) };
    if record.changed < pos && record.message.tombstone(at) {
        record.changed = pos;
        batch.insert(layout::message_key(message_id), record.encode()?);
    }
    Ok(tombstoned(&record.message))
}

/// Set semantics per emoji; returns whether anything changed. A new emoji on a message
/// that has [`chat_raft::messages::MAX_REACTIONS_PER_MESSAGE`] already changes nothing (the node refuses it
/// before proposing; this keeps the cap when two nodes race).
fn change_reaction(reactions: &mut BTreeMap<String, Vec<String>>, emoji: &str, user_id: &str, add: bool) -> bool {
    if add && reaction_cap_reached(reactions, emoji) {
        return false;
    }
    if add {
        let users = reactions.entry(emoji.to_owned()).or_default();
        let absent = !users.iter().any(|u| u == user_id);
        if absent {
            users.push(user_id.to_owned());
        }
        return absent;
    }
    let Some(users) = reactions.get_mut(emoji) else { return false };
    let before = users.len();
    users.retain(|u| u != user_id);
    let changed = users.len() != before;
    if users.is_empty() {
        reactions.remove(emoji);
    }
    changed
}

/// Put a message's record and its two room index entries into `batch`.
pub(super) fn index(batch: &mut sled::Batch, message: &StoredMessage, value: Vec<u8>) {
    batch.insert(layout::message_key(&message.id), value);
    batch.insert(layout::room_key(BY_SEQ, &message.room, message.seq), message.id.as_bytes());
    batch.insert(layout::room_key(BY_TIME, &message.room, message.timestamp), message.id.as_bytes());
}

fn appended(message: &StoredMessage) -> Outcome {
    Outcome::MessageAppended { seq: message.seq, timestamp: message.timestamp }
}

/// A message that is not a tombstone answers as unknown: only a replay of a deletion
/// whose effect is not stored can meet one (the same as a replayed `Append`).
fn tombstoned(message: &StoredMessage) -> Outcome {
    match message.deleted_at {
        Some(deleted_at) => Outcome::Tombstoned { room: message.room.clone(), seq: message.seq, deleted_at },
        None => Outcome::UnknownMessage,
    }
}

fn reacted(message: StoredMessage) -> Outcome {
    Outcome::Reacted { room: message.room, reactions: message.reactions }
}

/// The ids in the order given, each once (a repeated id cannot change twice).
fn unique(ids: &[String]) -> impl Iterator<Item = &String> {
    let mut seen = HashSet::new();
    ids.iter().filter(move |id| seen.insert(id.as_str()))
}

#[cfg(test)]
mod tests {
    use chat_raft::messages::MAX_REACTIONS_PER_MESSAGE;

    use super::*;

    #[test]
    fn distinct_reactions_are_capped_per_message() {
        let mut reactions = BTreeMap::new();
        for i in 0..MAX_REACTIONS_PER_MESSAGE {
            assert!(change_reaction(&mut reactions, &format!("e{i}"), "u1", true));
        }
        assert!(!change_reaction(&mut reactions, "one more", "u1", true), "a new emoji over the cap");
        assert_eq!(reactions.len(), MAX_REACTIONS_PER_MESSAGE);
        assert!(change_reaction(&mut reactions, "e0", "u2", true), "an existing emoji takes more users");
        assert!(change_reaction(&mut reactions, "e1", "u1", false));
        assert!(change_reaction(&mut reactions, "one more", "u1", true), "room again after a removal");
    }
}
