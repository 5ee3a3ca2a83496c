//! The JSON shapes of users and rooms (protocol §0, §3.4, §3.5): `UserResponse` (`id`),
//! the auth shape (`_id`) of login/register/verify-token, and `RoomResponse`, shared
//! by REST answers and the `roomCreated`/`roomUpdated` socket events. Views are built
//! inside one replica read, with every user resolved from the in-memory user table
//! (no per-participant lookups, protocol §10.1).

use chat_raft::command::Millis;
use chat_raft::state::{Role, Room, User};
use chat_raft::ClusterState;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Value};

/// `UserResponse`. `profile_image` is `None` only in socket payloads, where the
/// existing backend omits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct UserResponse {
    pub id: String,
    pub name: String,
    pub email: String,
    #[serde(rename = "profileImage", skip_serializing_if = "Option::is_none")]
    pub profile_image: Option<String>,
}

impl UserResponse {
    pub(crate) fn of(user: &User) -> Self {
        Self {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            profile_image: Some(user.profile_image.clone()),
        }
    }

    /// Stands in for a creator whose account was deleted, so the room still renders
    /// (the existing backend answers 500 there, protocol §10.23).
    fn deleted(id: &str) -> Self {
        Self { id: id.to_owned(), name: String::new(), email: String::new(), profile_image: Some(String::new()) }
    }
}

/// `RoomResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoomResponse {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub has_password: bool,
    pub creator: UserResponse,
    pub participants: Vec<UserResponse>,
    pub participants_count: usize,
    pub recent_message_count: u64,
    pub created_at: String,
}

impl RoomResponse {
    /// The view of `room` in `state`; participants that no longer exist are skipped.
    pub(crate) fn build(state: &ClusterState, room: &Room) -> Self {
        let participants: Vec<UserResponse> =
            room.participants.iter().filter_map(|id| state.users.get(id)).map(UserResponse::of).collect();
        let creator =
            state.users.get(&room.creator).map_or_else(|| UserResponse::deleted(&room.creator), UserResponse::of);
        Self {
            id: room.id.clone(),
            name: room.name.clone(),
            has_password: room.has_password(),
            creator,
            participants_count: participants.len(),
            participants,
            recent_message_count: 0,
            created_at: iso_ms(room.created_at),
        }
    }

    /// The socket-event form: without `profileImage` of creator and participants.
    pub(crate) fn for_socket(mut self) -> Self {
        self.creator.profile_image = None;
        for participant in &mut self.participants {
            participant.profile_image = None;
        }
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Participants of a room that still exist (what `participantsCount` counts).
pub(crate) fn participants_count(state: &ClusterState, room: &Room) -> usize {
    room.participants.iter().filter(|id| state.users.contains(id)).count()
}

/// The auth shape `{_id, name, email, profileImage, role}`; register answers
/// `profileImage: null` (`image_null`), login and verify-token the stored value.
/// `role` is ours (protocol §8.1): the web console shows admin pages by it.
pub(crate) fn auth_user(user: &User, image_null: bool) -> Value {
    let image = if image_null { Value::Null } else { Value::String(user.profile_image.clone()) };
    json!({ "_id": user.id, "name": user.name, "email": user.email, "profileImage": image, "role": role_name(user.role) })
}

/// `user` or `admin`, as the JSON of users carries it.
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Admin => "admin",
    }
}

/// ISO-8601 UTC with milliseconds and `Z`, e.g. `2025-11-18T12:34:56.789Z`.
pub(crate) fn iso_ms(ms: Millis) -> String {
    let at = DateTime::<Utc>::from_timestamp_millis(ms as i64).unwrap_or_default();
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use chat_raft::{Command, Request};

    use super::*;

    fn user(id: &str, name: &str) -> User {
        User {
            id: id.into(),
            email: format!("{name}@example.com"),
            name: name.into(),
            password_hash: "x".into(),
            profile_image: String::new(),
            role: Default::default(),
            ban: None,
            mute: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn iso_timestamps_have_milliseconds_and_z() {
        assert_eq!(iso_ms(1_763_469_296_789), "2025-11-18T12:34:56.789Z");
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn room_json_matches_the_contract_shape() {
        let mut state = ClusterState::default();
        state.apply(&Request::new(Command::RegisterUser { user: user("u1", "kim") }));
        let room = Room {
            id: "665f1c2a9b1e8a3f4c2d1e0f".into(),
            name: "프로젝트 논의방".into(),
            password_hash: None,
            creator: "u1".into(),
            created_at: 1_763_469_296_789,
            participants: vec!["u1".into(), "ghost".into()],
        };
        let view = RoomResponse::build(&state, &room);
        assert_eq!(
            view.to_json(),
            json!({"_id":"665f1c2a9b1e8a3f4c2d1e0f","name":"프로젝트 논의방","hasPassword":false,
                "creator":{"id":"u1","name":"kim","email":"kim@example.com","profileImage":""},
                "participants":[{"id":"u1","name":"kim","email":"kim@example.com","profileImage":""}],
                "participantsCount":1,"recentMessageCount":0,"createdAt":"2025-11-18T12:34:56.789Z"})
        );
        let socket = view.for_socket().to_json();
        assert_eq!(socket["creator"], json!({"id":"u1","name":"kim","email":"kim@example.com"}));
        assert_eq!(socket["participants"][0], json!({"id":"u1","name":"kim","email":"kim@example.com"}));
        assert_eq!(participants_count(&state, &room), 1);
    }
}
