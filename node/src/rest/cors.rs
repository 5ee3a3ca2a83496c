//! CORS for `/api/**` and Socket.IO's polling requests (protocol §1.2). The headers go
//! on every answer, 401/404/5xx included, because the web client must be able to read
//! `status === 401`; preflights are answered here, before any auth.
//!
//! Which origins: without `--cors-origins`, any origin, echoed with credentials, as the
//! contract requires (a `*` would be refused by browsers sending credentials, and the
//! web client uses `withCredentials`). That is safe here because the node never sets a
//! cookie and never asks for HTTP auth: a credentialed request carries nothing a page
//! of another origin could not send anyway, and the token lives in a header only a
//! page that holds it can add. With `--cors-origins`, only the listed origins get CORS
//! headers (still with credentials); a request from any other origin gets none, so the
//! browser hides the answer from that page, and its preflight gets 403. Requests
//! without `Origin` (same-origin pages such as the console, non-browser clients) are
//! never affected.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::guard::is_api;
use crate::metrics::Limit;
use crate::Node;

const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Content-Type, Authorization, x-auth-token, x-session-id, Cache-Control, Pragma";
const EXPOSE_HEADERS: &str = "x-auth-token, x-session-id";
const MAX_AGE_SECS: &str = "3600";

/// Middleware: answer preflights, decorate every other `/api` response.
pub(crate) async fn cors(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    // Socket.IO's polling transport is plain HTTP too: a browser on another origin
    // needs the same answers.
    let path = request.uri().path();
    if !is_api(path) && !path.starts_with("/socket.io/") {
        return next.run(request).await;
    }
    let origin = request.headers().get(ORIGIN).cloned();
    let cross_origin = origin.is_some();
    let allowed = match origin {
        Some(origin) if allows(&node.config.cors_origins, &origin) => Some(origin),
        Some(_) => {
            node.metrics.limit_hit(Limit::CorsOrigin);
            None
        }
        None => None,
    };
    if request.method() == Method::OPTIONS {
        if cross_origin && allowed.is_none() {
            let mut response = StatusCode::FORBIDDEN.into_response();
            response.headers_mut().append(VARY, HeaderValue::from_static("Origin"));
            return response;
        }
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        decorate(headers, allowed);
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECS));
        return response;
    }
    let mut response = next.run(request).await;
    decorate(response.headers_mut(), allowed);
    response
}

/// Whether `origin` may read our answers: any origin when no list is configured,
/// otherwise an exact (ASCII case-insensitive) match with a listed one.
fn allows(listed: &[String], origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    listed.is_empty() || listed.iter().any(|l| l.eq_ignore_ascii_case(origin))
}

fn decorate(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    // The answer depends on Origin, so shared caches must key on it.
    headers.append(VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin else {
        return; // not a cross-origin request, or one from an origin not listed
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_the_list_exactly_or_anything_without_one() {
        let origin = HeaderValue::from_static("https://chat.example.com");
        assert!(allows(&[], &origin));
        assert!(allows(&["https://chat.example.com".into()], &origin));
        assert!(allows(&["HTTPS://Chat.Example.com".into()], &origin));
        assert!(!allows(&["https://chat.example.com:8443".into()], &origin));
        assert!(!allows(&["https://chat.example.com.evil.net".into()], &origin));
        assert!(!allows(&["http://chat.example.com".into()], &origin));
    }
}
