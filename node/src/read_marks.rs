//! Read receipts as watermarks, coalesced per node (architecture §3.2).
//!
//! `markMessagesAsRead` and history loads hand their marks to [`ReadMarks::add`], in
//! memory. A background task ([`run`]) waits [`WINDOW`] after the first pending mark,
//! then writes everything pending as one `mark_read` call (one Raft command in the
//! embedded store) carrying each member's highest mark per room, and only then
//! broadcasts one `messagesRead {userId, messageIds}` per member and room with the ids
//! that member sent during the window. While a write is in flight new marks keep
//! accumulating, so the batch grows with the load instead of the number of writes.
//!
//! One write per mark rewrote a growing message record each time, and made the cluster
//! collapse near 2,000 users with every delivery marked read; coalesced, the Raft cost
//! of read receipts is a few commands per second per node whatever the load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_raft::command::Millis;
use chat_raft::messages::{ReadMark, ReadNotice};
use serde_json::json;
use socketioxide::extract::SocketRef;
use tokio::sync::{watch, Notify};

use crate::fanout::Target;
use crate::Node;

/// How long marks gather after the first one before they are written. Read receipts
/// must reach the sender within a few seconds; 100 ms is invisible to people, collects
/// every member's mark of a message just delivered to a room, and keeps read receipts
/// to a few Raft commands per second per node.
pub(crate) const WINDOW: Duration = Duration::from_millis(100);
/// How long the final write at shutdown may take.
const FINAL_FLUSH_DEADLINE: Duration = Duration::from_secs(2);
/// The client-facing error when marks could not be stored (protocol §6.5.5).
pub(crate) const STORE_FAILED: &str = "읽음 상태 업데이트 중 오류가 발생했습니다.";

/// Marks of this node not written yet, per (room, user).
#[derive(Default)]
pub(crate) struct ReadMarks {
    pending: Mutex<HashMap<(String, String), Pending>>,
    wake: Notify,
}

struct Pending {
    seq: u64,
    at: Millis,
    /// The ids as the member sent them during the window (each once), for the
    /// `messagesRead` broadcast; empty for marks from history loads (no broadcast).
    ids: Vec<String>,
    /// Who asked, to be told if the write fails.
    sockets: Vec<SocketRef>,
}

impl ReadMarks {
    /// Note that `user` has read `room` up to `seq` at `at`. `ids` are broadcast in
    /// `messagesRead` once the mark is stored; `socket` gets an `error` if it is not.
    pub(crate) fn add(&self, mark: ReadMark, ids: Vec<String>, socket: Option<SocketRef>) {
        let mut pending = self.pending.lock().expect("read marks lock");
        let entry = pending.entry((mark.room, mark.user_id)).or_insert_with(|| Pending {
            seq: 0,
            at: mark.at,
            ids: Vec::new(),
            sockets: Vec::new(),
        });
        if mark.seq > entry.seq {
            entry.seq = mark.seq;
            entry.at = mark.at;
        }
        for id in ids {
            if !entry.ids.contains(&id) {
                entry.ids.push(id);
            }
        }
        if let Some(socket) = socket {
            if !entry.sockets.iter().any(|s| s.id == socket.id) {
                entry.sockets.push(socket);
            }
        }
        drop(pending);
        self.wake.notify_one();
    }

    fn take(&self) -> HashMap<(String, String), Pending> {
        std::mem::take(&mut *self.pending.lock().expect("read marks lock"))
    }
}

/// Write pending marks every [`WINDOW`] while there are any, until `stop`; then write
/// what is left, bounded by a deadline.
pub(crate) async fn run(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = node.read_marks.wake.notified() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        tokio::time::sleep(WINDOW).await;
        flush(&node, node.read_marks.take()).await;
    }
    let last = node.read_marks.take();
    if tokio::time::timeout(FINAL_FLUSH_DEADLINE, flush(&node, last)).await.is_err() {
        tracing::warn!("read marks not stored before shutdown");
    }
}

async fn flush(node: &Node, batch: HashMap<(String, String), Pending>) {
    if batch.is_empty() {
        return;
    }
    let marks: Vec<ReadMark> = batch
        .iter()
        .map(|((room, user_id), p)| ReadMark { room: room.clone(), user_id: user_id.clone(), seq: p.seq, at: p.at })
        .collect();
    let notices: Vec<ReadNotice> = batch
        .iter()
        .filter(|(_, p)| !p.ids.is_empty())
        .map(|((room, user_id), p)| ReadNotice {
            room: room.clone(),
            user_id: user_id.clone(),
            message_ids: p.ids.clone(),
        })
        .collect();
    node.metrics.read_marks_written.fetch_add(marks.len() as u64, std::sync::atomic::Ordering::Relaxed);
    // Carried in the write only for the nodes that announce on apply.
    let carried = if node.announces_on_apply() { notices.as_slice() } else { &[] };
    if let Err(e) = node.messages.mark_read(&marks, carried).await {
        tracing::warn!(marks = marks.len(), error = %e, "read marks not stored");
        for socket in batch.values().flat_map(|p| &p.sockets) {
            crate::socket::emit_error(socket, None, STORE_FAILED);
        }
        return;
    }
    if node.announces_on_apply() {
        // Every node announces the notices as it applies the write (fanout::applied).
        return;
    }
    for notice in notices {
        let payload = json!({ "userId": notice.user_id, "messageIds": notice.message_ids });
        node.fanout.emit(node, Target::Room(notice.room), "messagesRead", payload).await;
    }
}
