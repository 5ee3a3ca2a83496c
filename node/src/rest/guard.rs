//! The REST auth layer (protocol §2.1, §2.4): which `/api` paths need a token, where a
//! token is looked for, and the middleware that checks it on every `/api` request.
//!
//! A request carrying a token is checked even on public paths, and a bad one gets 401
//! with an empty body there too: the web client pings `/api/health` with its stored
//! token and takes 401 as "logged out". An accepted token puts its [`AuthUser`] into
//! the request, where handlers extract it.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::field::Empty;
use tracing::Instrument;

use super::respond::{finish, render, ApiError};
use crate::auth::{session, AuthUser};
use crate::Node;

/// Paths under `/api` that need no token (protocol §2.4, and §5.4 for uploads).
const PUBLIC_EXACT: &[&str] = &["/api/health", "/api/auth", "/api/swagger-ui.html", "/api/v3/api-docs"];
const PUBLIC_PREFIXES: &[&str] =
    &["/api/auth/", "/api/v3/api-docs/", "/api/swagger-ui/", "/api/docs/", "/api/uploads/"];

pub(crate) fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Whether a request without a token is refused.
pub(crate) fn is_protected(path: &str) -> bool {
    is_api(path) && !PUBLIC_EXACT.contains(&path) && !PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Paths where `?token=` is read: the file URLs that `<img>`, `<video>`, `window.open`
/// and download iframes load, which cannot send headers (protocol §2.1). Anywhere else a
/// token in the URL would end up in access logs, proxies and browser history for no
/// client's benefit, so it is not looked at (a request with only `?token=` is anonymous).
const QUERY_TOKEN_PREFIXES: &[&str] = &["/api/files/download/", "/api/files/view/"];

fn takes_query_token(path: &str) -> bool {
    QUERY_TOKEN_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// The token of a request to `path`, looked up in the contract's order: `x-auth-token`,
/// then `?token=` (file URLs only), then `Authorization: Bearer`. Blank values count as
/// absent.
pub(crate) fn request_token(path: &str, headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let query = query.filter(|_| takes_query_token(path));
    header_value(headers, "x-auth-token").or_else(|| query_param(query, "token")).or_else(|| bearer(headers))
}

/// The token as verify-token and refresh-token read it: headers only.
pub(crate) fn header_token(headers: &HeaderMap) -> Option<String> {
    header_value(headers, "x-auth-token").or_else(|| bearer(headers))
}

/// The session id logout, verify-token and refresh-token read: `x-session-id`, then
/// `?sessionId=`.
pub(crate) fn session_id_param(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    header_value(headers, "x-session-id").or_else(|| query_param(query, "sessionId"))
}

fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, value)| key == name && !value.trim().is_empty())
        .map(|(_, value)| value.trim().to_owned())
}

/// Middleware on the whole public router; acts on `/api/**` (and `/favicon*`).
pub(crate) async fn guard(State(node): State<Arc<Node>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/favicon") {
        return StatusCode::OK.into_response(); // protocol §3.8: browsers ask; nothing to serve
    }
    if !is_api(&path) {
        return next.run(request).await;
    }
    let span = tracing::debug_span!("rest", node = node.config.id, method = %request.method(), path, user = Empty);
    async move {
        match request_token(&path, request.headers(), request.uri().query()) {
            Some(token) => match session::validate(&node, &token, None).await {
                Ok(user) => {
                    tracing::Span::current().record("user", user.user.id.as_str());
                    request.extensions_mut().insert(user);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "token refused");
                    return render(ApiError::from_auth(e), &path);
                }
            },
            None if is_protected(&path) => return render(ApiError::Unauthorized { jwt: None }, &path),
            None => {}
        }
        finish(next.run(request).await, &path)
    }
    .instrument(span)
    .await
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    /// Protected routes always have one (the guard refused the request otherwise).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<AuthUser>().cloned().ok_or(ApiError::Unauthorized { jwt: None })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<AuthUser>().cloned())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn token_sources_are_tried_in_the_contract_order() {
        let file = "/api/files/view/a.png";
        let all = headers(&[("x-auth-token", "from-header"), ("authorization", "Bearer from-bearer")]);
        assert_eq!(request_token(file, &all, Some("token=from-query")).as_deref(), Some("from-header"));
        let no_header = headers(&[("authorization", "Bearer from-bearer")]);
        assert_eq!(request_token(file, &no_header, Some("a=1&token=from%2Dquery")).as_deref(), Some("from-query"));
        assert_eq!(request_token(file, &no_header, Some("token=")).as_deref(), Some("from-bearer"));
        assert_eq!(request_token(file, &headers(&[("x-auth-token", "  ")]), None), None);
        assert_eq!(request_token(file, &headers(&[("authorization", "Basic abc")]), None), None);
        assert_eq!(request_token(file, &headers(&[("authorization", "bearer abc")]), None).as_deref(), Some("abc"));
        // Elsewhere ?token= is not read.
        let query_only = Some("token=from-query");
        assert_eq!(
            request_token("/api/files/download/a.png", &HeaderMap::new(), query_only).as_deref(),
            Some("from-query")
        );
        for path in
            ["/api/rooms", "/api/users/profile", "/api/files/upload", "/api/health", "/api/uploads/profiles/x.png"]
        {
            assert_eq!(request_token(path, &HeaderMap::new(), query_only), None, "{path}");
        }
        assert_eq!(request_token("/api/rooms", &no_header, query_only).as_deref(), Some("from-bearer"));
        // verify-token and refresh-token ignore ?token=.
        assert_eq!(header_token(&no_header).as_deref(), Some("from-bearer"));
        assert_eq!(header_token(&HeaderMap::new()), None);
    }

    #[test]
    fn session_ids_come_from_the_header_then_the_query() {
        let h = headers(&[("x-session-id", "abc")]);
        assert_eq!(session_id_param(&h, Some("sessionId=def")).as_deref(), Some("abc"));
        assert_eq!(session_id_param(&HeaderMap::new(), Some("sessionId=def")).as_deref(), Some("def"));
        assert_eq!(session_id_param(&HeaderMap::new(), None), None);
    }

    #[test]
    fn protected_paths_follow_the_contract() {
        for path in ["/api", "/api/", "/api/users/status", "/api/rooms", "/api/rooms/health", "/api/nope"] {
            assert!(is_protected(path), "{path} must need a token");
        }
        for path in ["/api/health", "/api/auth", "/api/auth/login", "/api/uploads/profiles/x.png", "/actuator/health"] {
            assert!(!is_protected(path), "{path} must be public");
        }
        assert!(!is_api("/apix") && !is_protected("/apix"));
    }
}
