//! `GET /api/rooms` (protocol §3.5): every room, searched, sorted and paged on the
//! local replica in one read, with the metadata the web client pages by, behind the
//! per-IP rate limit and its headers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, LAST_MODIFIED, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chat_raft::command::Millis;
use chat_raft::ClusterState;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::{ApiQuery, ClientMeta};
use super::respond::{render, ApiError};
use super::room_view::{iso_ms, participants_count, RoomResponse};
use crate::auth::{now_ms, AuthUser};
use crate::ratelimit::Decision;
use crate::Node;

const LIST_FAILED: &str = "채팅방 목록을 불러오는데 실패했습니다.";
const TOO_MANY_MESSAGE: &str = "너무 많은 요청이 발생했습니다. 잠시 후 다시 시도해주세요.";
const DEFAULT_PAGE_SIZE: u64 = 10;
const MAX_PAGE_SIZE: u64 = 50;

/// The query as sent: every value a string, so blanks fall back to defaults and
/// junk becomes our 400 rather than a deserializer's.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawListQuery {
    page: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
    #[serde(rename = "sortField")]
    sort_field: Option<String>,
    #[serde(rename = "sortOrder")]
    sort_order: Option<String>,
    search: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortField {
    CreatedAt,
    Name,
    ParticipantsCount,
}

/// What to list: validated and clamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListParams {
    page: u64,
    page_size: u64,
    field: SortField,
    descending: bool,
    /// Trimmed and lowercased; `None` lists everything.
    search: Option<String>,
}

impl ListParams {
    pub(super) fn parse(raw: RawListQuery) -> Result<Self, ApiError> {
        let page = int(raw.page.as_deref(), 0)?.max(0) as u64;
        let page_size = int(raw.page_size.as_deref(), DEFAULT_PAGE_SIZE as i64)?.clamp(1, MAX_PAGE_SIZE as i64) as u64;
        let field = match raw.sort_field.as_deref() {
            Some("name") => SortField::Name,
            Some("participantsCount") => SortField::ParticipantsCount,
            _ => SortField::CreatedAt,
        };
        let descending = raw.sort_order.as_deref() != Some("asc");
        let search = raw.search.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
        Ok(Self { page, page_size, field, descending, search })
    }
}

fn int(value: Option<&str>, default: i64) -> Result<i64, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ApiError::InvalidRequest),
    }
}

/// One page of rooms and how many matched in all.
#[derive(Debug)]
pub(super) struct Page {
    rooms: Vec<RoomResponse>,
    total: u64,
}

/// What searching and sorting need of a room, copied out of the replica: the state
/// lock is held for this copy only, never while names are lowercased and sorted.
#[derive(Debug)]
pub(super) struct Candidate {
    id: String,
    name: String,
    created_at: Millis,
    participants: usize,
}

/// Under the lock: every room, copied (the name only when searched or sorted by,
/// participants counted only when sorted by).
pub(super) fn candidates(state: &ClusterState, params: &ListParams) -> Vec<Candidate> {
    let counted = params.field == SortField::ParticipantsCount;
    let named = params.field == SortField::Name || params.search.is_some();
    state
        .rooms
        .iter()
        .map(|room| Candidate {
            id: room.id.clone(),
            name: if named { room.name.clone() } else { String::new() },
            created_at: room.created_at,
            participants: if counted { participants_count(state, room) } else { 0 },
        })
        .collect()
}

/// Outside the lock: search, sort and cut out the page. Ties break on the id, in the
/// same direction, so paging is stable. Returns the page's room ids and how many
/// rooms matched.
pub(super) fn order(mut rooms: Vec<Candidate>, params: &ListParams) -> (Vec<String>, u64) {
    if let Some(term) = params.search.as_deref() {
        rooms.retain(|room| room.name.to_lowercase().contains(term));
    }
    rooms.sort_by(|a, b| {
        let order = match params.field {
            SortField::CreatedAt => a.created_at.cmp(&b.created_at),
            SortField::Name => a.name.cmp(&b.name),
            SortField::ParticipantsCount => a.participants.cmp(&b.participants),
        };
        let order = order.then_with(|| a.id.cmp(&b.id));
        if params.descending {
            order.reverse()
        } else {
            order
        }
    });
    let total = rooms.len() as u64;
    let start = params.page.saturating_mul(params.page_size).min(total) as usize;
    let end = (start + params.page_size as usize).min(rooms.len());
    (rooms.drain(start..end).map(|room| room.id).collect(), total)
}

