//! Reading requests: JSON bodies and query strings whose every defect becomes one
//! clear 400 (never a panic, never a half-applied change; protocol §10.25), and the
//! client's identity for session metadata (protocol §2.3).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;

use super::respond::ApiError;
use crate::Node;

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

impl FromRequestParts<Arc<Node>> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, node: &Arc<Node>) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(client_meta(&parts.headers, peer, node.config.trusted_proxy_hops))
    }
}

/// The client IP, given `hops` trusted reverse proxies (`--trusted-proxy-hops`): each
/// proxy appends the address it received the request from to `X-Forwarded-For`, so
/// only the last `hops` entries were written by someone we trust. Reading the peer
/// address and then the header from the right, the address `hops` steps back is the
/// client; a shorter chain gives its leftmost entry. With 0 hops the header (which any
/// client can write) is ignored and the peer address is the client.
pub(crate) fn client_meta(headers: &HeaderMap, peer: Option<SocketAddr>, hops: usize) -> ClientMeta {
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let mut chain: Vec<String> = forwarded
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect();
    chain.extend(peer.map(|p| p.ip().to_string()));
    let ip = if hops == 0 {
        peer.map(|p| p.ip().to_string()).unwrap_or_default()
    } else {
        chain
            .len()
            .checked_sub(1 + hops)
            .map_or_else(|| chain.first().cloned(), |at| chain.get(at).cloned())
            .unwrap_or_default()
    };
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    ClientMeta { user_agent, ip }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_client_ip_is_read_back_through_the_trusted_hops_only() {
        let peer: SocketAddr = "10.0.0.9:4000".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(client_meta(&headers, Some(peer), 0).ip, "10.0.0.9");
        assert_eq!(client_meta(&headers, Some(peer), 1).ip, "10.0.0.9", "no header: the peer");
        headers.insert("x-forwarded-for", HeaderValue::from_static(" 198.51.100.1, 203.0.113.5 ,10.0.0.1"));
        headers.insert(USER_AGENT, HeaderValue::from_static("curl/8"));
        assert_eq!(
            client_meta(&headers, Some(peer), 0),
            ClientMeta { user_agent: "curl/8".into(), ip: "10.0.0.9".into() },
            "0 hops: a client-written header is ignored"
        );
        assert_eq!(client_meta(&headers, Some(peer), 1).ip, "10.0.0.1", "the proxy's view of its client");
        assert_eq!(client_meta(&headers, Some(peer), 2).ip, "203.0.113.5");
        assert_eq!(client_meta(&headers, Some(peer), 3).ip, "198.51.100.1");
        assert_eq!(client_meta(&headers, Some(peer), 9).ip, "198.51.100.1", "a short chain: its leftmost entry");
        headers.insert("x-real-ip", HeaderValue::from_static("192.0.2.1"));
        assert_eq!(client_meta(&headers, Some(peer), 1).ip, "10.0.0.1", "X-Real-IP is not trusted");
        assert_eq!(client_meta(&HeaderMap::new(), None, 0), ClientMeta::default());
    }
}
