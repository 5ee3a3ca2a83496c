//! Blob copies between nodes (the embedded blob store, chat-storage `blobs`):
//! `PUT /cluster/blobs/{name}` stores a copy here, `GET` (and `HEAD`) serves this
//! node's copy, `DELETE` removes it. Only this node's own directory is touched: a copy
//! received from a peer is never forwarded again. Names are validated like every
//! client-supplied name (the secret is checked by the router before this runs).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chat_storage::blobs::MAX_BLOB_BYTES;
use chat_storage::{BlobName, BlobStore};
use futures::StreamExt;

use crate::Node;

fn bad_name() -> Response {
    (StatusCode::BAD_REQUEST, "not a blob name").into_response()
}

fn failed(e: chat_storage::BlobError) -> Response {
    tracing::error!(error = %e, "blob copy i/o failed");
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

/// The copy is streamed to a staged file in this node's blob directory (at most
/// [`MAX_BLOB_BYTES`]), then moved into place: a copy costs one chunk of memory, and an
/// aborted or oversized one leaves no file.
pub(super) async fn put(State(node): State<Arc<Node>>, Path(name): Path<String>, body: Body) -> Response {
    let Ok(name) = BlobName::parse(&name) else {
        return bad_name();
    };
    let mut staged = match node.blob_copies.stage().await {
        Ok(staged) => staged,
        Err(e) => return failed(e.into()),
    };
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else {
            tracing::warn!(blob = %name, "a peer's blob copy was cut off");
            return (StatusCode::BAD_REQUEST, "body cut off").into_response();
        };
        if staged.size() + chunk.len() as u64 > MAX_BLOB_BYTES {
            return (StatusCode::PAYLOAD_TOO_LARGE, "blob over the size cap").into_response();
        }
        if let Err(e) = staged.write(&chunk).await {
            return failed(e.into());
        }
    }
    let size = staged.size();
    match node.blob_copies.put_staged(&name, staged).await {
        Ok(_) => {
            tracing::debug!(blob = %name, size, "stored a blob copy for a peer");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => failed(e),
    }
}

pub(super) async fn get(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Response {
    let Ok(name) = BlobName::parse(&name) else {
        return bad_name();
    };
    match node.blob_copies.get(&name).await {
        Ok(Some(blob)) => {
            node.metrics.blob_reads_served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut response = Response::new(Body::from_stream(blob.body));
            response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(blob.size));
            response
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => failed(e),
    }
}

pub(super) async fn delete(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Response {
    let Ok(name) = BlobName::parse(&name) else {
        return bad_name();
    };
    match node.blob_copies.delete(&name).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => failed(e),
    }
}
