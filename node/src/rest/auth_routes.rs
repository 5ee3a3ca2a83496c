//! `/api/auth/**` (protocol §3.3): register (which also logs in), login, logout,
//! verify-token, refresh-token and the route summary.
//!
//! A login is one `OpenSession` command that atomically replaces the user's previous
//! session; it is acknowledged only once every live node applied it, so from the
//! moment the answer leaves, the replaced token gets 401 everywhere. Pushing
//! `duplicate_login` to the replaced session's sockets is the socket layer's reaction
//! to that applied command.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_raft::state::{Role, Sanction, Session, User};
use chat_raft::{Command, Outcome, Stamp};
use serde::Deserialize;
use serde_json::{json, Value};

use super::guard::{header_token, session_id_param};
use super::input::{ApiJson, ClientMeta};
use super::respond::ApiError;
use super::room_view::{auth_user, iso_ms};
use super::{ids, validate};
use crate::auth::password::{self, PasswordError};
use crate::auth::{now_ms, session, AuthError, AuthUser};
use crate::fanout::Target;
use crate::metrics::Limit;
use crate::Node;

const REGISTER_FAILED: &str = "회원가입 처리 중 오류가 발생했습니다.";
const LOGIN_FAILED: &str = "로그인 처리 중 오류가 발생했습니다.";
const LOGOUT_FAILED: &str = "로그아웃 처리 중 오류가 발생했습니다.";
const BAD_CREDENTIALS: &str = "이메일 또는 비밀번호가 올바르지 않습니다.";
const EMAIL_TAKEN: &str = "이미 등록된 이메일입니다.";
const NEED_TOKEN_AND_SESSION: &str = "토큰 또는 세션 ID가 필요합니다.";
const USER_NOT_FOUND: &str = "사용자를 찾을 수 없습니다.";
const SESSION_EXPIRED: &str = "만료된 세션입니다.";
const BANNED: &str = "이용이 정지된 계정입니다.";
/// Too many wrong passwords for this account or from this address (issue 12).
pub(super) const TOO_MANY_FAILURES: &str = "비밀번호를 너무 많이 틀렸습니다. 잠시 후 다시 시도해주세요.";
/// The audit log's actor for roles granted by `--admin-emails`.
const CONFIG_ACTOR: &str = "config";

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/auth", get(summary))
        .route("/api/auth/", get(summary))
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/verify-token", post(verify_token))
        .route("/api/auth/refresh-token", post(refresh_token))
}

/// The auth routes as `GET /api` and `GET /api/auth` describe them.
pub(super) fn route_summary() -> Value {
    json!({
        "/register": "POST - 회원가입",
        "/login": "POST - 로그인",
        "/logout": "POST - 로그아웃",
        "/verify-token": "POST - 토큰 검증",
        "/refresh-token": "POST - 토큰 갱신"
    })
}

async fn summary() -> Json<Value> {
    Json(json!({ "status": "active", "routes": route_summary() }))
}

#[derive(Deserialize)]
struct RegisterBody {
    name: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

async fn register(
    State(node): State<Arc<Node>>,
    client: ClientMeta,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    let errors = validate::register(body.name.as_deref(), body.email.as_deref(), body.password.as_deref());
    let (Some(name), Some(email), Some(password)) = (body.name, body.email, body.password) else {
        return Err(ApiError::Validation { errors, auth: true });
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation { errors, auth: true });
    }
    if password::is_too_long(&password) {
        return Err(ApiError::refused(StatusCode::BAD_REQUEST, PasswordError::TooLong.to_string()));
    }
    let email = email.to_lowercase();
    let role_email = email.clone();
    // A cheap refusal before bcrypt: clients pre-register in bulk and expect 409. The
    // committed `RegisterUser` is what actually enforces uniqueness.
    let taken = node.cluster.read(|s| s.users.by_email(&email).is_some()).await;
    if taken.map_err(|e| ApiError::cluster(e, REGISTER_FAILED))? {
        return Err(ApiError::refused(StatusCode::CONFLICT, EMAIL_TAKEN));
    }
    let password_hash =
        password::hash(password, node.config.bcrypt_cost).await.map_err(|e| ApiError::password(e, REGISTER_FAILED))?;
    let now = now_ms();
    let user = User {
        id: ids::object_id(now),
        email,
        name,
        password_hash,
        profile_image: String::new(),
        role: if node.config.is_admin_email(&role_email) { Role::Admin } else { Role::User },
        ban: None,
        mute: None,
        created_at: now,
        updated_at: now,
    };
    match node.cluster.propose(Command::RegisterUser { user: user.clone() }).await {
        Ok(Outcome::UserRegistered { .. }) => {}
        Ok(Outcome::EmailTaken) => return Err(ApiError::refused(StatusCode::CONFLICT, EMAIL_TAKEN)),
        Ok(other) => return Err(ApiError::internal(REGISTER_FAILED, format!("unexpected outcome {other:?}"))),
        Err(e) => return Err(ApiError::cluster(e, REGISTER_FAILED)),
    }
    tracing::info!(node = node.config.id, user = %user.id, "user registered");
    let issued = open_session(&node, &user, client).await.map_err(|e| match e {
        ApiError::Refused { .. } => ApiError::internal(REGISTER_FAILED, "the new user could not log in"),
        other => other,
    })?;
    let body = json!({
        "success": true,
        "token": issued.token,
        "sessionId": issued.session_id,
        "user": auth_user(&user, true),
        "message": "회원가입이 완료되었습니다."
    });
    Ok(issued.with_headers((StatusCode::CREATED, Json(body)).into_response()))
}

