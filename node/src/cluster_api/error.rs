//! The one place where cluster errors become HTTP answers on the cluster listener.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chat_raft::api::ErrorBody;
use chat_raft::client::NOT_LEADER;

/// A `chat_raft::Error` on its way to an HTTP client.
pub(crate) struct ApiError(pub chat_raft::Error);

impl From<chat_raft::Error> for ApiError {
    fn from(e: chat_raft::Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use chat_raft::Error as E;
        let (status, leader) = match &self.0 {
            E::NotLeader { leader } => (NOT_LEADER, *leader),
            E::NoLeader | E::Stale => (StatusCode::SERVICE_UNAVAILABLE, None),
            E::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, None),
            E::Invalid(_) => (StatusCode::BAD_REQUEST, None),
            E::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, None),
            E::Network(_) | E::Remote { .. } => (StatusCode::BAD_GATEWAY, None),
            E::Storage(_) | E::Raft(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        // The client re-wraps the text in the variant the status implies; send the
        // bare reason for invalid requests so it does not read "invalid request" twice.
        let error = match self.0 {
            E::Invalid(reason) => reason,
            other => other.to_string(),
        };
        (status, Json(ErrorBody { error, leader })).into_response()
    }
}
