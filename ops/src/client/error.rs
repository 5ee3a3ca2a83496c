//! What can go wrong talking to the public API, in the terms callers branch on: the
//! endpoint (for per-endpoint counts) and whether a real client would retry.

/// A failed REST call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The server answered with a non-success status.
    #[error("{endpoint}: HTTP {status}: {message}")]
    Status { endpoint: String, status: u16, message: String },
    /// No answer: connection refused or reset, timeout.
    #[error("{endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    /// A success status with a body that is not what the protocol promises.
    #[error("{endpoint}: unexpected answer: {message}")]
    Unexpected { endpoint: String, message: String },
}

impl ApiError {
    /// The endpoint label, e.g. `POST /api/auth/login`.
    pub fn endpoint(&self) -> &str {
        match self {
            ApiError::Status { endpoint, .. }
            | ApiError::Transport { endpoint, .. }
            | ApiError::Unexpected { endpoint, .. } => endpoint,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the web client would retry it (protocol §3.1: 408, 429, 5xx and
    /// network errors).
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            ApiError::Transport { .. } => true,
            ApiError::Unexpected { .. } => false,
        }
    }
}

/// A failed Socket.IO connection or emit.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SocketError {
    /// The server refused the CONNECT (`connect_error`), e.g. `Invalid session`.
    #[error("connection refused by the server: {message}")]
    Refused { message: String },
    /// The websocket could not be opened or broke during the handshake.
    #[error("websocket: {message}")]
    Transport { message: String },
    /// The server spoke something other than Engine.IO v4 / Socket.IO v5.
    #[error("protocol: {message}")]
    Protocol { message: String },
    /// The handshake did not finish in time.
    #[error("no Socket.IO connection within {ms} ms")]
    Timeout { ms: u128 },
    /// The connection has ended; nothing more can be sent on it.
    #[error("the socket is closed")]
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> ApiError {
        ApiError::Status { endpoint: "GET /api/rooms".into(), status, message: String::new() }
    }

    #[test]
    fn retries_what_the_web_client_retries() {
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(status(408).is_retryable());
        assert!(!status(401).is_retryable());
        assert!(!status(409).is_retryable());
        let lost = ApiError::Transport { endpoint: "x".into(), message: "reset".into() };
        assert!(lost.is_retryable());
        assert_eq!(lost.endpoint(), "x");
    }
}
