//! The public REST API under `/api` (protocol §3): auth, users and rooms, behind the
//! CORS layer and the token guard.
//!
//! | file | owns |
//! |---|---|
//! | `cors.rs` | CORS headers on every `/api` answer for the allowed origins (`--cors-origins`), preflights |
//! | `guard.rs` | which paths need a token, where tokens are read, the session check |
//! | `respond.rs` | envelopes and the one mapping from failures to responses |
//! | `input.rs` | JSON and query extraction with clean 400s, client metadata |
//! | `validate.rs` | the field rules and messages of protocol §2.5 |
//! | `auth_routes.rs` | `/api/auth/**` |
//! | `users.rs` | `/api/users/**` |
//! | `files.rs` | `/api/files/**`: uploads, download and view |
//! | `profile_image.rs` | `/api/users/profile-image` |
//! | `upload_intake.rs` | the intake shared by both: multipart part streamed to a staged file, checks, storing and recording |
//! | `upload_admission.rs` | uploads in progress per user and per node, the per-user upload quota |
//! | `uploads.rs` | `/api/uploads/**`: public profile images |
//! | `rooms.rs`, `room_list.rs` | `/api/rooms/**` |
//! | `room_view.rs` | `RoomResponse`, `UserResponse`, the auth user shape, timestamps |
//! | `ids.rs` | ObjectId-style ids and session ids |
//! | `admin/` | `/api/admin/**`: members, roles, sanctions, the audit log (admins only) |
//! | `room_presence.rs` | `GET /api/rooms/{id}/presence`: which participants are online |
//! | `cluster_view.rs` | `GET /api/console/cluster`: the web console's cluster view, admins only |
//! | `cluster_actions.rs` | the dashboard's operator actions: transfer leadership, drain a node (admins only) |
//! | `info.rs` | `GET /api`, the message-history placeholder, unknown paths |

mod admin;
mod auth_routes;
mod cluster_actions;
mod cluster_view;
mod cors;
mod files;
mod guard;
pub(crate) mod ids;
mod info;
mod input;
mod profile_image;
mod recent_counts;
mod respond;
mod room_list;
mod room_presence;
pub(crate) mod room_view;
mod rooms;
mod upload_admission;
mod upload_intake;
mod uploads;
mod users;
mod validate;

pub(crate) use guard::is_api;
pub(crate) use recent_counts::RecentCounts;
pub(crate) use upload_admission::UploadSlots;
pub(crate) use validate::is_email;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{any, get};
use axum::Router;

use crate::Node;

/// Every REST route under `/api` except `/api/health` (served by `public`).
pub(crate) fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/api", get(info::api))
        .route("/api/", get(info::api))
        .merge(auth_routes::routes())
        .merge(users::routes())
        .merge(rooms::routes())
        .merge(files::routes())
        .merge(profile_image::routes())
        .merge(uploads::routes())
        .merge(admin::routes())
        .merge(cluster_view::routes())
        .merge(cluster_actions::routes())
        .merge(room_presence::routes())
        .route("/api/message/rooms/{room_id}/messages", get(info::message_history))
        .route("/api/{*rest}", any(info::not_found))
        .layer(DefaultBodyLimit::max(input::JSON_BODY_LIMIT))
        .with_state(node)
}

/// CORS alone, for the Socket.IO listener: no REST routes live there, so no token
/// check either (a stale token still gets 200 from its `/api/health`).
pub(crate) fn cors_only(router: Router, node: &Arc<Node>) -> Router {
    router.layer(from_fn_with_state(node.clone(), cors::cors))
}

/// Put the REST edge around `router`: the token guard inside, CORS outermost so that
/// even the guard's 401s and the preflights carry CORS headers. Both act on `/api/**`
/// only, so `/api/health` gets them while other routes pass untouched.
pub(crate) fn edge(router: Router, node: Arc<Node>) -> Router {
    router.layer(from_fn_with_state(node.clone(), guard::guard)).layer(from_fn_with_state(node, cors::cors))
}