/// Under the lock again, for the page only: the rooms as answered. A room deleted
/// since the copy is left out.
pub(super) fn build(state: &ClusterState, ids: &[String]) -> Vec<RoomResponse> {
    ids.iter().filter_map(|id| state.rooms.get(id)).map(|room| RoomResponse::build(state, room)).collect()
}

/// The three steps on one state (the unit tests' view of a listing).
#[cfg(test)]
pub(super) fn select(state: &ClusterState, params: &ListParams) -> Page {
    let (ids, total) = order(candidates(state, params), params);
    Page { rooms: build(state, &ids), total }
}

fn metadata(page: &Page, params: &ListParams) -> Value {
    let field = match params.field {
        SortField::CreatedAt => "createdAt",
        SortField::Name => "name",
        SortField::ParticipantsCount => "participantsCount",
    };
    json!({
        "total": page.total,
        "page": params.page,
        "pageSize": params.page_size,
        "totalPages": page.total.div_ceil(params.page_size),
        "hasMore": (params.page.saturating_add(1)).saturating_mul(params.page_size) < page.total,
        "currentCount": page.rooms.len(),
        "sort": { "field": field, "order": if params.descending { "desc" } else { "asc" } }
    })
}

/// The handler: counted against the client IP's rate limit (protocol §3.5) first, and
/// every answer, refusals and failures included, carries the rate-limit headers. That
/// is why failures are rendered here rather than parked for the guard.
pub(super) async fn list(
    State(node): State<Arc<Node>>,
    _: AuthUser,
    client: ClientMeta,
    uri: Uri,
    query: Result<ApiQuery<RawListQuery>, ApiError>,
) -> Response {
    let decision = node.rate_limits.rooms.check(&client.ip, now_ms()).await;
    let mut response = if !decision.allowed {
        tracing::debug!(ip = %client.ip, "rooms list rate limit exceeded");
        too_many_requests(&decision)
    } else {
        match query {
            Ok(ApiQuery(raw)) => list_rooms(&node, raw).await,
            Err(e) => Err(e),
        }
        .unwrap_or_else(|e| render(e, uri.path()))
    };
    rate_limit_headers(response.headers_mut(), &decision);
    response
}

async fn list_rooms(node: &Node, raw: RawListQuery) -> Result<Response, ApiError> {
    let params = ListParams::parse(raw)?;
    let rooms = node
        .cluster
        .read(|state| candidates(state, &params))
        .await
        .map_err(|e| ApiError::cluster(e, LIST_FAILED).with_nulls(&["error"]))?;
    let (ids, total) = order(rooms, &params);
    // This replica only moves forward: it is at least as new as the read above.
    let mut page = Page { rooms: node.cluster.read_local(|state| build(state, &ids)), total };
    super::recent_counts::fill(node, &mut page.rooms).await;
    let metadata = metadata(&page, &params);
    let body = json!({ "success": true, "data": page.rooms, "metadata": metadata });
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    // `private`: the list carries participants' emails; only this user's browser may
    // keep it (protocol §3.5 asks for the 10 s).
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, max-age=10"));
    // ISO instant, as the existing backend sends it (protocol §3.5, §10.27).
    if let Ok(value) = HeaderValue::from_str(&iso_ms(now_ms())) {
        headers.insert(LAST_MODIFIED, value);
    }
    Ok(response)
}

