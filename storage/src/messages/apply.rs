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

use std::collections::{BTreeMap, HashSet};

use chat_raft::command::{Millis, Outcome};
use chat_raft::messages::{reaction_cap_reached, MessageCommand, NewMessage, ReadMark, StoredMessage};

use super::layout::{self, LogPos, Record, APPLIED_KEY, BY_SEQ, BY_TIME};
use super::sled_messages::{Progress, RoomTail, SledMessages};
use super::writes::Writes;
use crate::Error;

/// Apply a command at `pos` (above the applied position), adding its effects to
/// `writes`, which the caller hands to sled as one atomic batch; what earlier commands
/// put in `writes` reads as stored. `progress` is the store's, held by the caller for
/// the whole apply.
pub(super) fn execute(
    store: &SledMessages,
    progress: &mut Progress,
    pos: LogPos,
    command: &MessageCommand,
    writes: &mut Writes,
) -> Result<Outcome, Error> {
    let outcome = match command {
        MessageCommand::Append { message } => {
            let (outcome, tail) = append(store, progress, pos, message, writes)?;
            // Remembered before the batch is stored: a batch that fails stops the node.
            if let Some(tail) = tail {
                progress.tails.set(&message.room, tail);
            }
            outcome
        }
        MessageCommand::MarkRead { user_id, message_ids, at } => mark_read(store, user_id, message_ids, *at, writes)?,
        MessageCommand::RaiseReadMarks { marks, .. } => {
            let mut raising = Raising { store, writes };
            let raised = marks.iter().map(|m| raising.raise(m)).collect::<Result<Vec<_>, _>>()?;
            Outcome::ReadMarksRaised { raised: raised.into_iter().filter(|r| *r).count() }
        }
        MessageCommand::React { message_id, emoji, user_id, add } => {
            react(store, pos, message_id, emoji, user_id, *add, writes)?
        }
        MessageCommand::Delete { message_id, at } => delete(store, pos, message_id, *at, writes)?,
    };
    // Even a command that changed nothing advances the position, so that the next
    // command of the same entry is not mistaken for a replay of it.
    writes.insert(APPLIED_KEY, pos.to_bytes());
    Ok(outcome)
}

/// A message's record as stored or as written earlier in the same batch.
fn record(store: &SledMessages, writes: &Writes, id: &str) -> Result<Option<Record>, Error> {
    match writes.get(&layout::message_key(id)) {
        Some(bytes) => Record::decode(bytes).map(Some),
        None => store.record(id),
    }
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
    writes: &mut Writes,
) -> Result<(Outcome, Option<RoomTail>), Error> {
    if let Some(existing) = record(store, writes, &message.id)? {
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
    for (key, value) in index_entries(&record.message, value) {
        writes.insert(key, value);
    }
    Ok((Outcome::MessageAppended { seq, timestamp }, Some(RoomTail { seq: Some(seq), timestamp: Some(timestamp) })))
}

/// A command of an earlier version: each listed message raises the reader's mark in its
/// room to the message's seq.
fn mark_read(
    store: &SledMessages,
    user_id: &str,
    message_ids: &[String],
    at: Millis,
    writes: &mut Writes,
) -> Result<Outcome, Error> {
    let mut changed = Vec::new();
    for id in unique(message_ids) {
        let Some(record) = record(store, writes, id)? else { continue };
        let mark = ReadMark { room: record.message.room, user_id: user_id.to_owned(), seq: record.message.seq, at };
        if (Raising { store, writes: &mut *writes }).raise(&mark)? {
            changed.push(id.clone());
        }
    }
    Ok(Outcome::ReadsMarked { changed })
}

/// Raises read watermarks; a mark written earlier in the same batch counts as stored,
/// so two marks of one member and room merge like any others.
struct Raising<'a> {
    store: &'a SledMessages,
    writes: &'a mut Writes,
}

impl Raising<'_> {
    /// Whether the mark rose (a mark at or below the stored one changes nothing).
    fn raise(&mut self, mark: &ReadMark) -> Result<bool, Error> {
        let key = layout::read_mark_key(&mark.room, &mark.user_id);
        let current = match self.writes.get(&key) {
            Some(value) => Some(layout::decode_read_mark(value)?.0),
            None => self.store.tree().get(&key)?.map(|v| layout::decode_read_mark(&v)).transpose()?.map(|(seq, _)| seq),
        };
        if current.is_some_and(|seq| seq >= mark.seq) {
            return Ok(false);
        }
        self.writes.insert(key, layout::encode_read_mark(mark.seq, mark.at));
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
    writes: &mut Writes,
) -> Result<Outcome, Error> {
    let Some(mut record) = record(store, writes, message_id)? else { return Ok(Outcome::UnknownMessage) };
    if record.changed < pos && change_reaction(&mut record.message.reactions, emoji, user_id, add) {
        record.changed = pos;
        writes.insert(layout::message_key(message_id), record.encode()?);
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
    writes: &mut Writes,
) -> Result<Outcome, Error> {
    let Some(mut record) = record(store, writes, message_id)? else { return Ok(Outcome::UnknownMessage) };
    if record.changed < pos && record.message.tombstone(at) {
        record.changed = pos;
        writes.insert(layout::message_key(message_id), record.encode()?);
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

/// A message's record (encoded as `value`) and its two room index entries, as keys and
/// values.
pub(super) fn index_entries(message: &StoredMessage, value: Vec<u8>) -> [(Vec<u8>, Vec<u8>); 3] {
    let id = message.id.as_bytes().to_vec();
    [
        (layout::message_key(&message.id), value),
        (layout::room_key(BY_SEQ, &message.room, message.seq), id.clone()),
        (layout::room_key(BY_TIME, &message.room, message.timestamp), id),
    ]
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
