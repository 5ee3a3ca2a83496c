//! `/api/files/**` (protocol §3.6, §5): chat uploads (taken in by `upload_intake.rs`),
//! their download and preview, and deletion by the uploader.
//!
//! An upload is acknowledged only after its bytes are on two nodes (the blob store's
//! `put_staged`) and its record is committed, so from the answer on every node can
//! find, authorise and serve it. Downloads check the stored name's shape before
//! anything else: a name the server could not have generated is a 400 that touches
//! neither the state nor the disk (architecture §6.5).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chat_raft::{Command, Outcome};
use chat_storage::BlobName;
use serde_json::json;

use super::respond::ApiError;
use super::upload_intake::{bad_request, blob_error, read_part, store, Rules, UPLOAD_LIMIT};
use crate::auth::{now_ms, AuthUser};
use crate::Node;

const MIB: u64 = 1024 * 1024;

/// Protocol §5.1: the exact MIME types, their extensions and size caps.
const CHAT_TYPES: &[(&str, &[&str], u64)] = &[
    ("image/jpeg", &["jpg", "jpeg"], 10 * MIB),
    ("image/png", &["png"], 10 * MIB),
    ("image/gif", &["gif"], 10 * MIB),
    ("image/webp", &["webp"], 10 * MIB),
    ("video/mp4", &["mp4"], 50 * MIB),
    ("video/webm", &["webm"], 50 * MIB),
    ("video/quicktime", &["mov"], 50 * MIB),
    ("audio/mpeg", &["mp3"], 20 * MIB),
    ("audio/wav", &["wav"], 20 * MIB),
    ("audio/ogg", &["ogg"], 20 * MIB),
    ("application/pdf", &["pdf"], 20 * MIB),
    ("application/msword", &["doc"], 20 * MIB),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", &["docx"], 20 * MIB),
];
const PREVIEWABLE: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "video/mp4",
    "video/webm",
    "audio/mpeg",
    "audio/wav",
    "application/pdf",
];

const UPLOAD_FAILED: &str = "파일 업로드 중 오류가 발생했습니다.";
const FILE_FAILED: &str = "파일 처리 중 오류가 발생했습니다.";
const DELETE_FAILED: &str = "파일 삭제 중 오류가 발생했습니다.";
const NOT_FOUND: &str = "파일을 찾을 수 없습니다.";
pub(super) const BAD_NAME: &str = "잘못된 파일명입니다.";

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/files/upload", post(upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
        .route("/api/files/download/{*filename}", get(download))
        .route("/api/files/view/{*filename}", get(view))
        .route("/api/files/{id}", delete(delete_file))
}

fn chat_rules(mimetype: &str, ext: Option<&str>) -> Result<u64, ApiError> {
    let Some((_, exts, cap)) = CHAT_TYPES.iter().find(|(m, _, _)| *m == mimetype) else {
        return Err(bad_request("지원하지 않는 파일 형식입니다."));
    };
    if !ext.is_some_and(|e| exts.contains(&e)) {
        return Err(bad_request("파일 확장자가 파일 형식과 일치하지 않습니다."));
    }
    Ok(*cap)
}

/// Whether `ext` is one protocol §5.1 lists for `mimetype`.
pub(super) fn matches_type(mimetype: &str, ext: &str) -> bool {
    CHAT_TYPES.iter().any(|(m, exts, _)| *m == mimetype && exts.contains(&ext))
}

// ---- handlers -------------------------------------------------------------------------------

