//! The console's files, embedded with `include_str!` from `node/console/`, and how they are
//! answered: every page route gets the same HTML shell (the client routes itself), every
//! asset its content type. The files never change while a node runs, yet a new binary may
//! bring new ones, so browsers revalidate (`no-cache`) instead of keeping stale modules.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The client's routes (kept as the existing web client has them, so bookmarks and
/// browser tests carry over), plus `/admin` and `/cluster`.
pub(super) const PAGES: &[&str] =
    &["/", "/login", "/register", "/chat", "/chat/new", "/chat/{room_id}", "/profile", "/admin", "/cluster"];

const SHELL: &str = include_str!("../../console/index.html");

/// `(name under /console/, content type, bytes)`.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../../console/app.css")),
    ("js/main.js", JS, include_str!("../../console/js/main.js")),
    ("js/sio.js", JS, include_str!("../../console/js/sio.js")),
    ("js/api.js", JS, include_str!("../../console/js/api.js")),
    ("js/ui.js", JS, include_str!("../../console/js/ui.js")),
    ("js/auth.js", JS, include_str!("../../console/js/auth.js")),
    ("js/rooms.js", JS, include_str!("../../console/js/rooms.js")),
    ("js/room.js", JS, include_str!("../../console/js/room.js")),
    ("js/messages.js", JS, include_str!("../../console/js/messages.js")),
    ("js/profile.js", JS, include_str!("../../console/js/profile.js")),
    ("js/admin.js", JS, include_str!("../../console/js/admin.js")),
    ("js/cluster.js", JS, include_str!("../../console/js/cluster.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

pub(super) async fn shell() -> Response {
    reply("text/html; charset=utf-8", SHELL)
}

pub(super) async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some((_, content_type, body)) => reply(content_type, body),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn reply(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module the shell or another module imports is served: a missing entry would
    /// only show up as a blank page in a browser.
    #[test]
    fn every_imported_module_is_embedded() {
        let mut sources: Vec<&str> = ASSETS.iter().map(|(_, _, body)| *body).collect();
        sources.push(SHELL);
        for source in sources {
            for piece in source.split(['"', '\'']) {
                let Some(rest) = piece.strip_prefix("/console/").or_else(|| piece.strip_prefix("./")) else {
                    continue;
                };
                if !(rest.ends_with(".js") || rest.ends_with(".css")) {
                    continue;
                }
                let name = if piece.starts_with("./") { format!("js/{rest}") } else { rest.to_owned() };
                assert!(ASSETS.iter().any(|(asset, _, _)| *asset == name), "{name} is imported but not embedded");
            }
        }
    }
}
