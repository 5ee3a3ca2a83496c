//! `/api/rooms/**` (protocol §3.5, §4, §9) except the list (`room_list`): create, show,
//! join and the rooms health probe. Writes are one command each; the answer's view is
//! read back from the local replica, which already reflects the acknowledged write.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, EXPIRES, PRAGMA};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_raft::state::Room;
use chat_raft::{Command, Outcome};
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{ApiJson, ClientMeta};
use super::respond::ApiError;
use super::room_list;
use super::room_view::{iso_ms, RoomResponse};
use super::{ids, validate};
use crate::auth::password::{self, PasswordError};
use crate::auth::{now_ms, AuthUser};
use crate::fanout::Target;
use crate::metrics::Limit;
use crate::Node;

const ROOM_NOT_FOUND: &str = "채팅방을 찾을 수 없습니다.";
const WRONG_PASSWORD: &str = "비밀번호가 일치하지 않습니다.";
const CREATE_FAILED: &str = "채팅방 생성에 실패했습니다.";
const SHOW_FAILED: &str = "채팅방 정보를 불러오는데 실패했습니다.";
const JOIN_FAILED: &str = "채팅방 참여에 실패했습니다.";
const TOO_MANY_ROOMS: &str = "채팅방 생성 횟수 제한을 초과했습니다. 잠시 후 다시 시도해주세요.";
const TOO_MANY_JOINS: &str = "채팅방 입장/퇴장 횟수 제한을 초과했습니다. 잠시 후 다시 시도해주세요.";

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/rooms", get(room_list::list).post(create))
        .route("/api/rooms/health", get(health))
        .route("/api/rooms/{room_id}", get(show))
        .route("/api/rooms/{room_id}/join", post(join))
}

fn room_not_found() -> ApiError {
    ApiError::refused(StatusCode::NOT_FOUND, ROOM_NOT_FOUND)
}

fn wrong_password() -> ApiError {
    ApiError::refused(StatusCode::UNAUTHORIZED, WRONG_PASSWORD)
}

/// The room id of the path, or 404 for anything that cannot be one of our ids.
fn room_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.ok().map(|Path(id)| id).filter(|id| ids::is_object_id(id)).ok_or_else(room_not_found)
}

/// The current view of a room from the local replica.
async fn view(node: &Node, room_id: &str, failure: &'static str) -> Result<Option<RoomResponse>, ApiError> {
    let view = node.cluster.read(|s| s.rooms.get(room_id).map(|room| RoomResponse::build(s, room))).await;
    let mut view = view.map_err(|e| ApiError::cluster(e, failure))?;
    if let Some(room) = view.as_mut() {
        super::recent_counts::fill(node, std::slice::from_mut(room)).await;
    }
    Ok(view)
}

#[derive(Deserialize)]
struct CreateBody {
    name: Option<String>,
    password: Option<String>,
}

async fn create(
    State(node): State<Arc<Node>>,
    auth: AuthUser,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let errors = validate::room(body.name.as_deref(), body.password.as_deref());
    let Some(name) = body.name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation { errors, auth: false });
    };
    // Before the password is hashed: a refused creation costs nothing.
    let limit = node.rate_limits.room_create.check(&auth.user.id, now_ms()).await;
    if !limit.allowed {
        node.metrics.limit_hit(Limit::RoomCreate);
        return Err(ApiError::Throttled { message: TOO_MANY_ROOMS, retry_after_secs: limit.retry_after_s });
    }
    let password_hash = match body.password.filter(|p| !p.is_empty()) {
        None => None,
        Some(password) => Some(password::hash(password, node.config.bcrypt_cost).await.map_err(|e| match e {
            PasswordError::TooLong => ApiError::refused(StatusCode::BAD_REQUEST, e.to_string()),
            other => ApiError::password(other, CREATE_FAILED),
        })?),
    };
    let now = now_ms();
    let room = Room {
        id: ids::object_id(now),
        name,
        password_hash,
        creator: auth.user.id.clone(),
        created_at: now,
        participants: vec![auth.user.id.clone()],
    };
    let room_id = room.id.clone();
    match node.cluster.propose(Command::CreateRoom { room }).await {
        Ok(Outcome::RoomCreated) => {}
        Ok(other) => return Err(ApiError::internal(CREATE_FAILED, format!("unexpected outcome {other:?}"))),
        Err(e) => return Err(ApiError::cluster(e, CREATE_FAILED)),
    }
    tracing::info!(node = node.config.id, user = %auth.user.id, room = %room_id, "room created");
    let view = view(&node, &room_id, CREATE_FAILED).await?;
    let view = view.ok_or_else(|| ApiError::internal(CREATE_FAILED, "created room missing on the replica"))?;
    node.fanout.emit(&node, Target::AllSockets, "roomCreated", view.clone().for_socket().to_json()).await;
    Ok((StatusCode::CREATED, Json(json!({ "success": true, "data": view }))).into_response())
}

