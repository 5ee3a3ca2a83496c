//! Reading requests: JSON bodies and query strings whose every defect becomes one
//! clear 400 (never a panic, never a half-applied change; protocol §10.25), and the
//! client's identity for session metadata (protocol §2.3).

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;

use super::respond::ApiError;

/// Largest JSON body a REST route accepts.
pub(crate) const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// `Json<T>` whose rejections are our 400 (or 413) envelope instead of axum's text.
pub(crate) struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    tracing::debug!(reason = %rejection.body_text(), "refused a JSON body");
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge
    } else {
        ApiError::InvalidRequest
    }
}

/// `Query<T>` whose rejections are our 400 envelope.
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state).await.map(|Query(v)| Self(v)).map_err(|e: QueryRejection| {
            tracing::debug!(reason = %e.body_text(), "refused a query string");
            ApiError::InvalidRequest
        })
    }
}

/// Who is calling, for session metadata: user agent and client IP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientMeta {
    pub user_agent: String,
    pub ip: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(client_meta(&parts.headers, peer))
    }
}

/// The client IP is the first `X-Forwarded-For` entry, else `X-Real-IP`, else the
/// peer address (the load balancer sets the headers).
pub(crate) fn client_meta(headers: &HeaderMap, peer: Option<SocketAddr>) -> ClientMeta {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let forwarded = header("x-forwarded-for").and_then(|v| v.split(',').next()).map(str::trim);
    let ip = forwarded
        .filter(|v| !v.is_empty())
        .or_else(|| header("x-real-ip").filter(|v| !v.is_empty()))
        .map(str::to_owned)
        .or_else(|| peer.map(|p| p.ip().to_string()))
        .unwrap_or_default();
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    ClientMeta { user_agent, ip }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn client_ip_prefers_forwarded_then_real_ip_then_peer() {
        let peer: SocketAddr = "10.0.0.9:4000".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(client_meta(&headers, Some(peer)).ip, "10.0.0.9");
        headers.insert("x-real-ip", HeaderValue::from_static("10.0.0.7"));
        assert_eq!(client_meta(&headers, Some(peer)).ip, "10.0.0.7");
        headers.insert("x-forwarded-for", HeaderValue::from_static(" 203.0.113.5, 10.0.0.1"));
        headers.insert(USER_AGENT, HeaderValue::from_static("curl/8"));
        assert_eq!(
            client_meta(&headers, Some(peer)),
            ClientMeta { user_agent: "curl/8".into(), ip: "203.0.113.5".into() }
        );
        assert_eq!(client_meta(&HeaderMap::new(), None), ClientMeta::default());
    }
}
