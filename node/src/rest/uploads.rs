//! `GET /api/uploads/**` (protocol §5.4): profile images, public so `<img>` tags load
//! them (protocol §10.21). Any node serves any image: the blob store fetches it from a
//! holder when this node has no copy. A missing image is 404 with an empty body; a name
//! the server could not have generated is 400 before anything is touched.
//!
//! The route needs no token, so a miss must cost nothing: a name no committed record
//! knows as a profile image is 404 from the local replica, without asking any peer
//! (counted in `chat_profile_images_unknown_total`). Only a recorded image this node
//! lacks is read from its holders, within the blob store's bounds (time and reads in
//! progress; over the bound: 503 `SERVER_BUSY`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chat_storage::BlobName;

use super::files::BAD_NAME;
use super::respond::ApiError;
use super::upload_intake::{bad_request, blob_error};
use crate::Node;

const FAILED: &str = "파일 처리 중 오류가 발생했습니다.";

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new().route("/api/uploads/{*path}", get(serve))
}

async fn serve(
    State(node): State<Arc<Node>>,
    method: Method,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = match path.map(|Path(p)| BlobName::parse(&p)) {
        Ok(Ok(name)) if name.is_profile() => name,
        _ => return Err(bad_request(BAD_NAME)),
    };
    let recorded =
        node.cluster.read_local(|s| s.files.by_filename(name.as_str()).is_some_and(|f| f.is_profile_image()));
    if !recorded {
        node.metrics.profile_images_unknown.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::NotFound);
    }
    // HEAD opens the blob too (its size), then drops the body unread.
    let (size, body) = match node.blobs.get(&name).await.map_err(|e| blob_error(&node, e, FAILED))? {
        Some(blob) if method == Method::HEAD => (Some(blob.size), Body::empty()),
        Some(blob) => (Some(blob.size), Body::from_stream(blob.body)),
        None => (None, Body::empty()),
    };
    let Some(size) = size else {
        return Err(ApiError::NotFound);
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(image_type(name.extension())));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
    // Every upload gets a new name, so a name's bytes never change.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    Ok(response)
}

fn image_type(ext: Option<&str>) -> &'static str {
    match ext {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}
