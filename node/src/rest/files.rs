//! `/api/files/**` (protocol §3.6, §5): chat uploads, their download and preview, and
//! deletion by the uploader; plus the multipart intake shared with profile images.
//!
//! An upload is acknowledged only after its bytes are on two nodes (the blob store's
//! `put`) and its [`FileRecord`] is committed, so from the answer on every node can
//! find, authorise and serve it. Downloads check the stored name's shape before
//! anything else: a name the server could not have generated is a 400 that touches
//! neither the state nor the disk (architecture §6.5).

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chat_raft::state::FileRecord;
use chat_raft::{Command, Outcome};
use chat_storage::blobs::StagedBlob;
use chat_storage::{BlobError, BlobName};
use serde_json::json;
use unicode_normalization::UnicodeNormalization;

use super::ids::object_id;
use super::respond::ApiError;
use super::upload_admission::{self, UploadSlot};
use crate::auth::{now_ms, AuthUser};
use crate::Node;

const MIB: u64 = 1024 * 1024;
/// The whole multipart request (protocol §3.7); beyond it the generic 413.
pub(super) const UPLOAD_LIMIT: usize = 50 * MIB as usize;
/// Longest original file name, in UTF-8 bytes (protocol §5.1).
const MAX_NAME_BYTES: usize = 255;

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

const TOO_MANY_UPLOADS: &str = "진행 중인 업로드가 너무 많습니다. 잠시 후 다시 시도해주세요.";
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

// ---- intake ---------------------------------------------------------------------------------

/// One uploaded part, validated and streamed to a staged file (at most its cap).
pub(super) struct Part {
    /// `/` and `\` removed, NFC-normalised, 1..=255 UTF-8 bytes.
    pub originalname: String,
    /// The part's Content-Type, lowercased, without parameters.
    pub mimetype: String,
    /// Lowercased extension of the original name.
    pub ext: Option<String>,
    /// The bytes, on disk in this node's blob directory; removed if the part is dropped.
    pub staged: StagedBlob,
    /// The upload's slot, held until the request ends.
    pub slot: UploadSlot,
}

/// What an endpoint accepts, decided from a part's headers before any byte is read.
pub(super) struct Rules {
    /// The multipart part to read (`file`, `profileImage`).
    pub field: &'static str,
    /// Answer when the part is missing or empty.
    pub missing: &'static str,
    /// The type check: the size cap for this MIME type and extension, or a refusal.
    pub check: fn(mimetype: &str, ext: Option<&str>) -> Result<u64, ApiError>,
    /// Answer when the part exceeds its cap.
    pub too_large: fn(cap: u64) -> ApiError,
}

pub(super) fn bad_request(message: impl Into<Cow<'static, str>>) -> ApiError {
    ApiError::refused(StatusCode::BAD_REQUEST, message)
}

/// Read the `rules.field` part of `user_id`'s multipart request, chunk by chunk into a
/// staged file in this node's blob directory (one chunk in memory at a time), once the
/// upload has a slot (`upload_admission.rs`). On a refusal the rest of the request is
/// still read (bounded by [`UPLOAD_LIMIT`]) and discarded, so the client gets the answer
/// instead of a reset connection, and the staged file is gone.
pub(super) async fn read_part(
    node: &Node,
    user_id: &str,
    multipart: Result<Multipart, MultipartRejection>,
    rules: &Rules,
) -> Result<Part, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        tracing::debug!(reason = %e.body_text(), "not a multipart request");
        ApiError::InvalidRequest
    })?;
    let result = match node.upload_slots.try_take(user_id) {
        Ok(slot) => loop {
            match multipart.next_field().await {
                Ok(Some(field)) if field.name() == Some(rules.field) => {
                    break read_field(node, user_id, field, rules, slot).await
                }
                Ok(Some(_)) => continue,
                Ok(None) => break Err(bad_request(rules.missing)),
                Err(e) => return Err(multipart_error(e)),
            }
        },
        Err(limit) => {
            node.metrics.limit_hit(limit);
            tracing::info!(user = %user_id, ?limit, "upload refused: too many in progress");
            Err(ApiError::Throttled { message: TOO_MANY_UPLOADS, retry_after_secs: upload_admission::RETRY_AFTER_SECS })
        }
    };
    if result.is_err() {
        drain(&mut multipart).await;
    }
    result
}

async fn read_field(
    node: &Node,
    user_id: &str,
    mut field: Field<'_>,
    rules: &Rules,
    slot: UploadSlot,
) -> Result<Part, ApiError> {
    let raw_name = field.file_name().unwrap_or_default().to_owned();
    let mimetype = essence(field.content_type().unwrap_or_default());
    let originalname = clean_name(&raw_name).ok_or_else(|| bad_request("파일 이름이 올바르지 않습니다."))?;
    let ext = extension(&originalname);
    let cap = (rules.check)(&mimetype, ext.as_deref())?;
    if let Some(refused) = upload_admission::over_quota(node, user_id, 0) {
        return Err(refused);
    }
    let mut staged = node.blob_copies.stage().await.map_err(|e| ApiError::internal(UPLOAD_FAILED, e))?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if staged.size() + chunk.len() as u64 > cap {
            return Err((rules.too_large)(cap));
        }
        staged.write(&chunk).await.map_err(|e| ApiError::internal(UPLOAD_FAILED, e))?;
    }
    if staged.size() == 0 {
        return Err(bad_request(rules.missing));
    }
    if let Some(refused) = upload_admission::over_quota(node, user_id, staged.size()) {
        return Err(refused);
    }
    Ok(Part { originalname, mimetype, ext, staged, slot })
}

