//! `POST` / `DELETE /api/users/profile-image` (protocol §3.4, §5.4): a user's avatar,
//! stored like a chat upload (two nodes, a committed record) under `profiles/`, and
//! served publicly by `uploads.rs`. Replacing or deleting it removes the previous
//! image, record and bytes (protocol §10.21: the existing backend never did).

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chat_raft::{Command, Outcome};
use chat_storage::blobs::PROFILES;
use chat_storage::BlobName;
use serde_json::json;

use super::files;
use super::respond::ApiError;
use super::upload_intake::{self, bad_request, Rules, UPLOAD_LIMIT};
use crate::auth::{now_ms, AuthUser};
use crate::Node;

const MAX_IMAGE: u64 = 5 * 1024 * 1024;
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "gif", "webp"];
/// Where profile images are served (protocol §5.4); the stored URL is relative.
pub(super) const URL_PREFIX: &str = "/api/uploads/";

const UPLOAD_FAILED: &str = "이미지 업로드 중 오류가 발생했습니다.";
const DELETE_FAILED: &str = "프로필 이미지 삭제 중 오류가 발생했습니다.";

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/users/profile-image", post(upload).delete(remove).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
}

/// `image/*` with an image extension (the contract's check), and then the MIME type and
/// extension must agree per protocol §5.1: 400 instead of the existing backend's 500.
fn image_rules(mimetype: &str, ext: Option<&str>) -> Result<u64, ApiError> {
    let Some(ext) = ext.filter(|e| IMAGE_EXTENSIONS.contains(e)) else {
        return Err(bad_request("이미지 파일만 업로드할 수 있습니다."));
    };
    if !mimetype.starts_with("image/") {
        return Err(bad_request("이미지 파일만 업로드할 수 있습니다."));
    }
    if !files::matches_type(mimetype, ext) {
        return Err(bad_request("이미지 형식과 파일 확장자가 일치하지 않습니다."));
    }
    Ok(MAX_IMAGE)
}

async fn upload(
    State(node): State<Arc<Node>>,
    auth: AuthUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let rules = Rules {
        field: "profileImage",
        missing: "이미지가 제공되지 않았습니다.",
        check: image_rules,
        too_large: |_| bad_request("파일 크기는 5MB를 초과할 수 없습니다."),
        failure: UPLOAD_FAILED,
    };
    let part = upload_intake::read_part(&node, &auth.user.id, multipart, &rules).await?;
    let name = BlobName::generate(true, now_ms(), part.ext.as_deref())
        .map_err(|e| ApiError::internal(UPLOAD_FAILED, format!("{e}: {:?}", part.ext)))?;
    let record = upload_intake::store(&node, &auth.user.id, &name, part, UPLOAD_FAILED).await?;
    let url = format!("{URL_PREFIX}{}", record.filename);
    if let Err(e) = set_image(&node, &auth.user.id, &url, UPLOAD_FAILED).await {
        forget(&node, &auth.user.id, &url).await;
        return Err(e);
    }
    forget(&node, &auth.user.id, &auth.user.profile_image).await;
    tracing::info!(node = node.config.id, user = %auth.user.id, image = %url, "profile image replaced");
    let body = json!({ "success": true, "message": "프로필 이미지가 업데이트되었습니다.", "imageUrl": url });
    Ok(Json(body).into_response())
}

/// Idempotent: a user without an image gets the same 200.
async fn remove(State(node): State<Arc<Node>>, auth: AuthUser) -> Result<Response, ApiError> {
    if !auth.user.profile_image.is_empty() {
        set_image(&node, &auth.user.id, "", DELETE_FAILED).await?;
        forget(&node, &auth.user.id, &auth.user.profile_image).await;
    }
    Ok(Json(json!({ "success": true, "message": "프로필 이미지가 삭제되었습니다." })).into_response())
}

async fn set_image(node: &Node, user_id: &str, url: &str, failure: &'static str) -> Result<(), ApiError> {
    let command = Command::UpdateUser {
        user_id: user_id.to_owned(),
        name: None,
        profile_image: Some(url.to_owned()),
        at: now_ms(),
    };
    match node.cluster.propose(command).await {
        Ok(Outcome::UserUpdated) => Ok(()),
        Ok(Outcome::UnknownUser) => Err(ApiError::refused(StatusCode::NOT_FOUND, "사용자를 찾을 수 없습니다.")),
        Ok(other) => Err(ApiError::internal(failure, format!("unexpected outcome {other:?}"))),
        Err(e) => Err(ApiError::cluster(e, failure)),
    }
}

/// Delete the image behind `url` (record, then bytes on every node), if it is one of
/// this user's stored profile images. Best effort: a failure leaves an orphan, which
/// is logged, never a broken profile.
async fn forget(node: &Node, user_id: &str, url: &str) {
    let Some(name) = url.strip_prefix(URL_PREFIX).and_then(|n| BlobName::parse(n).ok()) else {
        return;
    };
    if !name.as_str().starts_with(PROFILES) {
        return;
    }
    let record =
        node.cluster.read_local(|s| s.files.by_filename(name.as_str()).map(|f| (f.id.clone(), f.user.clone())));
    match record {
        Some((_, owner)) if owner != user_id => return,
        Some((file_id, _)) => {
            let command = Command::DeleteFile { file_id, user_id: user_id.to_owned() };
            if let Err(e) = node.cluster.propose(command).await {
                tracing::warn!(blob = %name, error = %e, "old profile image record not deleted");
                return;
            }
        }
        None => {}
    }
    if let Err(e) = node.blobs.delete(&name).await {
        tracing::warn!(blob = %name, error = %e, "old profile image bytes not deleted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_matching_image_types_pass() {
        assert_eq!(image_rules("image/png", Some("png")).ok(), Some(MAX_IMAGE));
        assert_eq!(image_rules("image/jpeg", Some("jpg")).ok(), Some(MAX_IMAGE));
        assert!(image_rules("image/png", Some("jpg")).is_err(), "MIME/extension mismatch");
        assert!(image_rules("application/pdf", Some("png")).is_err());
        assert!(image_rules("image/svg+xml", Some("svg")).is_err());
        assert!(image_rules("image/png", None).is_err());
    }
}
