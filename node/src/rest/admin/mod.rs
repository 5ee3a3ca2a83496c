//! The admin API under `/api/admin` (protocol §8): member management, sanctions and
//! the audit log. Every route needs a token (the REST guard) of an admin ([`Admin`]):
//! 401 without a valid session, 403 `FORBIDDEN` for anybody else.
//!
//! | file | owns |
//! |---|---|
//! | `users.rs` | the user list, one user's detail, role changes |
//! | `sanctions.rs` | ban, unban, mute, unmute, logout, delete: one Raft command each |
//! | `removals.rs` | deleting messages (tombstones) and rooms; any room's history for admins |
//! | `audit.rs` | the audit log, newest first |
//! | `view.rs` | the JSON of users, sanctions and audit entries; paging |

mod audit;
mod removals;
mod sanctions;
mod users;
mod view;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::Router;
use chat_raft::{Outcome, Stamp};

use super::respond::ApiError;
use crate::auth::{now_ms, AuthUser};
use crate::Node;

const FORBIDDEN: &str = "관리자 권한이 필요합니다.";
const USER_NOT_FOUND: &str = "사용자를 찾을 수 없습니다.";
const ACTION_FAILED: &str = "관리 작업 처리 중 오류가 발생했습니다.";

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/admin/users", get(users::list))
        .route("/api/admin/users/{id}", get(users::detail).delete(sanctions::delete_user))
        .route("/api/admin/users/{id}/role", put(users::set_role))
        .route("/api/admin/users/{id}/ban", post(sanctions::ban))
        .route("/api/admin/users/{id}/unban", post(sanctions::unban))
        .route("/api/admin/users/{id}/mute", post(sanctions::mute))
        .route("/api/admin/users/{id}/unmute", post(sanctions::unmute))
        .route("/api/admin/users/{id}/logout", post(sanctions::logout))
        .route("/api/admin/messages/{id}", delete(removals::delete_message))
        .route("/api/admin/rooms/{id}", delete(removals::delete_room))
        .route("/api/admin/rooms/{id}/messages", get(removals::room_messages))
        .route("/api/admin/audit", get(audit::list))
}

/// An authenticated admin: the role as the replica had it when the token was checked.
pub(crate) struct Admin(AuthUser);

impl Admin {
    /// The audit stamp of an action this admin asks for now.
    fn stamp(&self) -> Stamp {
        Stamp { actor: self.0.user.id.clone(), at: now_ms() }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if !auth.user.is_admin() {
            return Err(ApiError::coded(StatusCode::FORBIDDEN, "FORBIDDEN", FORBIDDEN));
        }
        Ok(Admin(auth))
    }
}

fn user_not_found() -> ApiError {
    ApiError::coded(StatusCode::NOT_FOUND, "USER_NOT_FOUND", USER_NOT_FOUND)
}

fn admin_target() -> ApiError {
    ApiError::coded(
        StatusCode::CONFLICT,
        "TARGET_IS_ADMIN",
        "관리자에게는 적용할 수 없습니다. 먼저 일반 사용자로 변경하세요.",
    )
}

/// Commit an admin command; domain refusals become their 4xx, the rest is returned.
async fn commit(node: &Node, command: chat_raft::Command) -> Result<Outcome, ApiError> {
    match node.cluster.propose(command).await {
        Ok(Outcome::UnknownUser) => Err(user_not_found()),
        Ok(Outcome::AdminTarget) => Err(admin_target()),
        Ok(Outcome::LastAdmin) => {
            Err(ApiError::coded(StatusCode::CONFLICT, "LAST_ADMIN", "마지막 관리자의 권한은 해제할 수 없습니다."))
        }
        Ok(outcome) => Ok(outcome),
        Err(e) => Err(ApiError::cluster(e, ACTION_FAILED)),
    }
}
