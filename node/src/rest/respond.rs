//! Response envelopes (protocol §3.1) and the one place where a failure becomes an
//! HTTP response ([`render`]).
//!
//! Handlers return `Result<Response, ApiError>`. Some envelopes carry the request
//! `path`, which a handler does not know, so [`ApiError`]'s `IntoResponse` only parks
//! the error in the response's extensions; the REST guard, which sees every `/api`
//! request, then calls [`finish`] to render it with the path. Client-facing texts are
//! the contract's; causes are logged, never sent.

use std::borrow::Cow;

use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::AuthError;

/// Message of the generic error envelope (protocol §3.1).
const INTERNAL_MESSAGE: &str = "서버 내부 오류가 발생했습니다.";
/// Message of the auth endpoints' validation envelope.
const VALIDATION_MESSAGE: &str = "입력값이 올바르지 않습니다.";
/// Our answer to unparsable input (protocol §10.25: the existing backend says 500).
const INVALID_REQUEST_MESSAGE: &str = "잘못된 요청 형식입니다.";
const TOO_LARGE_MESSAGE: &str = "요청 본문이 너무 큽니다.";
const FILE_TOO_LARGE_MESSAGE: &str = "파일 크기는 5MB를 초과할 수 없습니다.";
/// Our answer when this node is saturated (password hashing in a login storm).
const BUSY_MESSAGE: &str = "요청이 많아 처리할 수 없습니다. 잠시 후 다시 시도해 주세요.";

/// One failed field of a validation envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FieldError {
    pub field: &'static str,
    pub message: &'static str,
}