/// 429 with `Retry-After` and the body of protocol §3.5.
fn too_many_requests(decision: &Decision) -> Response {
    let body = json!({
        "success": false,
        "message": TOO_MANY_MESSAGE,
        "meta": {
            "code": "TOO_MANY_REQUESTS",
            "maxRequests": decision.limit,
            "windowMs": decision.window_ms,
            "retryAfter": decision.retry_after_s,
        }
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(decision.retry_after_s));
    response
}

fn rate_limit_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(decision.reset_epoch_s()));
    headers.insert("x-ratelimit-window", HeaderValue::from(decision.window_s()));
}

#[cfg(test)]
mod tests {
    use chat_raft::state::{Room, User};
    use chat_raft::{Command, Request};

    use super::*;

    /// The raw query as the extractor builds it; values are URL-encoded.
    fn raw(pairs: &[(&str, &str)]) -> RawListQuery {
        let query: String = pairs.iter().map(|(k, v)| format!("{k}={v}&")).collect();
        let uri: axum::http::Uri = format!("/api/rooms?{query}").parse().unwrap();
        axum::extract::Query::<RawListQuery>::try_from_uri(&uri).unwrap().0
    }

    fn state() -> ClusterState {
        let mut state = ClusterState::default();
        for id in ["u1", "u2", "u3"] {
            let user = User {
                id: id.into(),
                email: format!("{id}@x.co"),
                name: id.into(),
                password_hash: "x".into(),
                profile_image: String::new(),
                role: Default::default(),
                ban: None,
                mute: None,
                created_at: 0,
                updated_at: 0,
            };
            state.apply(&Request::new(Command::RegisterUser { user }));
        }
        // (id, name, created_at, participants)
        let rooms =
            [("r1", "Alpha", 100, 1), ("r2", "beta 방", 300, 3), ("r3", "Gamma", 200, 2), ("r4", "ALPHABET", 400, 1)];
        for (id, name, created_at, members) in rooms {
            let room = Room {
                id: id.into(),
                name: name.into(),
                password_hash: None,
                creator: "u1".into(),
                created_at,
                participants: ["u1", "u2", "u3"][..members].iter().map(|s| s.to_string()).collect(),
            };
            state.apply(&Request::new(Command::CreateRoom { room }));
        }
        state
    }

    fn ids(page: &Page) -> Vec<&str> {
        page.rooms.iter().map(|r| r.id.as_str()).collect()
    }

