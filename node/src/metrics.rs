//! Prometheus metrics at `GET /metrics` on the cluster listener, behind the cluster
//! secret, and on the public listener with `--public-metrics` (text format 0.0.4):
//! sockets, users, rooms, chat messages by outcome, fan-out and store latency, and
//! the Raft view of this node. Counters are plain atomics; nothing here allocates
//! on the hot path.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::Node;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// A latency histogram with fixed buckets.
#[derive(Default)]
pub(crate) struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub(crate) fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", count.load(Ordering::Relaxed));
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {total}");
    }
}

/// Why a chat message was not accepted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rejection {
    Session,
    Access,
    BannedWord,
    Invalid,
    StoreFailed,
    /// The sender is muted (protocol §8.3).
    Muted,
}

const REJECTIONS: [(Rejection, &str); 6] = [
    (Rejection::Session, "session"),
    (Rejection::Access, "access"),
    (Rejection::BannedWord, "banned_word"),
    (Rejection::Invalid, "invalid"),
    (Rejection::StoreFailed, "store_failed"),
    (Rejection::Muted, "muted"),
];

/// A limit of issue 12 that refused something (README "Limits").
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// A chat message over the content size cap.
    MessageSize,
    /// A `chatMessage` arriving while the socket's queue is full.
    ChatQueue,
    /// The per-user `chatMessage` rate limit.
    ChatRate,
    /// A new reaction on a message that has the most distinct reactions already.
    Reactions,
    /// The per-user room-creation rate limit.
    RoomCreate,
    /// The per-user join/leave rate limit.
    Membership,
    /// A login or room-password attempt refused after too many wrong passwords.
    PasswordFailures,
    /// A connection refused because its user has the most sockets already.
    SocketsPerUser,
    /// A cross-origin request from an origin not in `--cors-origins`.
    CorsOrigin,
    /// The per-user `markMessagesAsRead` rate limit (the event is dropped).
    ReadMarkRate,
    /// The per-user AI-mention limit (the message is delivered without an AI reply).
    AiMentionRate,
    /// A socket disconnected because its outbound buffer was full.
    SlowConsumer,
    /// The per-user `fetchPreviousMessages` rate limit.
    HistoryRate,
    /// The per-user `messageReaction` rate limit.
    ReactionRate,
    /// An upload refused because its user has the most uploads in progress already.
    UploadsPerUser,
    /// An upload refused because this node has the most uploads in progress already.
    UploadsPerNode,
    /// An upload refused because its user's stored files would exceed their quota.
    UploadQuota,
    /// A file or profile-image read refused because this node is already waiting on
    /// peers for as many copies it lacks as it allows.
    PeerBlobReads,
}

const LIMITS: [(Limit, &str); 18] = [
    (Limit::MessageSize, "message_size"),
    (Limit::ChatQueue, "chat_queue"),
    (Limit::ChatRate, "chat_rate"),
    (Limit::Reactions, "reactions_per_message"),
    (Limit::RoomCreate, "room_create"),
    (Limit::Membership, "membership"),
    (Limit::PasswordFailures, "password_failures"),
    (Limit::SocketsPerUser, "sockets_per_user"),
    (Limit::CorsOrigin, "cors_origin"),
    (Limit::ReadMarkRate, "read_mark_rate"),
    (Limit::AiMentionRate, "ai_mention_rate"),
    (Limit::SlowConsumer, "slow_consumer"),
    (Limit::HistoryRate, "history_rate"),
    (Limit::ReactionRate, "reaction_rate"),
    (Limit::UploadsPerUser, "uploads_per_user"),
    (Limit::UploadsPerNode, "uploads_per_node"),
    (Limit::UploadQuota, "upload_quota"),
    (Limit::PeerBlobReads, "peer_blob_reads"),
];

#[derive(Default)]
pub(crate) struct Metrics {
    pub sockets_connected: AtomicU64,
    pub messages_accepted: AtomicU64,
    pub messages_delivered: AtomicU64,
    /// Read watermarks written (after coalescing: one per member and room per window).
    pub read_marks_written: AtomicU64,
    /// Applied entries the room announcer skipped because it fell behind.
    pub applied_lagged: AtomicU64,
    /// Uploads this node expired because no message referenced them in time.
    pub uploads_expired: AtomicU64,
    /// Copies this node served to peers (`GET`/`HEAD /cluster/blobs/{name}`).
    pub blob_reads_served: AtomicU64,
    /// Profile-image requests answered 404 because no record names the image: no
    /// peer was asked.
    pub profile_images_unknown: AtomicU64,
    /// Rooms' recent-message counts taken from the message store (not from the
    /// counts kept a few seconds).
    pub recent_count_scans: AtomicU64,
    rejected: [AtomicU64; REJECTIONS.len()],
    limits_hit: [AtomicU64; LIMITS.len()],
    pub store_latency: Histogram,
    pub fanout_latency: Histogram,
}

