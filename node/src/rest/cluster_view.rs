//! `GET /api/console/cluster`: the cluster as the web console's dashboard shows it, for
//! admins only. The node asks every member's cluster listener for its status (with the
//! cluster secret, which never leaves the server) and each member's `/metrics` there
//! for its message counter and drain state; sockets and users per node come from the
//! replicated presence state. The operator actions on this view are `cluster_actions.rs`. A member that does not answer within a second is listed as
//! unreachable rather than failing the whole view.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chat_raft::api::{Member, NodeStatus};
use chat_raft::state::Role;
use serde::Serialize;

use super::respond::ApiError;
use crate::auth::AuthUser;
use crate::Node;

const ASK_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new().route("/api/console/cluster", get(cluster))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterView {
    success: bool,
    observed_by: u64,
    timestamp: i64,
    nodes: Vec<NodeView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeView {
    #[serde(flatten)]
    member: Member,
    /// Whether its cluster listener answered; without an answer only the membership
    /// and the presence counts are known.
    reachable: bool,
    status: Option<NodeStatus>,
    /// How many log entries the newest known log is ahead of what this node applied.
    lag: Option<u64>,
    sockets: usize,
    users: usize,
    /// `chat_messages_accepted_total` of the node; the dashboard derives messages/s.
    messages_accepted: Option<u64>,
    /// Whether the node is drained of client sockets (`chat_node_draining`); `None`
    /// when its `/metrics` did not answer.
    draining: Option<bool>,
}

/// The dashboard's routes and its operators' are for admins: 403 with this message
/// for anyone else (the token guard already answered 401 without a session).
pub(super) fn require_admin(user: &AuthUser) -> Result<(), ApiError> {
    if user.user.role != Role::Admin {
        return Err(ApiError::refused(StatusCode::FORBIDDEN, "관리자만 볼 수 있습니다."));
    }
    Ok(())
}

async fn cluster(State(node): State<Arc<Node>>, user: AuthUser) -> Result<Json<ClusterView>, ApiError> {
    require_admin(&user)?;
    let own = node.cluster.status(node.config.health_grace());
    let members = own.members.clone();
    let asks = members.iter().map(|member| ask(&node, member, &own));
    let answers = futures::future::join_all(asks).await;
    let newest_log = answers.iter().flatten().map(|(s, _)| s.last_log_index).max().unwrap_or(0);
    let nodes = members
        .into_iter()
        .zip(answers)
        .map(|(member, answer)| {
            let (sockets, users) = node.cluster.read_local(|s| {
                let on_node: Vec<_> = s.presence.sockets_on_node(member.id).collect();
                let users: BTreeSet<&str> = on_node.iter().map(|(_, info)| info.user_id.as_str()).collect();
                (on_node.len(), users.len())
            });
            let (status, public) = match answer {
                Some((status, public)) => (Some(status), public),
                None => (None, None),
            };
            NodeView {
                reachable: status.is_some(),
                lag: status.as_ref().map(|s| newest_log.saturating_sub(s.last_applied)),
                status,
                member,
                sockets,
                users,
                messages_accepted: public.map(|p| p.messages_accepted),
                draining: public.map(|p| p.draining),
            }
        })
        .collect();
    Ok(Json(ClusterView {
        success: true,
        observed_by: own.id,
        timestamp: chrono::Utc::now().timestamp_millis(),
        nodes,
    }))
}

/// What the view takes from a member's `/metrics`.
#[derive(Clone, Copy)]
struct MemberMetrics {
    messages_accepted: u64,
    draining: bool,
}

/// One member's status and metrics; `None` when its cluster listener is silent.
async fn ask(node: &Node, member: &Member, own: &NodeStatus) -> Option<(NodeStatus, Option<MemberMetrics>)> {
    let status = if member.id == own.id {
        own.clone()
    } else {
        tokio::time::timeout(ASK_TIMEOUT, node.cluster.client().status(&member.cluster)).await.ok()?.ok()?
    };
    let public = if member.id == own.id {
        Some(MemberMetrics {
            messages_accepted: node.metrics.messages_accepted.load(std::sync::atomic::Ordering::Relaxed),
            draining: node.drain.is_draining(),
        })
    } else {
        member_metrics(node, &member.cluster).await
    };
    Some((status, public))
}

/// The message counter and drain gauge from a member's `/metrics` (Prometheus text),
/// asked on its cluster listener with the cluster secret.
async fn member_metrics(node: &Node, cluster: &str) -> Option<MemberMetrics> {
    let text = node.cluster.client().metrics(cluster, ASK_TIMEOUT).await.ok()?;
    let value = |name: &str| -> Option<u64> {
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')).and_then(|v| v.trim().parse().ok())
    };
    Some(MemberMetrics {
        messages_accepted: value("chat_messages_accepted_total")?,
        draining: value("chat_node_draining").is_some_and(|v| v == 1),
    })
}
