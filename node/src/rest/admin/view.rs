//! The JSON the admin API answers with (protocol §8.2): users with their presence,
//! rooms, last login and sanctions; one user's rooms and recent logins; audit
//! entries; and the paging query and metadata, shaped like the room list's.

use std::collections::HashMap;

use chat_raft::command::Millis;
use chat_raft::state::{AuditAction, AuditEntry, AuditTarget, Sanction, User};
use chat_raft::ClusterState;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::rest::respond::ApiError;
use crate::rest::room_view::{iso_ms, participants_count, role_name};

pub(super) const DEFAULT_PAGE_SIZE: u64 = 20;
pub(super) const MAX_PAGE_SIZE: u64 = 100;

/// `page` (0-based) and `pageSize` as sent: strings, so junk becomes our 400.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawPaging {
    page: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Paging {
    pub page: u64,
    pub size: u64,
}

impl Paging {
    /// Defaults and clamps like the room list: page >= 0, 1 <= pageSize <= 100.
    pub(super) fn parse(raw: &RawPaging) -> Result<Self, ApiError> {
        let page = int(raw.page.as_deref(), 0)?.max(0) as u64;
        let size = int(raw.page_size.as_deref(), DEFAULT_PAGE_SIZE as i64)?.clamp(1, MAX_PAGE_SIZE as i64) as u64;
        Ok(Self { page, size })
    }

    pub(super) fn metadata(&self, total: u64, current: usize) -> Value {
        json!({
            "total": total,
            "page": self.page,
            "pageSize": self.size,
            "totalPages": total.div_ceil(self.size),
            "hasMore": self.page.saturating_add(1).saturating_mul(self.size) < total,
            "currentCount": current,
        })
    }
}

fn int(value: Option<&str>, default: i64) -> Result<i64, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ApiError::InvalidRequest),
    }
}

/// Rooms each user takes part in, counted in one pass over all rooms.
pub(super) fn room_counts(state: &ClusterState) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for room in state.rooms.iter() {
        for user in &room.participants {
            *counts.entry(user.as_str()).or_default() += 1;
        }
    }
    counts
}

/// When the user last logged in: the newest remembered login, else the current
/// session (opened before logins were remembered).
pub(super) fn last_login(state: &ClusterState, user_id: &str) -> Option<Millis> {
    let recent = state.sessions.recent(user_id).next().map(|s| s.created_at);
    let current = state.sessions.current(user_id).map(|s| s.created_at);
    recent.max(current)
}

/// One user as the list shows them, with sanctions judged at `now`.
pub(super) fn user_summary(state: &ClusterState, user: &User, rooms: usize, now: Millis) -> Value {
    let sockets = state.presence.sockets_of_user(&user.id).count();
    let ban = user.ban_at(now);
    let mute = user.mute_at(now);
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "profileImage": user.profile_image,
        "role": role_name(user.role),
        "createdAt": iso_ms(user.created_at),
        "online": sockets > 0,
        "socketCount": sockets,
        "lastLogin": last_login(state, &user.id).map(iso_ms),
        "roomCount": rooms,
        "banned": ban.is_some(),
        "ban": ban.map(sanction),
        "muted": mute.is_some(),
        "mute": mute.map(sanction),
    })
}

/// The summary plus the user's rooms and recent logins.
pub(super) fn user_detail(state: &ClusterState, user: &User, now: Millis) -> Value {
    let rooms: Vec<Value> = state
        .rooms
        .iter()
        .filter(|r| r.is_participant(&user.id))
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "hasPassword": r.has_password(),
                "participantsCount": participants_count(state, r),
                "isCreator": r.creator == user.id,
            })
        })
        .collect();
    let current = state.sessions.current(&user.id);
    let sessions: Vec<Value> = state
        .sessions
        .recent(&user.id)
        .map(|s| {
            let live = current.filter(|c| c.session_id == s.session_id);
            json!({
                "createdAt": iso_ms(s.created_at),
                "lastActivity": live.map(|c| iso_ms(c.last_activity)),
                "userAgent": s.user_agent,
                "ipAddress": s.ip_address,
                "current": live.is_some(),
            })
        })
        .collect();
    let mut detail = user_summary(state, user, rooms.len(), now);
    detail["rooms"] = Value::Array(rooms);
    detail["sessions"] = Value::Array(sessions);
    detail
}

fn sanction(s: &Sanction) -> Value {
    json!({ "reason": s.reason, "until": s.until.map(iso_ms), "at": iso_ms(s.at), "by": s.by })
}

pub(super) fn action_name(action: AuditAction) -> &'static str {
    match action {
        AuditAction::SetRole => "set_role",
        AuditAction::Ban => "ban",
        AuditAction::Unban => "unban",
        AuditAction::Mute => "mute",
        AuditAction::Unmute => "unmute",
        AuditAction::Logout => "logout",
        AuditAction::DeleteUser => "delete_user",
        AuditAction::DeleteMessage => "delete_message",
        AuditAction::DeleteRoom => "delete_room",
    }
}