/// No membership check: anyone logged in may look at any room.
async fn show(State(node): State<Arc<Node>>, path: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let room_id = room_id(path)?;
    let view = view(&node, &room_id, SHOW_FAILED).await?.ok_or_else(room_not_found)?;
    Ok(Json(json!({ "success": true, "data": view })).into_response())
}

#[derive(Deserialize)]
struct JoinBody {
    password: Option<String>,
}

/// Join a room; its password is checked even for existing participants. The hash we
/// verified against goes into the command, so a password changed in between is
/// refused when applied rather than bypassed.
async fn join(
    State(node): State<Arc<Node>>,
    auth: AuthUser,
    client: ClientMeta,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<JoinBody>,
) -> Result<Response, ApiError> {
    let room_id = room_id(path)?;
    let now = now_ms();
    let limit = node.rate_limits.membership.check(&auth.user.id, now).await;
    if !limit.allowed {
        node.metrics.limit_hit(Limit::Membership);
        return Err(ApiError::Throttled { message: TOO_MANY_JOINS, retry_after_secs: limit.retry_after_s });
    }
    let hash = node.cluster.read(|s| s.rooms.get(&room_id).map(|r| r.password_hash.clone())).await;
    let hash = hash.map_err(|e| ApiError::cluster(e, JOIN_FAILED))?.ok_or_else(room_not_found)?;
    if let Some(hash) = &hash {
        check_room_password(&node, &room_id, &auth.user.id, &client.ip, body.password, hash, now).await?;
    }
    let user_id = auth.user.id;
    let command =
        Command::JoinRoom { room_id: room_id.clone(), user_id: user_id.clone(), socket: None, password_hash: hash };
    match node.cluster.propose(command).await {
        Ok(Outcome::RoomJoined { added }) => {
            tracing::info!(node = node.config.id, user = %user_id, room = %room_id, added, "joined room");
        }
        Ok(Outcome::WrongRoomPassword) => return Err(wrong_password()),
        Ok(Outcome::UnknownRoom) => return Err(room_not_found()),
        Ok(other) => return Err(ApiError::internal(JOIN_FAILED, format!("unexpected outcome {other:?}"))),
        Err(e) => return Err(ApiError::cluster(e, JOIN_FAILED)),
    }
    let view = view(&node, &room_id, JOIN_FAILED).await?.ok_or_else(room_not_found)?;
    node.fanout.emit(&node, Target::Room(room_id), "roomUpdated", view.clone().for_socket().to_json()).await;
    Ok(Json(json!({ "success": true, "data": view })).into_response())
}

/// The password of a password room, throttled per (room, user) and per client address
/// like login passwords (issue 12): once either has given too many wrong passwords,
/// 429 until the window ends, before any hashing.
async fn check_room_password(
    node: &Node,
    room_id: &str,
    user_id: &str,
    ip: &str,
    given: Option<String>,
    hash: &str,
    now: chat_raft::command::Millis,
) -> Result<(), ApiError> {
    let failures = &node.rate_limits.password_failures;
    let account = format!("room:{room_id}:{user_id}");
    if let Some(retry_after_secs) = failures.blocked(&account, ip, now) {
        node.metrics.limit_hit(Limit::PasswordFailures);
        return Err(ApiError::Throttled { message: super::auth_routes::TOO_MANY_FAILURES, retry_after_secs });
    }
    let given = given.filter(|p| !p.is_empty()).ok_or_else(wrong_password)?;
    let matches = password::verify(given, hash.to_owned()).await.map_err(|e| ApiError::password(e, JOIN_FAILED))?;
    if !matches {
        failures.record(&account, ip, now);
        return Err(wrong_password());
    }
    Ok(())
}

/// `GET /api/rooms/health` (protocol §9): whether rooms can be read here, how long a
/// replica read took, and when the newest room was created. 503 on a stale node.
async fn health(State(node): State<Arc<Node>>, _: AuthUser) -> Response {
    let started = Instant::now();
    let newest = node.cluster.read(|s| s.rooms.iter().map(|r| r.created_at).max()).await;
    let timestamp = iso_ms(now_ms());
    let (status, body) = match newest {
        Ok(newest) => {
            let latency = started.elapsed().as_millis() as u64;
            let mut body = json!({
                "success": true,
                "timestamp": timestamp,
                "services": { "database": { "connected": true, "latency": latency } }
            });
            if let Some(newest) = newest {
                body["lastActivity"] = Value::String(iso_ms(newest));
            }
            (StatusCode::OK, body)
        }
        Err(_) => {
            let body =
                json!({ "success": false, "timestamp": timestamp, "services": { "database": { "connected": false } } });
            (StatusCode::SERVICE_UNAVAILABLE, body)
        }
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, must-revalidate"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(EXPIRES, HeaderValue::from_static("0"));
    response
}
