//! The API's self-description (`GET /api`, protocol §3.8), the message-history REST
//! placeholder the contract keeps answering 500 (history is socket-only), and the
//! empty 404 for unknown `/api` paths.

use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth_routes::route_summary;
use super::respond::ApiError;
use super::room_view::iso_ms;
use crate::auth::{now_ms, AuthUser};

pub(super) async fn api(_: AuthUser) -> Json<Value> {
    Json(json!({
        "name": "Chat App API",
        "version": "1.0.0",
        "timestamp": iso_ms(now_ms()),
        "endpoints": {
            "auth": { "base": "/auth", "routes": route_summary() },
            "users": "/users",
            "rooms": "/rooms",
            "files": "/files",
            "message": "/message",
            "ai": "/ai"
        }
    }))
}

/// `GET /api/message/rooms/{roomId}/messages`: always 500 "미구현." by contract.
pub(super) async fn message_history() -> ApiError {
    ApiError::refused(StatusCode::INTERNAL_SERVER_ERROR, "미구현.")
}

/// Unknown `/api` path: reached only with a valid token (the guard answered 401
/// otherwise on protected paths), so an empty 404 (protocol §3.7).
pub(super) async fn not_found() -> ApiError {
    ApiError::NotFound
}
