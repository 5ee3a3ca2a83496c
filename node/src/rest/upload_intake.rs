//! The intake of an upload, shared by chat uploads (`files.rs`) and profile images
//! (`profile_image.rs`): its slot (`upload_admission.rs`), the multipart part streamed
//! to a staged file with the endpoint's checks on the fly, and its storing: the bytes on
//! two nodes, then the committed [`FileRecord`].
//!
//! Why streamed: a part of up to 50 MiB used to be collected whole in memory, and with
//! several at once a node's memory grew by their sum; a staged file costs one chunk of
//! memory at a time, and a refused or cut-off upload leaves nothing (issue 12).

use std::borrow::Cow;

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::Multipart;
use axum::http::StatusCode;
use chat_raft::state::FileRecord;
use chat_raft::{Command, Outcome};
use chat_storage::blobs::StagedBlob;
use chat_storage::{BlobError, BlobName};
use unicode_normalization::UnicodeNormalization;

use super::ids::object_id;
use super::respond::ApiError;
use super::upload_admission::{self, UploadSlot};
use crate::auth::now_ms;
use crate::metrics::Limit;
use crate::Node;

/// The whole multipart request (protocol §3.7); beyond it the generic 413.
pub(super) const UPLOAD_LIMIT: usize = 50 * 1024 * 1024;
/// Longest original file name, in UTF-8 bytes (protocol §5.1).
const MAX_NAME_BYTES: usize = 255;
const TOO_MANY_UPLOADS: &str = "진행 중인 업로드가 너무 많습니다. 잠시 후 다시 시도해주세요.";

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
    /// The endpoint's 500 message when this node fails to take the upload in.
    pub failure: &'static str,
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
    let mut staged = node.blob_copies.stage().await.map_err(|e| ApiError::internal(rules.failure, e))?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if staged.size() + chunk.len() as u64 > cap {
            return Err((rules.too_large)(cap));
        }
        staged.write(&chunk).await.map_err(|e| ApiError::internal(rules.failure, e))?;
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

pub(super) fn blob_error(node: &Node, e: BlobError, failure: &'static str) -> ApiError {
    match e {
        // Too many reads already wait on peers here: retry in a moment.
        BlobError::Busy => {
            node.metrics.limit_hit(Limit::PeerBlobReads);
            ApiError::Busy { retry_after_secs: 1 }
        }
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
    let placement = node.blobs.put_staged(name, staged).await.map_err(|e| blob_error(node, e, failure))?;
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
        assert_eq!(essence("Image/PNG; charset=binary"), "image/png");
    }
}
