//! `GET /api/admin/audit?page&pageSize` (protocol §8.4): every admin action, newest
//! first, from the replicated log, so every node answers the same.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::view::{audit_entry, Paging, RawPaging};
use super::{Admin, ACTION_FAILED};
use crate::rest::input::ApiQuery;
use crate::rest::respond::ApiError;
use crate::Node;

pub(super) async fn list(
    State(node): State<Arc<Node>>,
    _: Admin,
    ApiQuery(raw): ApiQuery<RawPaging>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(&raw)?;
    let (entries, total) = node
        .cluster
        .read(|state| {
            let page = state.audit.page_newest_first(paging.page as usize, paging.size as usize);
            (page.map(audit_entry).collect::<Vec<Value>>(), state.audit.len() as u64)
        })
        .await
        .map_err(|e| ApiError::cluster(e, ACTION_FAILED))?;
    let metadata = paging.metadata(total, entries.len());
    Ok(Json(json!({ "success": true, "data": entries, "metadata": metadata })).into_response())
}
