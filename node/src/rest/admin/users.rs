//! `GET /api/admin/users`, `GET /api/admin/users/{id}` and
//! `PUT /api/admin/users/{id}/role` (protocol §8.2): members with their presence and
//! sanctions, read from the local replica in one read; role changes as one command.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chat_raft::command::Millis;
use chat_raft::state::{Role, User};
use chat_raft::{ClusterState, Command, Outcome};
use serde::Deserialize;
use serde_json::{json, Value};

use super::view::{bad_field, room_counts, user_detail, user_summary, Paging, RawPaging};
use super::{commit, user_not_found, Admin, ACTION_FAILED};
use crate::auth::now_ms;
use crate::rest::input::{ApiJson, ApiQuery};
use crate::rest::respond::ApiError;
use crate::Node;

/// The list's query as sent.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawUserQuery {
    #[serde(flatten)]
    paging: RawPaging,
    search: Option<String>,
    role: Option<String>,
    status: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Online,
    Offline,
    Banned,
    Muted,
}

/// Which users to list: validated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserFilter {
    paging: Paging,
    /// Trimmed and lowercased; matched against names and emails.
    search: Option<String>,
    role: Option<Role>,
    status: Option<Status>,
}

impl UserFilter {
    fn parse(raw: &RawUserQuery) -> Result<Self, ApiError> {
        let paging = Paging::parse(&raw.paging)?;
        let search = raw.search.as_deref().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
        let role = match raw.role.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("user") => Some(Role::User),
            Some("admin") => Some(Role::Admin),
            Some(_) => return Err(bad_field("role", "role must be user or admin")),
        };
        let status = match raw.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("online") => Some(Status::Online),
            Some("offline") => Some(Status::Offline),
            Some("banned") => Some(Status::Banned),
            Some("muted") => Some(Status::Muted),
            Some(_) => return Err(bad_field("status", "status must be online, offline, banned or muted")),
        };
        Ok(Self { paging, search, role, status })
    }

    fn matches(&self, state: &ClusterState, user: &User, now: Millis) -> bool {
        let found = self
            .search
            .as_deref()
            .is_none_or(|term| user.name.to_lowercase().contains(term) || user.email.contains(term) || user.id == term);
        let online = || state.presence.sockets_of_user(&user.id).next().is_some();
        let status = match self.status {
            None => true,
            Some(Status::Online) => online(),
            Some(Status::Offline) => !online(),
            Some(Status::Banned) => user.ban_at(now).is_some(),
            Some(Status::Muted) => user.mute_at(now).is_some(),
        };
        found && self.role.is_none_or(|r| user.role == r) && status
    }
}

/// Newest accounts first (ties on the id), then the page.
fn select(state: &ClusterState, filter: &UserFilter, now: Millis) -> (Vec<Value>, u64) {
    let mut users: Vec<&User> = state.users.iter().filter(|u| filter.matches(state, u, now)).collect();
    users.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
    let total = users.len() as u64;
    let rooms = room_counts(state);
    let start = filter.paging.page.saturating_mul(filter.paging.size).min(total) as usize;
    let page = users
        .into_iter()
        .skip(start)
        .take(filter.paging.size as usize)
        .map(|u| user_summary(state, u, rooms.get(u.id.as_str()).copied().unwrap_or(0), now))
        .collect();
    (page, total)
}

pub(super) async fn list(
    State(node): State<Arc<Node>>,
    _: Admin,
    ApiQuery(raw): ApiQuery<RawUserQuery>,
) -> Result<Response, ApiError> {
    let filter = UserFilter::parse(&raw)?;
    let now = now_ms();
    let (users, total) = node
        .cluster
        .read(|state| select(state, &filter, now))
        .await
        .map_err(|e| ApiError::cluster(e, ACTION_FAILED))?;
    let metadata = filter.paging.metadata(total, users.len());
    Ok(Json(json!({ "success": true, "data": users, "metadata": metadata })).into_response())
}

/// One user's detail as the replica has it now, or 404.
pub(super) async fn read_detail(node: &Node, id: &str) -> Result<Value, ApiError> {
    let now = now_ms();
    let detail = node.cluster.read(|state| state.users.get(id).map(|u| user_detail(state, u, now))).await;
    detail.map_err(|e| ApiError::cluster(e, ACTION_FAILED))?.ok_or_else(user_not_found)
}

pub(super) async fn detail(
    State(node): State<Arc<Node>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = read_detail(&node, &id).await?;
    Ok(Json(json!({ "success": true, "user": user })).into_response())
}

#[derive(Deserialize)]
pub(super) struct RoleBody {
    role: Option<String>,
}

pub(super) async fn set_role(
    State(node): State<Arc<Node>>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Response, ApiError> {
    let role = match body.role.as_deref() {
        Some("user") => Role::User,
        Some("admin") => Role::Admin,
        _ => return Err(bad_field("role", "role must be user or admin")),
    };
    let command = Command::SetRole { user_id: id.clone(), role, by: Some(admin.stamp()) };
    let outcome = commit(&node, command).await?;
    tracing::info!(node = node.config.id, admin = %admin.0.user.id, user = %id, ?role, ?outcome, "role set");
    let message = match outcome {
        Outcome::Unchanged => "변경 사항이 없습니다.",
        _ => "권한이 변경되었습니다.",
    };
    let user = read_detail(&node, &id).await?;
    Ok(Json(json!({ "success": true, "message": message, "user": user })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawUserQuery {
        let query: String = pairs.iter().map(|(k, v)| format!("{k}={v}&")).collect();
        serde_urlencoded_like(&query)
    }

    /// What axum's `Query` does with the string.
    fn serde_urlencoded_like(query: &str) -> RawUserQuery {
        let uri: axum::http::Uri = format!("/x?{query}").parse().unwrap();
        axum::extract::Query::<RawUserQuery>::try_from_uri(&uri).unwrap().0
    }

    #[test]
    fn filters_parse_and_refuse_unknown_values() {
        let all = UserFilter::parse(&raw(&[])).unwrap();
        assert_eq!((all.paging, all.search, all.role, all.status), (Paging { page: 0, size: 20 }, None, None, None));
        let some = UserFilter::parse(&raw(&[
            ("page", "2"),
            ("pageSize", "500"),
            ("search", "%20Kim+"),
            ("role", "admin"),
            ("status", "banned"),
        ]))
        .unwrap();
        assert_eq!(some.paging, Paging { page: 2, size: 100 });
        assert_eq!(
            (some.search.as_deref(), some.role, some.status),
            (Some("kim"), Some(Role::Admin), Some(Status::Banned))
        );
        assert!(matches!(UserFilter::parse(&raw(&[("role", "root")])), Err(ApiError::Validation { .. })));
        assert!(matches!(UserFilter::parse(&raw(&[("status", "x")])), Err(ApiError::Validation { .. })));
        assert!(matches!(UserFilter::parse(&raw(&[("page", "one")])), Err(ApiError::InvalidRequest)));
    }
}
