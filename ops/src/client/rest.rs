//! REST calls of the public API (protocol §3) with the headers the web client sends:
//! `x-auth-token` and `x-session-id` once logged in.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::address::http_base;
use super::error::ApiError;
use crate::Error;

pub use reqwest::Method;

/// A logged-in user's credentials, as the web client keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub token: String,
    pub session_id: String,
}

/// The fields of a room (protocol §3.5 RoomResponse) that clients act on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomInfo {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub has_password: bool,
    pub participants_count: u64,
}

/// The REST client of one public address. Clones share one connection pool.
#[derive(Debug, Clone)]
pub struct ChatApi {
    http: reqwest::Client,
    base: Arc<str>,
}

/// Per-request deadline: longer than any election plus a forwarded write.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

impl ChatApi {
    /// A client of `addr` (`host:port` or `http://host:port`) with its own pool.
    pub fn new(addr: &str) -> Result<ChatApi, Error> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Usage(format!("cannot build an HTTP client: {e}")))?;
        ChatApi::with_client(addr, http)
    }

    /// A client of `addr` sharing `http`'s pool (many simulated users, one process).
    pub fn with_client(addr: &str, http: reqwest::Client) -> Result<ChatApi, Error> {
        Ok(ChatApi { http, base: http_base(addr)?.into() })
    }

    /// `http://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// POST /api/auth/register: creates the user and logs it in (201).
    pub async fn register(&self, name: &str, email: &str, password: &str) -> Result<Login, ApiError> {
        let body = json!({"name": name, "email": email, "password": password});
        let answer = self.call(Method::POST, "/api/auth/register", None, Some(&body)).await?;
        login_from(answer, "POST /api/auth/register")
    }

    /// POST /api/auth/login: a new session replacing the user's previous one.
    pub async fn login(&self, email: &str, password: &str) -> Result<Login, ApiError> {
        let body = json!({"email": email, "password": password});
        let answer = self.call(Method::POST, "/api/auth/login", None, Some(&body)).await?;
        login_from(answer, "POST /api/auth/login")
    }

    /// POST /api/auth/logout: ends the session (its sockets get `session_ended`).
    pub async fn logout(&self, me: &Login) -> Result<(), ApiError> {
        self.call(Method::POST, "/api/auth/logout", Some(me), None).await.map(drop)
    }

    /// GET /api/rooms, newest first, as the web client's room list asks for it.
    pub async fn rooms(&self, me: &Login, page: u32, page_size: u32) -> Result<Vec<RoomInfo>, ApiError> {
        let path = format!("/api/rooms?page={page}&pageSize={page_size}&sortField=createdAt&sortOrder=desc");
        let answer = self.call(Method::GET, &path, Some(me), None).await?;
        decode(answer["data"].clone(), "GET /api/rooms")
    }

    /// POST /api/rooms: the creator becomes the first participant.
    pub async fn create_room(&self, me: &Login, name: &str, password: Option<&str>) -> Result<RoomInfo, ApiError> {
        let body = json!({"name": name, "password": password.unwrap_or("")});
        let answer = self.call(Method::POST, "/api/rooms", Some(me), Some(&body)).await?;
        decode(answer["data"].clone(), "POST /api/rooms")
    }

    /// POST /api/rooms/{id}/join with `{}` or `{password}`, as the web client sends it.
    pub async fn join_room(&self, me: &Login, room_id: &str, password: Option<&str>) -> Result<RoomInfo, ApiError> {
        let body = password.map_or_else(|| json!({}), |p| json!({"password": p}));
        let answer = self.call(Method::POST, &format!("/api/rooms/{room_id}/join"), Some(me), Some(&body)).await?;
        decode(answer["data"].clone(), "POST /api/rooms/{id}/join")
    }

    /// Any call: the JSON answer of a 2xx, or the status and the server's message.
    /// `path` starts with `/api`; the endpoint label drops ids and query strings.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        me: Option<&Login>,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let endpoint = endpoint_label(&method, path);
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(me) = me {
            request = request.header("x-auth-token", &me.token).header("x-session-id", &me.session_id);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Transport { endpoint: endpoint.clone(), message: transport_message(&e) })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ApiError::Transport { endpoint: endpoint.clone(), message: transport_message(&e) })?;
        let json: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        if !status.is_success() {
            let message = json["message"].as_str().map_or_else(|| clip(&text), str::to_string);
            return Err(ApiError::Status { endpoint, status: status.as_u16(), message });
        }
        if json.is_null() && !text.is_empty() {
            return Err(ApiError::Unexpected { endpoint, message: format!("not JSON: {}", clip(&text)) });
        }
        Ok(json)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginAnswer {
    token: String,
    session_id: String,
    user: UserAnswer,
}

#[derive(Deserialize)]
struct UserAnswer {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    email: String,
}

fn login_from(answer: Value, endpoint: &str) -> Result<Login, ApiError> {
    let LoginAnswer { token, session_id, user } = decode(answer, endpoint)?;
    Ok(Login { user_id: user.id, name: user.name, email: user.email, token, session_id })
}

fn decode<T: serde::de::DeserializeOwned>(value: Value, endpoint: &str) -> Result<T, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::Unexpected { endpoint: endpoint.to_string(), message: e.to_string() })
}

/// `POST /api/rooms/{id}/join` for `/api/rooms/6650.../join?x=1`: 24-hex ids and
/// file names become placeholders so counts group by endpoint.
fn endpoint_label(method: &Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let parts: Vec<&str> = path
        .split('/')
        .map(|part| if part.len() == 24 && part.bytes().all(|b| b.is_ascii_hexdigit()) { "{id}" } else { part })
        .collect();
    format!("{method} {}", parts.join("/"))
}

fn transport_message(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_string();
    }
    // reqwest's own text is generic ("error sending request"); the cause says what broke.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_group_by_endpoint() {
        let join = endpoint_label(&Method::POST, "/api/rooms/6650aaaabbbbccccddddeeee/join?x=1");
        assert_eq!(join, "POST /api/rooms/{id}/join");
        assert_eq!(endpoint_label(&Method::GET, "/api/rooms?page=0"), "GET /api/rooms");
    }

    #[test]
    fn decodes_a_login_answer() {
        let answer = json!({"success": true, "token": "t", "sessionId": "s",
            "user": {"_id": "u", "name": "N", "email": "e@x.y", "profileImage": null}});
        let login = login_from(answer, "POST /api/auth/login").unwrap();
        assert_eq!(login.session_id, "s");
        assert_eq!(login.user_id, "u");
        let broken = login_from(json!({"success": true}), "POST /api/auth/login");
        assert!(matches!(broken, Err(ApiError::Unexpected { .. })));
    }
}