/// `{type, id, email}`; a message target adds its `roomId`, a room target its `name`
/// (as it was when deleted); `email` is `""` for both.
fn audit_target(entry: &AuditEntry) -> Value {
    let mut target = json!({ "id": entry.target, "email": entry.target_email });
    let (kind, extra) = match entry.target_kind {
        AuditTarget::User => ("user", None),
        AuditTarget::Message => ("message", Some(("roomId", &entry.detail))),
        AuditTarget::Room => ("room", Some(("name", &entry.detail))),
    };
    target["type"] = json!(kind);
    if let Some((field, value)) = extra {
        target[field] = json!(value);
    }
    target
}

/// `role`: the new role of a `set_role`; `until`: the end of a `ban` or `mute`
/// (`null`: until lifted); both `null` for other actions.
pub(super) fn audit_entry(entry: &AuditEntry) -> Value {
    let role = (entry.action == AuditAction::SetRole).then_some(entry.detail.as_str());
    let until = match entry.action {
        AuditAction::Ban | AuditAction::Mute => entry.detail.parse::<Millis>().ok().map(iso_ms),
        _ => None,
    };
    json!({
        "id": entry.id,
        "at": iso_ms(entry.at),
        "actor": { "id": entry.actor, "email": entry.actor_email },
        "action": action_name(entry.action),
        "target": audit_target(entry),
        "reason": entry.reason,
        "role": role,
        "until": until,
    })
}

/// A 400 naming one bad field, in the standard validation envelope.
pub(super) fn bad_field(field: &'static str, message: &'static str) -> ApiError {
    ApiError::Validation { errors: vec![crate::rest::respond::FieldError { field, message }], auth: false }
}

#[cfg(test)]
mod tests {
    use chat_raft::state::{Role, Session, SocketRef, User};
    use chat_raft::{Command, Request, Stamp};

    use super::*;

    const T0: Millis = 1_700_000_000_000;

    fn state() -> ClusterState {
        let mut state = ClusterState::default();
        let user = User {
            id: "u1".into(),
            email: "a@b.co".into(),
            name: "Alice".into(),
            password_hash: "x".into(),
            profile_image: String::new(),
            role: Role::User,
            ban: None,
            mute: None,
            created_at: T0,
            updated_at: T0,
        };
        let session = Session {
            user_id: "u1".into(),
            session_id: "s1".into(),
            created_at: T0 + 10,
            last_activity: T0 + 20,
            user_agent: "ua".into(),
            ip_address: "10.0.0.1".into(),
        };
        let by = Stamp { actor: "root".into(), at: T0 + 30 };
        for cmd in [
            Command::RegisterUser { user },
            Command::OpenSession { session },
            Command::ConnectSocket {
                socket: SocketRef { node: 2, socket: "x".into() },
                user_id: "u1".into(),
                session_id: "s1".into(),
            },
            Command::Mute { user_id: "u1".into(), reason: "flood".into(), until: T0 + 60_000, by },
        ] {
            state.apply(&Request::new(cmd));
        }
        state
    }

    #[test]
    fn a_user_shows_presence_logins_and_sanctions_in_force() {
        let state = state();
        let user = state.users.get("u1").unwrap();
        let summary = user_summary(&state, user, 3, T0 + 1_000);
        assert_eq!(
            summary,
            json!({
                "id": "u1", "name": "Alice", "email": "a@b.co", "profileImage": "", "role": "user",
                "createdAt": iso_ms(T0), "online": true, "socketCount": 1,
                "lastLogin": iso_ms(T0 + 10), "roomCount": 3,
                "banned": false, "ban": null, "muted": true,
                "mute": {"reason": "flood", "until": iso_ms(T0 + 60_000), "at": iso_ms(T0 + 30), "by": "root"},
            })
        );
        let later = user_summary(&state, user, 3, T0 + 60_000);
        assert_eq!(
            (later["muted"].as_bool(), &later["mute"]),
            (Some(false), &Value::Null),
            "an ended mute is not shown"
        );
        let detail = user_detail(&state, user, T0);
        assert_eq!(
            detail["sessions"],
            json!([{"createdAt": iso_ms(T0 + 10), "lastActivity": iso_ms(T0 + 20), "userAgent": "ua",
                    "ipAddress": "10.0.0.1", "current": true}])
        );
        assert_eq!(detail["rooms"], json!([]));
    }

    #[test]
    fn audit_entries_name_actor_target_and_end() {
        let state = state();
        let entry = state.audit.page_newest_first(0, 1).next().unwrap();
        assert_eq!(
            audit_entry(entry),
            json!({
                "id": 1, "at": iso_ms(T0 + 30), "actor": {"id": "root", "email": ""}, "action": "mute",
                "target": {"type": "user", "id": "u1", "email": "a@b.co"}, "reason": "flood",
                "role": null, "until": iso_ms(T0 + 60_000),
            })
        );
    }

    #[test]
    fn paging_metadata_is_the_room_lists() {
        let raw = RawPaging { page: Some("1".into()), page_size: Some("3".into()) };
        let paging = Paging::parse(&raw).unwrap();
        assert_eq!(
            paging.metadata(7, 3),
            json!({"total": 7, "page": 1, "pageSize": 3, "totalPages": 3, "hasMore": true, "currentCount": 3})
        );
        let junk = RawPaging { page: Some("x".into()), page_size: None };
        assert!(matches!(Paging::parse(&junk), Err(ApiError::InvalidRequest)));
    }
}
