//! Chat rooms and their participants, and the rooms admins closed (protocol §8.7).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Millis, Outcome};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// 24 lowercase hex characters.
    pub id: String,
    pub name: String,
    /// bcrypt hash of the room password; `None` for an open room.
    pub password_hash: Option<String>,
    /// User id of the creator.
    pub creator: String,
    pub created_at: Millis,
    /// User ids in the order they joined.
    pub participants: Vec<String>,
}

impl Room {
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }

    pub fn is_participant(&self, user_id: &str) -> bool {
        self.participants.iter().any(|p| p == user_id)
    }

    pub(super) fn add_participant(&mut self, user_id: &str) -> bool {
        if self.is_participant(user_id) {
            return false;
        }
        self.participants.push(user_id.to_owned());
        true
    }

    pub(super) fn remove_participant(&mut self, user_id: &str) -> bool {
        let before = self.participants.len();
        self.participants.retain(|p| p != user_id);
        before != self.participants.len()
    }
}

/// A room an admin deleted: out of every list and closed to everyone, kept so admins
/// can still read its history and its id is never reused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedRoom {
    pub room: Room,
    /// The proposer's clock when the admin asked.
    pub closed_at: Millis,
    /// The admin's user id (or `operator`).
    pub closed_by: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rooms {
    /// Open rooms: everything that lists, joins or posts looks here only.
    by_id: BTreeMap<String, Room>,
    /// Defaulted so snapshots taken before rooms could be closed still load.
    #[serde(default)]
    closed: BTreeMap<String, ClosedRoom>,
}

impl Rooms {
    pub fn get(&self, id: &str) -> Option<&Room> {
        self.by_id.get(id)
    }

    /// A closed room, for admins.
    pub fn closed(&self, id: &str) -> Option<&ClosedRoom> {
        self.closed.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Room> {
        self.by_id.values()
    }

    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut Room> {
        self.by_id.get_mut(id)
    }

    pub(super) fn create(&mut self, mut room: Room) -> Outcome {
        if self.by_id.contains_key(&room.id) || self.closed.contains_key(&room.id) {
            return Outcome::RoomExists;
        }
        let creator = room.creator.clone();
        room.participants.retain(|p| p != &creator);
        room.participants.insert(0, creator);
        self.by_id.insert(room.id.clone(), room);
        Outcome::RoomCreated
    }

    /// Move an open room to the closed ones; `None` when no open room has this id.
    pub(super) fn close(&mut self, id: &str, closed_at: Millis, closed_by: &str) -> Option<&ClosedRoom> {
        let room = self.by_id.remove(id)?;
        let closed = ClosedRoom { room, closed_at, closed_by: closed_by.to_owned() };
        Some(self.closed.entry(id.to_owned()).or_insert(closed))
    }

    pub(super) fn remove_participant_everywhere(&mut self, user_id: &str) {
        for room in self.by_id.values_mut() {
            room.remove_participant(user_id);
        }
    }
}