impl Metrics {
    pub(crate) fn reject(&self, why: Rejection) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn limit_hit(&self, limit: Limit) {
        self.limits_hit[limit as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, node: &Node) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(&mut out, "chat_sockets_connected", "Sockets connected to this node.", load(&self.sockets_connected));
        let (users, rooms, sockets) =
            node.cluster.read_local(|s| (s.users.len() as u64, s.rooms.len() as u64, s.presence.len() as u64));
        gauge(
            &mut out,
            "chat_node_draining",
            "1 while this node is drained of client sockets.",
            u64::from(node.drain.is_draining()),
        );
        gauge(&mut out, "chat_users", "Registered users.", users);
        gauge(&mut out, "chat_rooms", "Rooms.", rooms);
        gauge(&mut out, "chat_cluster_sockets", "Sockets on all nodes, from the presence state.", sockets);
        counter(&mut out, "chat_messages_accepted_total", "Chat messages stored.", load(&self.messages_accepted));
        counter(
            &mut out,
            "chat_messages_delivered_total",
            "Chat messages emitted to this node's room sockets.",
            load(&self.messages_delivered),
        );
        counter(
            &mut out,
            "chat_read_marks_written_total",
            "Read watermarks written, after coalescing per member and room.",
            load(&self.read_marks_written),
        );
        counter(
            &mut out,
            "chat_applied_events_lagged_total",
            "Applied entries not announced to this node's sockets because the announcer fell behind.",
            load(&self.applied_lagged),
        );
        counter(
            &mut out,
            "chat_uploads_expired_total",
            "Uploads deleted by this node because no message referenced them within --upload-grace-ms.",
            load(&self.uploads_expired),
        );
        counter(
            &mut out,
            "chat_blob_peer_reads_total",
            "Blob copies this node served to peers that lacked them (GET/HEAD /cluster/blobs).",
            load(&self.blob_reads_served),
        );
        counter(
            &mut out,
            "chat_profile_images_unknown_total",
            "Profile-image requests answered 404 at once: no record names the image, no peer asked.",
            load(&self.profile_images_unknown),
        );
        counter(
            &mut out,
            "chat_recent_count_scans_total",
            "Rooms' recentMessageCount walked in the message store (room lists and views; others reuse a count).",
            load(&self.recent_count_scans),
        );
        let _ = writeln!(out, "# HELP chat_messages_rejected_total Chat messages refused, by reason.");
        let _ = writeln!(out, "# TYPE chat_messages_rejected_total counter");
        for ((_, reason), count) in REJECTIONS.iter().zip(&self.rejected) {
            let _ = writeln!(out, "chat_messages_rejected_total{{reason=\"{reason}\"}} {}", load(count));
        }
        let _ = writeln!(out, "# HELP chat_limit_hits_total Requests refused by an input limit, by limit.");
        let _ = writeln!(out, "# TYPE chat_limit_hits_total counter");
        for ((_, limit), count) in LIMITS.iter().zip(&self.limits_hit) {
            let _ = writeln!(out, "chat_limit_hits_total{{limit=\"{limit}\"}} {}", load(count));
        }
        counter(
            &mut out,
            "chat_password_hashes_total",
            "bcrypt hashes and checks finished (logins, sign-ups, room passwords).",
            crate::auth::hashing::global().completed(),
        );
        // Counted where it is enforced: the Raft proposer (a write too large for an entry).
        let oversized = node.cluster.oversized_requests();
        let _ = writeln!(out, "chat_limit_hits_total{{limit=\"raft_entry_bytes\"}} {oversized}");
        self.store_latency.render(&mut out, "chat_store_append_seconds", "Message store append latency.");
        self.fanout_latency.render(&mut out, "chat_fanout_seconds", "Fan-out POST latency to one peer.");
        let (raft, fanout) = (node.cluster.client().traffic(), node.fanout.traffic());
        counter(
            &mut out,
            "chat_cluster_bytes_sent_total",
            "Body bytes this node sent to peers (Raft RPCs, forwarded writes, apply polls, fan-out).",
            raft.sent() + fanout.sent(),
        );
        counter(
            &mut out,
            "chat_cluster_bytes_received_total",
            "Body bytes of peers' answers to this node's cluster requests.",
            raft.received() + fanout.received(),
        );
        let m = node.cluster.metrics();
        gauge(&mut out, "chat_raft_term", "Current Raft term.", m.current_term);
        gauge(&mut out, "chat_raft_leader", "Current leader id (0: none).", m.current_leader.unwrap_or(0));
        gauge(&mut out, "chat_raft_is_leader", "1 if this node leads.", u64::from(m.current_leader == Some(m.id)));
        gauge(&mut out, "chat_raft_last_log_index", "Last log index.", m.last_log_index.unwrap_or(0));
        gauge(&mut out, "chat_raft_applied_index", "Last applied index.", m.last_applied.map_or(0, |l| l.index));
        gauge(&mut out, "chat_raft_fresh", "1 while reads here are linearizable.", u64::from(node.cluster.is_fresh()));
        counter(
            &mut out,
            "chat_raft_forwarded_batches_total",
            "Write batches forwarded to the leader.",
            node.cluster.forwarded_batches(),
        );
        out
    }
}

pub(crate) async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], node.metrics.render(&node))
}