async fn upload(
    State(node): State<Arc<Node>>,
    auth: AuthUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let rules = Rules {
        field: "file",
        missing: "업로드할 파일이 없습니다.",
        check: chat_rules,
        too_large: |cap| bad_request(format!("파일 크기는 {}MB를 초과할 수 없습니다.", cap / MIB)),
        failure: UPLOAD_FAILED,
    };
    let part = read_part(&node, &auth.user.id, multipart, &rules).await?;
    let name = BlobName::generate(false, now_ms(), part.ext.as_deref())
        .map_err(|e| ApiError::internal(UPLOAD_FAILED, format!("{e}: {:?}", part.ext)))?;
    let record = store(&node, &auth.user.id, &name, part, UPLOAD_FAILED).await?;
    tracing::info!(node = node.config.id, user = %auth.user.id, file = %record.id, size = record.size, holders = ?record.holders, "file uploaded");
    let upload_date = chrono::DateTime::from_timestamp_millis(record.upload_date as i64)
        .map(|t| t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        .unwrap_or_default();
    let file = json!({
        "_id": record.id, "filename": record.filename, "originalname": record.originalname,
        "mimetype": record.mimetype, "size": record.size, "uploadDate": upload_date,
    });
    Ok(Json(json!({ "success": true, "message": "파일 업로드 성공", "file": file })).into_response())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Attachment,
    Inline,
}

async fn download(
    State(node): State<Arc<Node>>,
    auth: AuthUser,
    method: Method,
    filename: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    serve(&node, &auth, &method, filename, Disposition::Attachment).await
}

async fn view(
    State(node): State<Arc<Node>>,
    auth: AuthUser,
    method: Method,
    filename: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    serve(&node, &auth, &method, filename, Disposition::Inline).await
}

/// The stored name of a chat upload from a URL, or the 400 of protocol §3.6: only the
/// server-generated shape passes (no `..`, `/`, `\`, NUL, absolute path, `profiles/`).
fn chat_blob_name(filename: Result<Path<String>, PathRejection>) -> Result<BlobName, ApiError> {
    let Ok(Path(filename)) = filename else {
        return Err(bad_request(BAD_NAME));
    };
    match BlobName::parse(&filename) {
        Ok(name) if !name.is_profile() => Ok(name),
        _ => Err(bad_request(BAD_NAME)),
    }
}

/// Access rule: a participant of any existing room where a message references the
/// file. A file no message references yet (or only in rooms since gone) is not found.
async fn serve(
    node: &Node,
    auth: &AuthUser,
    method: &Method,
    filename: Result<Path<String>, PathRejection>,
    disposition: Disposition,
) -> Result<Response, ApiError> {
    let name = chat_blob_name(filename)?;
    let user_id = auth.user.id.as_str();
    let found = node
        .cluster
        .read(|s| {
            let file = s.files.by_filename(name.as_str())?;
            let rooms: Vec<_> = file.rooms.iter().filter_map(|r| s.rooms.get(r)).collect();
            let allowed = rooms.iter().any(|room| room.is_participant(user_id));
            Some((file.clone(), !rooms.is_empty(), allowed))
        })
        .await
        .map_err(|e| ApiError::cluster(e, FILE_FAILED))?;
    let not_found = || ApiError::refused(StatusCode::NOT_FOUND, NOT_FOUND);
    let file = match found {
        None | Some((_, false, _)) => return Err(not_found()),
        Some((_, true, false)) => {
            return Err(ApiError::refused(StatusCode::FORBIDDEN, "파일에 접근할 권한이 없습니다."))
        }
        Some((file, true, true)) => file,
    };
    if disposition == Disposition::Inline && !PREVIEWABLE.contains(&file.mimetype.as_str()) {
        return Err(ApiError::refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "미리보기를 지원하지 않는 파일 형식입니다."));
    }
    let (size, body) = if method == Method::HEAD {
        let exists = node.blobs.exists(&name).await.map_err(|e| blob_error(node, e, FILE_FAILED))?;
        (exists.then_some(file.size), Body::empty())
    } else {
        match node.blobs.get(&name).await.map_err(|e| blob_error(node, e, FILE_FAILED))? {
            Some(blob) => (Some(blob.size), Body::from_stream(blob.body)),
            None => (None, Body::empty()),
        }
    };
    let Some(size) = size else {
        tracing::warn!(file = %file.id, blob = %name, holders = ?file.holders, "recorded file has no reachable copy");
        return Err(not_found());
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, header_value(&file.mimetype));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(CONTENT_DISPOSITION, content_disposition(disposition, &file.originalname));
    let cache = match disposition {
        Disposition::Attachment => "private, no-cache, no-store, must-revalidate",
        // A stored name's bytes never change, so the browser may keep them; a shared
        // cache must not, since only the room's participants may see them.
        Disposition::Inline => "private, max-age=31536000, immutable",
    };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert("access-control-expose-headers", HeaderValue::from_static("Content-Disposition"));
    Ok(response)
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// Protocol §3.6: `attachment; filename*=UTF-8''<enc>` or
/// `inline; filename="<name>"; filename*=UTF-8''<enc>` (RFC 5987 / 6266).
fn content_disposition(disposition: Disposition, originalname: &str) -> HeaderValue {
    let encoded = rfc5987(originalname);
    let value = match disposition {
        Disposition::Attachment => format!("attachment; filename*=UTF-8''{encoded}"),
        Disposition::Inline => {
            let quoted = originalname.replace('"', "\\\"");
            format!("inline; filename=\"{quoted}\"; filename*=UTF-8''{encoded}")
        }
    };
    // Raw UTF-8 is legal header bytes (obs-text); names never hold control characters.
    HeaderValue::from_bytes(value.as_bytes())
        .unwrap_or_else(|_| HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")).unwrap())
}

/// Percent-encode everything but RFC 5987 `attr-char` (so a space is `%20`).
fn rfc5987(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Uploader only (protocol §3.6); the record goes first, then every copy.
async fn delete_file(
    State(node): State<Arc<Node>>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let command = Command::DeleteFile { file_id: id, user_id: auth.user.id.clone() };
    match node.cluster.propose(command).await {
        Ok(Outcome::FileDeleted { filename, .. }) => {
            if let Ok(name) = BlobName::parse(&filename) {
                if let Err(e) = node.blobs.delete(&name).await {
                    tracing::warn!(blob = %name, error = %e, "deleted file record left its bytes behind");
                }
            }
            Ok(Json(json!({ "success": true, "message": "파일이 삭제되었습니다." })).into_response())
        }
        Ok(Outcome::UnknownFile) => Err(ApiError::refused(StatusCode::NOT_FOUND, NOT_FOUND)),
        Ok(Outcome::NotFileOwner) => Err(ApiError::refused(StatusCode::FORBIDDEN, "파일을 삭제할 권한이 없습니다.")),
        Ok(other) => Err(ApiError::internal(DELETE_FAILED, format!("unexpected outcome {other:?}"))),
        Err(e) => Err(ApiError::cluster(e, DELETE_FAILED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_types_follow_the_table() {
        assert_eq!(chat_rules("image/jpeg", Some("jpeg")).ok(), Some(10 * MIB));
        assert_eq!(chat_rules("video/quicktime", Some("mov")).ok(), Some(50 * MIB));
        assert_eq!(chat_rules("application/pdf", Some("pdf")).ok(), Some(20 * MIB));
        assert!(chat_rules("image/jpeg", Some("png")).is_err());
        assert!(chat_rules("image/jpeg", None).is_err());
        assert!(chat_rules("text/plain", Some("txt")).is_err());
        assert!(chat_rules("image/svg+xml", Some("svg")).is_err());
    }

    #[test]
    fn content_disposition_is_rfc5987() {
        let attachment = content_disposition(Disposition::Attachment, "보고서 1.pdf");
        assert_eq!(attachment, "attachment; filename*=UTF-8''%EB%B3%B4%EA%B3%A0%EC%84%9C%201.pdf");
        let inline = content_disposition(Disposition::Inline, "a \"b\".png");
        assert_eq!(inline, "inline; filename=\"a \\\"b\\\".png\"; filename*=UTF-8''a%20%22b%22.png");
    }
}
