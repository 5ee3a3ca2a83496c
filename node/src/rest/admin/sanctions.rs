//! Sanctions (protocol §8.3): ban, unban, mute, unmute, logout and delete, each one
//! Raft command stamped with the admin and the time here, at the proposer. The answer
//! leaves once every live node applied it (architecture §3.1), so by then the user's
//! token gets 401 everywhere; each node's socket layer (`socket/notices.rs`) sends
//! `session_ended` to the user's sockets it hosts and disconnects them.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chat_raft::command::Millis;
use chat_raft::{Command, Outcome};
use serde::Deserialize;
use serde_json::json;

use super::users::read_detail;
use super::view::bad_field;
use super::{commit, Admin};
use crate::rest::input::ApiJson;
use crate::rest::respond::ApiError;
use crate::Node;

/// Longest accepted reason, in characters.
pub(super) const MAX_REASON_CHARS: usize = 500;
/// Longest timed ban or mute: ten years, in minutes.
pub(super) const MAX_MINUTES: i64 = 10 * 366 * 24 * 60;

const REASON_REQUIRED: &str = "사유를 입력해주세요.";
const REASON_TOO_LONG: &str = "사유는 500자 이하여야 합니다.";
const MINUTES_RANGE: &str = "minutes must be a whole number between 1 and 5270400";
const NOT_YOURSELF: &str = "자기 자신에게는 적용할 수 없습니다.";

#[derive(Deserialize)]
pub(super) struct SanctionBody {
    reason: Option<String>,
    minutes: Option<i64>,
}

/// The reason, trimmed: required, at most [`MAX_REASON_CHARS`].
fn reason_of(body: &SanctionBody) -> Result<String, ApiError> {
    let reason = body.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(bad_field("reason", REASON_REQUIRED));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(bad_field("reason", REASON_TOO_LONG));
    }
    Ok(reason.to_owned())
}

/// The end time `minutes` after `at`, when given; it must be in range.
fn until_of(minutes: Option<i64>, at: Millis) -> Result<Option<Millis>, ApiError> {
    minutes.map(|m| end_of(m, at)).transpose()
}

fn end_of(minutes: i64, at: Millis) -> Result<Millis, ApiError> {
    match u64::try_from(minutes) {
        Ok(m) if (1..=MAX_MINUTES).contains(&minutes) => Ok(at + m * 60_000),
        _ => Err(bad_field("minutes", MINUTES_RANGE)),
    }
}

/// Admins act on others: their own ban, mute, logout or deletion is refused here
/// (bans and mutes of any admin are also refused at apply time).
fn not_self(admin: &Admin, id: &str) -> Result<(), ApiError> {
    if admin.0.user.id == id {
        return Err(ApiError::coded(StatusCode::BAD_REQUEST, "CANNOT_TARGET_SELF", NOT_YOURSELF));
    }
    Ok(())
}

/// The answer to a committed action: the user as every node now has them.
async fn done(node: &Node, id: &str, message: &str) -> Result<Response, ApiError> {
    let user = read_detail(node, id).await?;
    Ok(Json(json!({ "success": true, "message": message, "user": user })).into_response())
}

pub(super) async fn ban(
    State(node): State<Arc<Node>>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SanctionBody>,
) -> Result<Response, ApiError> {
    let reason = reason_of(&body)?;
    let by = admin.stamp();
    let until = until_of(body.minutes, by.at)?;
    not_self(&admin, &id)?;
    commit(&node, Command::Ban { user_id: id.clone(), reason, until, by }).await?;
    tracing::info!(node = node.config.id, admin = %admin.0.user.id, user = %id, ?until, "user banned");
    done(&node, &id, "사용자가 정지되었습니다.").await
}

pub(super) async fn unban(
    State(node): State<Arc<Node>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    commit(&node, Command::Unban { user_id: id.clone(), by: admin.stamp() }).await?;
    tracing::info!(node = node.config.id, admin = %admin.0.user.id, user = %id, "user unbanned");
    done(&node, &id, "정지가 해제되었습니다.").await
}

pub(super) async fn mute(
    State(node): State<Arc<Node>>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SanctionBody>,
) -> Result<Response, ApiError> {
    let by = admin.stamp();
    let until = end_of(body.minutes.unwrap_or(0), by.at)?;
    let reason = reason_of(&body)?;
    not_self(&admin, &id)?;
    commit(&node, Command::Mute { user_id: id.clone(), reason, until, by }).await?;
    tracing::info!(node = node.config.id, admin = %admin.0.user.id, user = %id, until, "user muted");
    done(&node, &id, "채팅이 제한되었습니다.").await
}

pub(super) async fn unmute(
    State(node): State<Arc<Node>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    commit(&node, Command::Unmute { user_id: id.clone(), by: admin.stamp() }).await?;
    tracing::info!(node = node.config.id, admin = %admin.0.user.id, user = %id, "user unmuted");
    done(&node, &id, "채팅 제한이 해제되었습니다.").await
}

pub(super) async fn logout(
    State(node): State<Arc<Node>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    not_self(&admin, &id)?;
    let outcome = commit(&node, Command::EndSession { user_id: id.clone(), by: admin.stamp() }).await?;
    let sockets = match outcome {
        Outcome::Sanctioned { sockets } => sockets.len(),
        _ => 0,
    };
    tracing::info!(node = node.config.id, admin = %admin.0.user.id, user = %id, sockets, "user logged out");
    done(&node, &id, "사용자가 로그아웃되었습니다.").await
}

/// Deleting a user is the same transition as their own account deletion (protocol
/// §3.4), audited; admins must be demoted first.
pub(super) async fn delete_user(
    State(node): State<Arc<Node>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    not_self(&admin, &id)?;
    let is_admin = node.cluster.read_local(|s| s.users.get(&id).map(|u| u.is_admin()));
    match is_admin {
        None => return Err(super::user_not_found()),
        Some(true) => return Err(super::admin_target()),
        Some(false) => {}
    }
    commit(&node, Command::DeleteUser { user_id: id.clone(), by: Some(admin.stamp()) }).await?;
    tracing::info!(node = node.config.id, admin = %admin.0.user.id, user = %id, "user deleted by an admin");
    Ok(Json(json!({ "success": true, "message": "사용자가 삭제되었습니다." })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_and_minutes_are_checked() {
        let body = |reason: Option<&str>, minutes| SanctionBody { reason: reason.map(str::to_owned), minutes };
        assert_eq!(reason_of(&body(Some("  spam "), None)).unwrap(), "spam");
        assert!(reason_of(&body(None, None)).is_err());
        assert!(reason_of(&body(Some("   "), None)).is_err());
        assert!(reason_of(&body(Some(&"가".repeat(MAX_REASON_CHARS)), None)).is_ok());
        assert!(reason_of(&body(Some(&"가".repeat(MAX_REASON_CHARS + 1)), None)).is_err());
        assert_eq!(until_of(None, 1_000).unwrap(), None);
        assert_eq!(until_of(Some(2), 1_000).unwrap(), Some(121_000));
        for bad in [0, -5, MAX_MINUTES + 1, i64::MIN] {
            assert!(until_of(Some(bad), 1_000).is_err(), "{bad} minutes");
        }
    }
}