    #[tokio::test]
    async fn over_the_limit_is_429_with_the_contract_body_and_headers() {
        let decision = Decision {
            allowed: false,
            limit: 10_000,
            remaining: 0,
            reset_at: 1_700_000_030_000,
            window_ms: 30_000,
            retry_after_s: 12,
        };
        let mut response = too_many_requests(&decision);
        rate_limit_headers(response.headers_mut(), &decision);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let headers = response.headers();
        let header = |name: &str| headers[name].to_str().unwrap().to_owned();
        assert_eq!(
            [header("retry-after"), header("x-ratelimit-limit"), header("x-ratelimit-remaining")],
            ["12", "10000", "0"]
        );
        assert_eq!([header("x-ratelimit-reset"), header("x-ratelimit-window")], ["1700000030", "30"]);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"success":false,"message":"너무 많은 요청이 발생했습니다. 잠시 후 다시 시도해주세요.","meta":{"code":"TOO_MANY_REQUESTS","maxRequests":10000,"windowMs":30000,"retryAfter":12}}"#
        );
    }

    #[test]
    fn defaults_and_clamps() {
        let params = ListParams::parse(RawListQuery::default()).unwrap();
        assert_eq!(
            (params.page, params.page_size, params.field, params.descending),
            (0, 10, SortField::CreatedAt, true)
        );
        let params = ListParams::parse(raw(&[("page", "-3"), ("pageSize", "500"), ("sortField", "bogus")])).unwrap();
        assert_eq!((params.page, params.page_size, params.field), (0, 50, SortField::CreatedAt));
        assert_eq!(ListParams::parse(raw(&[("pageSize", "0")])).unwrap().page_size, 1);
        assert!(ListParams::parse(raw(&[("page", ""), ("sortOrder", "ASC")])).unwrap().descending);
        assert!(matches!(ListParams::parse(raw(&[("page", "two")])), Err(ApiError::InvalidRequest)));
    }

    #[test]
    fn sorting_by_each_field() {
        let state = state();
        let by = |field: &str, order: &str| {
            let params = ListParams::parse(raw(&[("sortField", field), ("sortOrder", order)])).unwrap();
            ids(&select(&state, &params)).into_iter().map(str::to_owned).collect::<Vec<_>>()
        };
        assert_eq!(by("createdAt", "desc"), ["r4", "r2", "r3", "r1"]);
        assert_eq!(by("createdAt", "asc"), ["r1", "r3", "r2", "r4"]);
        assert_eq!(by("name", "asc"), ["r4", "r1", "r3", "r2"], "binary order: upper case first");
        // By the number of participants, not by the id list; ties by id.
        assert_eq!(by("participantsCount", "desc"), ["r2", "r3", "r4", "r1"]);
        assert_eq!(by("participantsCount", "asc"), ["r1", "r4", "r3", "r2"]);
    }

    #[test]
    fn paging_search_and_metadata() {
        let state = state();
        let params = ListParams::parse(raw(&[("page", "1"), ("pageSize", "3")])).unwrap();
        let page = select(&state, &params);
        assert_eq!(ids(&page), ["r1"]);
        assert_eq!(
            metadata(&page, &params),
            json!({"total":4,"page":1,"pageSize":3,"totalPages":2,"hasMore":false,"currentCount":1,
                   "sort":{"field":"createdAt","order":"desc"}})
        );
        let first = ListParams::parse(raw(&[("pageSize", "3")])).unwrap();
        assert_eq!(metadata(&select(&state, &first), &first)["hasMore"], true);
        let search = ListParams::parse(raw(&[("search", "%20alpha%20"), ("sortOrder", "asc")])).unwrap();
        assert_eq!(ids(&select(&state, &search)), ["r1", "r4"]);
        let korean = ListParams::parse(raw(&[("search", "%EB%B0%A9")])).unwrap();
        assert_eq!(ids(&select(&state, &korean)), ["r2"]);
        let beyond = ListParams::parse(raw(&[("page", "99")])).unwrap();
        let page = select(&state, &beyond);
        assert!(page.rooms.is_empty());
        assert_eq!(metadata(&page, &beyond)["hasMore"], false);
    }

    /// Not a timed assertion: prints how long a listing of 2,000 rooms holds the state
    /// (`cargo test -p chat-node --lib room_list::tests::lock_time -- --nocapture`).
    /// Before, `select` as a whole (copy, lowercase, sort, page) ran under the lock.
    #[test]
    fn lock_time_of_a_listing_of_2000_rooms() {
        let mut state = state();
        for i in 0..2_000u64 {
            let room = Room {
                id: format!("room-{i:05}"),
                name: format!("Room Number {i} 방"),
                password_hash: None,
                creator: "u1".into(),
                created_at: 1_000 + (i * 7919) % 2_000,
                participants: vec!["u1".into(), "u2".into()],
            };
            state.apply(&Request::new(Command::CreateRoom { room }));
        }
        let queries =
            [vec![], vec![("sortField", "name")], vec![("search", "number%201"), ("sortField", "participantsCount")]];
        for query in queries {
            let params = ListParams::parse(raw(&query)).unwrap();
            let (mut whole, mut locked) = (std::time::Duration::MAX, std::time::Duration::MAX);
            for _ in 0..20 {
                let start = std::time::Instant::now();
                let page = select(&state, &params);
                whole = whole.min(start.elapsed());
                let start = std::time::Instant::now();
                let copied = candidates(&state, &params);
                locked = locked.min(start.elapsed());
                assert_eq!(copied.len(), 2_004);
                assert_eq!(page.rooms.len(), 10);
            }
            println!("{query:?}: all under the lock (before) {whole:?}; under the lock now (the copy) {locked:?}");
        }
    }
}
