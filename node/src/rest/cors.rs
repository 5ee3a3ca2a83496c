//! CORS for `/api/**` (protocol §1.2): any origin with credentials, so the request's
//! `Origin` is echoed (a `*` would be refused by browsers sending credentials). The
//! headers go on every answer, 401/404/5xx included, because the web client must be
//! able to read `status === 401`; preflights are answered here, before any auth.

use axum::extract::Request;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::guard::is_api;

const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Content-Type, Authorization, x-auth-token, x-session-id, Cache-Control, Pragma";
const EXPOSE_HEADERS: &str = "x-auth-token, x-session-id";
const MAX_AGE_SECS: &str = "3600";

/// Middleware: answer preflights, decorate every other `/api` response.
pub(crate) async fn cors(request: Request, next: Next) -> Response {
    // Socket.IO's polling transport is plain HTTP too: a browser on another origin
    // needs the same answers (protocol §1.2: Socket.IO accepts any origin).
    let path = request.uri().path();
    if !is_api(path) && !path.starts_with("/socket.io/") {
        return next.run(request).await;
    }
    let origin = request.headers().get(ORIGIN).cloned();
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        decorate(headers, origin);
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECS));
        return response;
    }
    let mut response = next.run(request).await;
    decorate(response.headers_mut(), origin);
    response
}

fn decorate(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    // The answer depends on Origin, so shared caches must key on it.
    headers.append(VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin else {
        return; // not a cross-origin request: nothing to allow
    };
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    // A handler may expose headers of its own (file downloads expose
    // Content-Disposition); keep them next to ours.
    let exposed = match headers.get(ACCESS_CONTROL_EXPOSE_HEADERS).and_then(|v| v.to_str().ok()) {
        Some(own) if !own.is_empty() => HeaderValue::from_str(&format!("{EXPOSE_HEADERS}, {own}"))
            .unwrap_or(HeaderValue::from_static(EXPOSE_HEADERS)),
        _ => HeaderValue::from_static(EXPOSE_HEADERS),
    };
    headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, exposed);
}
