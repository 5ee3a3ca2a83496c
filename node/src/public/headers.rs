//! Response headers every answer of the client listeners carries (issue 12): the
//! browser-side defences that cost a client nothing, and `Cache-Control: no-store` on
//! `/api` answers that did not choose their own caching.
//!
//! - `X-Content-Type-Options: nosniff`: an uploaded file is served with its stored type
//!   and never re-sniffed into HTML or script.
//! - `Referrer-Policy: no-referrer`: file URLs carry `?token=` (protocol §2.1); a page
//!   or PDF opened from one must not hand that URL to another site in `Referer`.
//! - `X-Frame-Options: DENY`: no page of ours is meant to be framed (the console is
//!   its own top-level page), so none can be clickjacked. Downloads
//!   (`/api/files/download/`) are left out: clients fetch them through a hidden iframe
//!   (protocol §2.1) and an attachment is saved, never rendered.
//! - `Cache-Control: no-store` on `/api/**` answers without one: they carry users,
//!   emails and tokens, which no shared or disk cache should keep. Handlers that cache
//!   on purpose (files, the room list, public profile images) set their own.

use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::rest::is_api;

/// Middleware on the public and the Socket.IO listener.
pub(crate) async fn protect(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let (api, download) = (is_api(path), path.starts_with("/api/files/download/"));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !download {
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if api && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