/// Every way a REST request can fail.
#[derive(Debug, Clone)]
pub(crate) enum ApiError {
    /// 401 with an empty body (protocol §2.4); `jwt` describes a token failure
    /// (`error="invalid_token"`), `None` a missing token or a dead session.
    Unauthorized { jwt: Option<String> },
    /// 404 with an empty body: unknown authenticated path.
    NotFound,
    /// 400 validation envelope; `auth` selects the register/login form (with
    /// `message`, without `path`).
    Validation { errors: Vec<FieldError>, auth: bool },
    /// 400: malformed JSON, wrong content type or field types, bad query values.
    InvalidRequest,
    /// 413: a JSON body over the limit.
    TooLarge,
    /// A multipart request over the 50 MiB cap: protocol §3.1's generic 413, whose
    /// message text ("5MB") is wrong but verbatim.
    FileTooLarge,
    /// A refusal with the ad-hoc body `{success:false, message, <nulls…>}`; `nulls`
    /// are fields the contract shows as `null` (e.g. `"user": null`).
    Refused { status: StatusCode, message: Cow<'static, str>, nulls: &'static [&'static str] },
    /// A refusal in the standard envelope with a machine-readable `code` and the
    /// request `path` (the admin API, banned logins); `extra` fields are added to it.
    Coded { status: StatusCode, code: &'static str, message: Cow<'static, str>, extra: Map<String, Value> },
    /// 503: the cluster cannot serve this right now (stale replica, no leader);
    /// retrying, here or on another node, can succeed.
    Unavailable { cause: String },
    /// 503 with `Retry-After`: this node is saturated (a login storm beyond what its
    /// password hashing can do in time); answered at once instead of timing out.
    Busy { retry_after_secs: u64 },
    /// 429 with `Retry-After` (header and `retryAfter` field) and code
    /// `TOO_MANY_REQUESTS`: a per-user or per-address limit of issue 12 (room
    /// creation, joins, wrong passwords).
    Throttled { message: &'static str, retry_after_secs: u64 },
    /// 500 with the endpoint's own failure message; `cause` is only logged.
    Internal { message: &'static str, nulls: &'static [&'static str], cause: String },
}

impl ApiError {
    pub(crate) fn refused(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Refused { status, message: message.into(), nulls: &[] }
    }

    pub(crate) fn internal(message: &'static str, cause: impl ToString) -> Self {
        Self::Internal { message, nulls: &[], cause: cause.to_string() }
    }

    pub(crate) fn coded(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Coded { status, code, message: message.into(), extra: Map::new() }
    }

    /// The same coded refusal with one more field.
    pub(crate) fn with_field(self, name: &str, value: Value) -> Self {
        match self {
            Self::Coded { status, code, message, mut extra } => {
                extra.insert(name.to_owned(), value);
                Self::Coded { status, code, message, extra }
            }
            other => other,
        }
    }

    /// A failed cluster read or write: "go elsewhere / retry" cases become 503, the
    /// rest the endpoint's 500 `failure` message.
    pub(crate) fn cluster(e: chat_raft::Error, failure: &'static str) -> Self {
        if e.is_retryable() {
            Self::Unavailable { cause: e.to_string() }
        } else {
            Self::internal(failure, e)
        }
    }

    /// A failed password hash or check: saturation becomes [`ApiError::Busy`], the
    /// rest the endpoint's 500 `failure` message.
    pub(crate) fn password(e: crate::auth::password::PasswordError, failure: &'static str) -> Self {
        match e {
            crate::auth::password::PasswordError::Busy { retry_after_secs } => Self::Busy { retry_after_secs },
            other => Self::internal(failure, other),
        }
    }

    /// The same failure with extra `null` fields in its ad-hoc body.
    pub(crate) fn with_nulls(self, extra: &'static [&'static str]) -> Self {
        match self {
            Self::Refused { status, message, .. } => Self::Refused { status, message, nulls: extra },
            Self::Internal { message, cause, .. } => Self::Internal { message, nulls: extra, cause },
            other => other,
        }
    }

    /// The REST answer to a refused token or session (protocol §2.4).
    pub(crate) fn from_auth(e: AuthError) -> Self {
        match e {
            AuthError::Token(jwt) => Self::Unauthorized { jwt: Some(jwt.to_string()) },
            AuthError::Session | AuthError::UserNotFound | AuthError::Banned => Self::Unauthorized { jwt: None },
            AuthError::Unavailable(e) => Self::Unavailable { cause: e.to_string() },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Parked for `finish`; the status is only a fallback should it be bypassed.
        let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Render an error parked by a handler, now that the request path is known.
pub(crate) fn finish(mut response: Response, path: &str) -> Response {
    match response.extensions_mut().remove::<ApiError>() {
        Some(error) => render(error, path),
        None => response,
    }
}

/// The one mapping from failures to responses.
pub(crate) fn render(error: ApiError, path: &str) -> Response {
    match error {
        ApiError::Unauthorized { jwt } => {
            let challenge = match jwt {
                Some(description) => {
                    format!("Bearer error=\"invalid_token\", error_description=\"{}\"", description.replace('"', "'"))
                }
                None => "Bearer".to_owned(),
            };
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            let value = HeaderValue::from_str(&challenge).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
            response
        }
        ApiError::NotFound => StatusCode::NOT_FOUND.into_response(),
        ApiError::Validation { errors, auth: true } => {
            let body = Envelope { message: Some(VALIDATION_MESSAGE), errors: Some(errors), ..Envelope::failed() };
            (StatusCode::BAD_REQUEST, Json(Envelope { code: Some("VALIDATION_ERROR"), ..body })).into_response()
        }
        ApiError::Validation { errors, auth: false } => {
            let body = Envelope {
                errors: Some(errors),
                code: Some("VALIDATION_ERROR"),
                path: Some(path),
                ..Envelope::failed()
            };
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
        ApiError::InvalidRequest => coded(StatusCode::BAD_REQUEST, INVALID_REQUEST_MESSAGE, "INVALID_REQUEST", path),
        ApiError::TooLarge => coded(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE_MESSAGE, "PAYLOAD_TOO_LARGE", path),
        ApiError::FileTooLarge => coded(StatusCode::PAYLOAD_TOO_LARGE, FILE_TOO_LARGE_MESSAGE, "FILE_TOO_LARGE", path),
        ApiError::Refused { status, message, nulls } => ad_hoc(status, &message, nulls),
        ApiError::Coded { status, code, message, extra } => {
            let mut body = Map::new();
            body.insert("success".into(), Value::Bool(false));
            body.insert("message".into(), Value::String(message.into_owned()));
            body.insert("code".into(), Value::String(code.to_owned()));
            body.insert("path".into(), Value::String(path.to_owned()));
            body.extend(extra);
            (status, Json(Value::Object(body))).into_response()
        }
        ApiError::Unavailable { cause } => {
            tracing::warn!(path, cause, "answered 503: the cluster cannot serve this right now");
            coded(StatusCode::SERVICE_UNAVAILABLE, INTERNAL_MESSAGE, "SERVICE_UNAVAILABLE", path)
        }
        ApiError::Busy { retry_after_secs } => {
            tracing::debug!(path, retry_after_secs, "answered 503: password hashing saturated");
            let mut response = coded(StatusCode::SERVICE_UNAVAILABLE, BUSY_MESSAGE, "SERVER_BUSY", path);
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        ApiError::Throttled { message, retry_after_secs } => {
            let mut body = Map::new();
            body.insert("success".into(), Value::Bool(false));
            body.insert("message".into(), Value::String(message.to_owned()));
            body.insert("code".into(), Value::String("TOO_MANY_REQUESTS".to_owned()));
            body.insert("path".into(), Value::String(path.to_owned()));
            body.insert("retryAfter".into(), Value::from(retry_after_secs));
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(Value::Object(body))).into_response();
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        ApiError::Internal { message, nulls, cause } => {
            tracing::error!(path, cause, "request failed");
            ad_hoc(StatusCode::INTERNAL_SERVER_ERROR, message, nulls)
        }
    }
}

/// The standard envelope, nulls omitted (protocol §3.1).
#[derive(Serialize)]
struct Envelope<'a> {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<FieldError>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
}

impl Envelope<'_> {
    fn failed() -> Self {
        Self { success: false, message: None, errors: None, code: None, path: None }
    }
}

fn coded(status: StatusCode, message: &str, code: &str, path: &str) -> Response {
    let body = Envelope { message: Some(message), code: Some(code), path: Some(path), ..Envelope::failed() };
    (status, Json(body)).into_response()
}

fn ad_hoc(status: StatusCode, message: &str, nulls: &[&str]) -> Response {
    let mut body = Map::new();
    body.insert("success".into(), Value::Bool(false));
    body.insert("message".into(), Value::String(message.to_owned()));
    for field in nulls {
        body.insert((*field).to_owned(), Value::Null);
    }
    (status, Json(Value::Object(body))).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    async fn body_of(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn envelopes_match_the_contract_byte_for_byte() {
        let errors = vec![FieldError { field: "email", message: "올바른 이메일 형식이 아닙니다." }];
        let auth = render(ApiError::Validation { errors: errors.clone(), auth: true }, "/api/auth/register");
        assert_eq!(
            body_of(auth).await,
            (
                StatusCode::BAD_REQUEST,
                r#"{"success":false,"message":"입력값이 올바르지 않습니다.","errors":[{"field":"email","message":"올바른 이메일 형식이 아닙니다."}],"code":"VALIDATION_ERROR"}"#.into()
            )
        );
        let other = render(ApiError::Validation { errors, auth: false }, "/api/users/profile");
        assert_eq!(
            body_of(other).await.1,
            r#"{"success":false,"errors":[{"field":"email","message":"올바른 이메일 형식이 아닙니다."}],"code":"VALIDATION_ERROR","path":"/api/users/profile"}"#
        );
        let refused = ApiError::Refused {
            status: StatusCode::BAD_REQUEST,
            message: "토큰 또는 세션 ID가 필요합니다.".into(),
            nulls: &["user"],
        };
        assert_eq!(
            body_of(render(refused, "/x")).await.1,
            r#"{"success":false,"message":"토큰 또는 세션 ID가 필요합니다.","user":null}"#
        );
    }

    #[tokio::test]
    async fn unauthorized_is_empty_with_the_right_challenge() {
        let plain = render(ApiError::Unauthorized { jwt: None }, "/api");
        assert_eq!(plain.headers()[WWW_AUTHENTICATE], "Bearer");
        assert_eq!(body_of(plain).await, (StatusCode::UNAUTHORIZED, String::new()));
        let jwt = render(ApiError::Unauthorized { jwt: Some("The token has expired".into()) }, "/api");
        assert_eq!(
            jwt.headers()[WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\", error_description=\"The token has expired\""
        );
    }

    #[tokio::test]
    async fn parked_errors_are_rendered_with_the_path() {
        let parked = ApiError::InvalidRequest.into_response();
        let (status, body) = body_of(finish(parked, "/api/rooms")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            r#"{"success":false,"message":"잘못된 요청 형식입니다.","code":"INVALID_REQUEST","path":"/api/rooms"}"#
        );
    }
}