#[derive(Deserialize)]
struct LoginBody {
    email: Option<String>,
    password: Option<String>,
}

async fn login(
    State(node): State<Arc<Node>>,
    client: ClientMeta,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let errors = validate::login(body.email.as_deref(), body.password.as_deref());
    let (Some(email), Some(password)) = (body.email, body.password) else {
        return Err(ApiError::Validation { errors, auth: true });
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation { errors, auth: true });
    }
    let email = email.to_lowercase();
    // Wrong passwords are throttled per account and per client address, before any
    // hashing: a blocked guesser costs no bcrypt work either.
    let (now, account) = (now_ms(), format!("login:{email}"));
    let failures = &node.rate_limits.password_failures;
    if let Some(retry_after_secs) = failures.blocked(&account, &client.ip, now) {
        node.metrics.limit_hit(Limit::PasswordFailures);
        return Err(ApiError::Throttled { message: TOO_MANY_FAILURES, retry_after_secs });
    }
    let user = node.cluster.read(|s| s.users.by_email(&email).cloned()).await;
    let user = user.map_err(|e| ApiError::cluster(e, LOGIN_FAILED))?;
    // An unknown email is checked against a hash no account has: the same bcrypt work
    // as a wrong password, so the answer time does not tell which emails exist.
    let hash = match &user {
        Some(user) => user.password_hash.clone(),
        None => password::unknown_account_hash(node.config.bcrypt_cost)
            .await
            .map_err(|e| ApiError::password(e, LOGIN_FAILED))?,
    };
    let matches = password::verify(password, hash).await.map_err(|e| ApiError::password(e, LOGIN_FAILED))?;
    let Some(user) = user.filter(|_| matches) else {
        failures.record(&account, &client.ip, now);
        return Err(ApiError::refused(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS));
    };
    // Only the password's owner learns about the ban, with its reason and end.
    if let Some(ban) = user.ban_at(now_ms()) {
        return Err(banned(ban));
    }
    let user = grant_configured_admin(&node, user).await?;
    let issued = open_session(&node, &user, client).await?;
    let body = json!({
        "success": true,
        "token": issued.token,
        "sessionId": issued.session_id,
        "user": auth_user(&user, false),
        "message": null
    });
    Ok(issued.with_headers(Json(body).into_response()))
}

/// 403 for a banned account's login (protocol §8.3): the reason and the end time
/// (ISO-8601, `null` until unbanned).
fn banned(ban: &Sanction) -> ApiError {
    ApiError::coded(StatusCode::FORBIDDEN, "ACCOUNT_BANNED", BANNED)
        .with_field("reason", json!(ban.reason))
        .with_field("bannedUntil", json!(ban.until.map(iso_ms)))
}

/// An account named by `--admin-emails` becomes admin at its login (protocol §8.1).
async fn grant_configured_admin(node: &Node, mut user: User) -> Result<User, ApiError> {
    if user.is_admin() || !node.config.is_admin_email(&user.email) {
        return Ok(user);
    }
    let by = Stamp { actor: CONFIG_ACTOR.into(), at: now_ms() };
    let command = Command::SetRole { user_id: user.id.clone(), role: Role::Admin, by: Some(by) };
    match node.cluster.propose(command).await {
        Ok(Outcome::UserUpdated | Outcome::Unchanged) => {
            tracing::info!(node = node.config.id, user = %user.id, "admin role granted from --admin-emails");
            user.role = Role::Admin;
            Ok(user)
        }
        Ok(Outcome::UnknownUser) => Err(ApiError::refused(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS)),
        Ok(other) => Err(ApiError::internal(LOGIN_FAILED, format!("unexpected outcome {other:?}"))),
        Err(e) => Err(ApiError::cluster(e, LOGIN_FAILED)),
    }
}

/// A freshly opened session and its token.
struct Issued {
    token: String,
    session_id: String,
}

impl Issued {
    /// Login (and register) also hand the credentials over as headers (protocol §2.2).
    fn with_headers(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", self.token)) {
            headers.insert(AUTHORIZATION, value);
        }
        if let Ok(value) = HeaderValue::from_str(&self.session_id) {
            headers.insert("x-session-id", value);
        }
        response
    }
}