async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

/// Over the request cap: the generic 413 envelope; anything else unparsable: 400.
fn multipart_error(e: MultipartError) -> ApiError {
    tracing::debug!(reason = %e.body_text(), "refused a multipart body");
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::FileTooLarge
    } else {
        ApiError::InvalidRequest
    }
}

/// `type/subtype` of a Content-Type, lowercased.
fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Protocol §5.2: `/` and `\` removed, NFC; `None` when empty, too long, or holding
/// control characters (which no header could carry back).
pub(super) fn clean_name(raw: &str) -> Option<String> {
    let name: String = raw.chars().filter(|c| *c != '/' && *c != '\\').nfc().collect();
    let ok = !name.trim().is_empty() && name.len() <= MAX_NAME_BYTES && !name.chars().any(char::is_control);
    ok.then_some(name)
}

pub(super) fn extension(name: &str) -> Option<String> {
    let (_, ext) = name.rsplit_once('.')?;
    (!ext.is_empty()).then(|| ext.to_lowercase())
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

pub(super) fn blob_error(e: BlobError, failure: &'static str) -> ApiError {
    match e {
        // A peer may come back, or the retry may reach a node that sees more peers.
        e @ BlobError::Unreplicated { .. } => ApiError::Unavailable { cause: e.to_string() },
        e => ApiError::internal(failure, e),
    }
}

/// Store `part` as `name` on two nodes and commit its record; on any failure the bytes
/// are removed again, so nothing unrecorded stays behind. The upload keeps its slot
/// until the record is committed (the copy to a peer is part of its cost).
pub(super) async fn store(
    node: &Node,
    user_id: &str,
    name: &BlobName,
    part: Part,
    failure: &'static str,
) -> Result<FileRecord, ApiError> {
    let Part { originalname, mimetype, staged, slot: _slot, .. } = part;
    let now = now_ms();
    let size = staged.size();
    let placement = node.blobs.put_staged(name, staged).await.map_err(|e| blob_error(e, failure))?;
    let record = FileRecord {
        id: object_id(now),
        filename: name.to_string(),
        originalname,
        mimetype,
        size,
        user: user_id.to_owned(),
        upload_date: now,
        holders: placement.holders,
        rooms: Vec::new(),
    };
    let command = Command::RecordFile { file: record.clone(), quota: Some(node.config.upload_quota_bytes()) };
    let refused = match node.cluster.propose(command).await {
        Ok(Outcome::FileRecorded) => return Ok(record),
        Ok(Outcome::UnknownUser) => ApiError::Unauthorized { jwt: None },
        Ok(Outcome::UploadQuotaExceeded { used }) => upload_admission::quota_exceeded(node, user_id, used),
        Ok(other) => ApiError::internal(failure, format!("unexpected outcome {other:?}")),
        Err(e) => ApiError::cluster(e, failure),
    };
    if let Err(e) = node.blobs.delete(name).await {
        tracing::warn!(blob = %name, error = %e, "could not remove the bytes of an unrecorded upload");
    }
    Err(refused)
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
        let exists = node.blobs.exists(&name).await.map_err(|e| blob_error(e, FILE_FAILED))?;
        (exists.then_some(file.size), Body::empty())
    } else {
        match node.blobs.get(&name).await.map_err(|e| blob_error(e, FILE_FAILED))? {
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
    fn names_are_cleaned_and_bounded() {
        assert_eq!(clean_name("a/b\\c.jpg").as_deref(), Some("abc.jpg"));
        // NFD "가" (U+1100 U+1161) becomes NFC U+AC00.
        assert_eq!(clean_name("\u{1100}\u{1161}.png").as_deref(), Some("\u{ac00}.png"));
        assert_eq!(clean_name(""), None);
        assert_eq!(clean_name("//"), None);
        assert_eq!(clean_name("a\0.jpg"), None);
        assert_eq!(clean_name(&"가".repeat(85)).map(|n| n.len()), Some(255));
        assert_eq!(clean_name(&"가".repeat(86)), None);
        assert_eq!(extension("Photo.JPG").as_deref(), Some("jpg"));
        assert_eq!(extension("archive.tar.gz").as_deref(), Some("gz"));
        assert_eq!(extension("noext"), None);
        assert_eq!(extension("trailing."), None);
    }

    #[test]
    fn chat_types_follow_the_table() {
        assert_eq!(chat_rules("image/jpeg", Some("jpeg")).ok(), Some(10 * MIB));
        assert_eq!(chat_rules("video/quicktime", Some("mov")).ok(), Some(50 * MIB));
        assert_eq!(chat_rules("application/pdf", Some("pdf")).ok(), Some(20 * MIB));
        assert!(chat_rules("image/jpeg", Some("png")).is_err());
        assert!(chat_rules("image/jpeg", None).is_err());
        assert!(chat_rules("text/plain", Some("txt")).is_err());
        assert!(chat_rules("image/svg+xml", Some("svg")).is_err());
        assert_eq!(essence("Image/PNG; charset=binary"), "image/png");
    }

    #[test]
    fn content_disposition_is_rfc5987() {
        let attachment = content_disposition(Disposition::Attachment, "보고서 1.pdf");
        assert_eq!(attachment, "attachment; filename*=UTF-8''%EB%B3%B4%EA%B3%A0%EC%84%9C%201.pdf");
        let inline = content_disposition(Disposition::Inline, "a \"b\".png");
        assert_eq!(inline, "inline; filename=\"a \\\"b\\\".png\"; filename*=UTF-8''a%20%22b%22.png");
    }
}
