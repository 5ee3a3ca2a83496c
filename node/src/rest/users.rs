//! `/api/users/**` (protocol §3.4) except the profile image: the caller's profile,
//! renaming, account deletion and the status probe.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use chat_raft::{Command, Outcome};
use chrono::{SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;

use super::input::ApiJson;
use super::respond::ApiError;
use super::room_view::{role_name, UserResponse};
use super::validate;
use crate::auth::{now_ms, AuthUser};
use crate::Node;

const USER_NOT_FOUND: &str = "사용자를 찾을 수 없습니다.";
const UPDATE_FAILED: &str = "프로필 업데이트 중 오류가 발생했습니다.";
const DELETE_FAILED: &str = "회원 탈퇴 처리 중 오류가 발생했습니다.";

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/users/profile", get(profile).put(update_profile))
        .route("/api/users/account", delete(delete_account))
        .route("/api/users/status", get(status))
}

fn not_found() -> ApiError {
    ApiError::refused(StatusCode::NOT_FOUND, USER_NOT_FOUND)
}

/// The guard read the user from the replica for this very request.
/// `role` is ours (protocol §8.1).
async fn profile(auth: AuthUser) -> Json<serde_json::Value> {
    let mut user = json!(UserResponse::of(&auth.user));
    user["role"] = json!(role_name(auth.user.role));
    Json(json!({ "success": true, "user": user }))
}

#[derive(Deserialize)]
struct ProfileBody {
    name: Option<String>,
}

async fn update_profile(
    State(node): State<Arc<Node>>,
    auth: AuthUser,
    ApiJson(body): ApiJson<ProfileBody>,
) -> Result<Response, ApiError> {
    let errors = validate::profile(body.name.as_deref());
    let Some(name) = body.name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation { errors, auth: false });
    };
    let user_id = auth.user.id;
    let command = Command::UpdateUser { user_id: user_id.clone(), name: Some(name), profile_image: None, at: now_ms() };
    match node.cluster.propose(command).await {
        Ok(Outcome::UserUpdated) => {}
        Ok(Outcome::UnknownUser) => return Err(not_found()),
        Ok(other) => return Err(ApiError::internal(UPDATE_FAILED, format!("unexpected outcome {other:?}"))),
        Err(e) => return Err(ApiError::cluster(e, UPDATE_FAILED)),
    }
    let user = node.cluster.read(|s| s.users.get(&user_id).map(UserResponse::of)).await;
    let user = user.map_err(|e| ApiError::cluster(e, UPDATE_FAILED))?.ok_or_else(not_found)?;
    Ok(Json(json!({ "success": true, "message": "프로필이 업데이트되었습니다.", "user": user })).into_response())
}

/// Deletes the user with their session, sockets and room participations.
async fn delete_account(State(node): State<Arc<Node>>, auth: AuthUser) -> Result<Response, ApiError> {
    match node.cluster.propose(Command::DeleteUser { user_id: auth.user.id.clone(), by: None }).await {
        Ok(Outcome::UserDeleted { .. }) => {
            tracing::info!(node = node.config.id, user = %auth.user.id, "account deleted");
            Ok(Json(json!({ "success": true, "message": "회원 탈퇴가 완료되었습니다." })).into_response())
        }
        Ok(Outcome::UnknownUser) => Err(not_found()),
        Ok(other) => Err(ApiError::internal(DELETE_FAILED, format!("unexpected outcome {other:?}"))),
        Err(e) => Err(ApiError::cluster(e, DELETE_FAILED)),
    }
}

/// Authenticated, as in the contract's table (protocol §3.2).
async fn status(_: AuthUser) -> Json<serde_json::Value> {
    let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    Json(json!({ "success": true, "message": "User API is running", "timestamp": timestamp }))
}