/// Commit a new session for `user`, replacing any previous one, and sign its token.
async fn open_session(node: &Node, user: &User, client: ClientMeta) -> Result<Issued, ApiError> {
    let now = now_ms();
    let session = Session {
        user_id: user.id.clone(),
        session_id: ids::session_id(),
        created_at: now,
        last_activity: now,
        user_agent: client.user_agent,
        ip_address: client.ip,
    };
    let session_id = session.session_id.clone();
    match node.cluster.propose(Command::OpenSession { session }).await {
        Ok(Outcome::SessionOpened { replaced }) => {
            tracing::info!(node = node.config.id, user = %user.id, replaced = replaced.is_some(), "session opened");
        }
        // Banned between our read and the commit.
        Ok(Outcome::UserBanned) => {
            let ban = node.cluster.read_local(|s| s.users.get(&user.id).and_then(|u| u.ban.clone()));
            return Err(match ban {
                Some(ban) => banned(&ban),
                None => ApiError::refused(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS),
            });
        }
        // Deleted between our read and the commit: same answer as a bad login.
        Ok(Outcome::UnknownUser) => {
            return Err(ApiError::refused(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS));
        }
        Ok(other) => return Err(ApiError::internal(LOGIN_FAILED, format!("unexpected outcome {other:?}"))),
        Err(e) => return Err(ApiError::cluster(e, LOGIN_FAILED)),
    }
    let token = node.jwt.issue(&user.email, &user.id, &session_id, now / 1000);
    Ok(Issued { token, session_id })
}

async fn logout(
    State(node): State<Arc<Node>>,
    auth: Option<AuthUser>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let Some(session_id) = session_id_param(&headers, query.as_deref()) else {
        return Err(ApiError::refused(StatusCode::BAD_REQUEST, "x-session-id 헤더가 필요합니다."));
    };
    // Without a (valid) token nothing happens; an invalid one never got here (401).
    if let Some(auth) = auth {
        let user_id = auth.user.id;
        let command = Command::CloseSession { user_id: user_id.clone(), session_id };
        match node.cluster.propose(command).await {
            Ok(Outcome::SessionClosed { .. }) => {
                let payload = json!({ "reason": "logout", "message": "로그아웃되었습니다." });
                node.fanout.emit(&node, Target::User(user_id), "session_ended", payload).await;
            }
            Ok(_) => {} // not the current session: nothing to end
            Err(e) => return Err(ApiError::cluster(e, LOGOUT_FAILED)),
        }
    }
    Ok(Json(json!({ "success": true, "message": "로그아웃이 완료되었습니다." })).into_response())
}

/// The token and session id verify-token and refresh-token were given, or the 400
/// naming them with the endpoint's null fields.
fn token_and_session(
    headers: &HeaderMap,
    query: Option<&str>,
    nulls: &'static [&'static str],
) -> Result<(String, String), ApiError> {
    match (header_token(headers), session_id_param(headers, query)) {
        (Some(token), Some(session_id)) => Ok((token, session_id)),
        _ => Err(ApiError::Refused { status: StatusCode::BAD_REQUEST, message: NEED_TOKEN_AND_SESSION.into(), nulls }),
    }
}

/// verify-token / refresh-token answers to a refused token or session; `other` is
/// the endpoint's message for token failures.
fn refused_session(e: AuthError, other: &'static str, nulls: &'static [&'static str]) -> ApiError {
    let message = match e {
        AuthError::Unavailable(e) => return ApiError::cluster(e, other),
        AuthError::Token(_) => other,
        AuthError::UserNotFound => USER_NOT_FOUND,
        AuthError::Session | AuthError::Banned => SESSION_EXPIRED,
    };
    ApiError::Refused { status: StatusCode::UNAUTHORIZED, message: message.into(), nulls }
}

async fn verify_token(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    const NULLS: &[&str] = &["user"];
    let (token, session_id) = token_and_session(&headers, query.as_deref(), NULLS)?;
    let auth = session::validate(&node, &token, Some(&session_id))
        .await
        .map_err(|e| refused_session(e, "유효하지 않은 토큰입니다.", NULLS))?;
    let body = json!({ "success": true, "message": "토큰이 유효합니다.", "user": auth_user(&auth.user, false) });
    Ok(Json(body).into_response())
}

/// A new token for the same session (protocol §3.3: the session id is kept, because
/// the web client stores only the new token).
async fn refresh_token(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    const NULLS: &[&str] = &["token", "sessionId"];
    let (token, session_id) = token_and_session(&headers, query.as_deref(), NULLS)?;
    let auth = session::validate(&node, &token, Some(&session_id))
        .await
        .map_err(|e| refused_session(e, "토큰 갱신 중 오류가 발생했습니다.", NULLS))?;
    let token = node.jwt.issue(&auth.user.email, &auth.user.id, &auth.session_id, now_ms() / 1000);
    let body =
        json!({ "success": true, "message": "토큰이 갱신되었습니다.", "token": token, "sessionId": auth.session_id });
    Ok(Json(body).into_response())
}
