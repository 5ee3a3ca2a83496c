//! Reactions to replicated session changes, on every node for its own sockets
//! (protocol §2.6, "our implementation"): when a login replaces a session, the replaced
//! session's sockets get `duplicate_login` at once, `session_ended` 10 s later, and are
//! then disconnected. Banned users' and logged-out users' sockets get `session_ended`
//! with the reason, then are disconnected (protocol §8.3); deleted users' sockets are
//! disconnected. Admin deletions of messages and rooms are handed to `removals`.
//!
//! Every node applies every committed entry, so each finds its own affected sockets
//! without any cross-node message.

use std::sync::Arc;
use std::time::Duration;

use chat_raft::state::Session;
use chat_raft::{Command, Outcome};
use serde_json::json;
use socketioxide::SocketIo;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use super::session_user::SocketUser;
use crate::auth::now_ms;
use crate::fanout::user_room;
use crate::Node;

/// Between `duplicate_login` and `session_ended` (protocol §2.6).
const NOTICE_DELAY: Duration = Duration::from_secs(10);

/// Watch applied entries until `stop`.
pub(crate) async fn run(node: Arc<Node>, io: SocketIo, mut stop: watch::Receiver<bool>) {
    let mut applied = node.cluster.state_machine().subscribe();
    loop {
        let entry = tokio::select! {
            entry = applied.recv() => entry,
            _ = stop.wait_for(|s| *s) => return,
        };
        let entry = match entry {
            Ok(entry) => entry,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "session notices fell behind");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        for (command, outcome) in &entry.changes {
            match (command, outcome) {
                (Command::OpenSession { session }, Outcome::SessionOpened { replaced: Some(old) }) => {
                    replaced(&io, session, old);
                }
                (Command::DeleteUser { user_id, .. }, Outcome::UserDeleted { .. }) => {
                    let _ = io.to(user_room(user_id)).disconnect().await;
                }
                (Command::Ban { user_id, .. }, Outcome::Sanctioned { .. })
                | (Command::SetBanned { user_id, banned: true }, Outcome::UserUpdated) => {
                    end(&io, user_id, "banned", BANNED);
                }
                (Command::EndSession { user_id, .. }, Outcome::Sanctioned { .. }) => {
                    end(&io, user_id, "admin_logout", LOGGED_OUT);
                }
                (Command::DeleteMessage { message_id, room_id, .. }, Outcome::MessageDeleted { first: true }) => {
                    super::removals::message_deleted(&io, message_id, room_id).await;
                }
                (Command::DeleteRoom { room_id, .. }, Outcome::RoomDeleted { members }) => {
                    super::removals::room_deleted(&io, room_id, members);
                }
                _ => {}
            }
        }
    }
}

const BANNED: &str = "관리자에 의해 이용이 정지되었습니다.";
const LOGGED_OUT: &str = "관리자에 의해 로그아웃되었습니다.";

/// Tell every socket of the user on this node why its session ended, then close them:
/// the notice is queued on each socket before its disconnect packet.
fn end(io: &SocketIo, user_id: &str, reason: &str, message: &str) {
    let ended = json!({ "reason": reason, "message": message });
    for s in io.to(user_room(user_id)).sockets() {
        let _ = s.emit("session_ended", &ended);
        let _ = s.disconnect();
    }
}

/// Warn the sockets of `old` on this node, end them 10 s later.
fn replaced(io: &SocketIo, new: &Session, old: &Session) {
    let sockets: Vec<_> = io
        .to(user_room(&old.user_id))
        .sockets()
        .into_iter()
        .filter(|s| s.extensions.get::<SocketUser>().is_some_and(|u| u.session_id == old.session_id))
        .collect();
    if sockets.is_empty() {
        return;
    }
    let notice = json!({
        "type": "new_login_attempt",
        "deviceInfo": new.user_agent,
        "ipAddress": new.ip_address,
        "timestamp": now_ms(),
    });
    for s in &sockets {
        let _ = s.emit("duplicate_login", &notice);
    }
    tokio::spawn(async move {
        tokio::time::sleep(NOTICE_DELAY).await;
        let ended = json!({
            "reason": "duplicate_login",
            "message": "다른 기기에서 로그인하여 현재 세션이 종료되었습니다.",
        });
        for s in sockets {
            let _ = s.emit("session_ended", &ended);
            let _ = s.disconnect();
        }
    });
}
