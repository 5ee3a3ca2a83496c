//! Clean-up of abandoned uploads (issue 12): a chat upload that no message references
//! within `--upload-grace-ms` of its upload is deleted, record and every copy.
//!
//! Why: an upload is stored (and counted against its user's quota) before any message
//! refers to it; a client that never posts the message, or a script that only
//! uploads, would otherwise fill the disks for good.
//!
//! "Attached" is the replicated record's `rooms` (a file message commits `AttachFile`
//! before the message itself). Safety comes from deciding in the Raft apply, not here:
//! the leader proposes `ExpireFile` for each record it sees unattached and old enough,
//! and the apply removes the record only if it is still unattached then. So a file
//! attached concurrently with the sweep is kept (its `AttachFile` committed first) or
//! the attach fails as for any unknown file (it committed after); a message never
//! points to a deleted file. Only the node that committed the expiry deletes the bytes
//! (`BlobStore::delete`: here and on every member it reaches).
//!
//! Every node also removes its own copies that no record points to once they are older
//! than the grace period: copies on a member that was unreachable when a file was
//! deleted or expired, or of an upload whose record was never committed. It looks at
//! a fresh replica only (a node still catching up could miss records of files it holds).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chat_raft::{Command, Outcome};
use chat_storage::{BlobName, BlobStore};
use tokio::sync::watch;

use crate::auth::now_ms;
use crate::Node;

/// Records expired per round at most, so one round stays short.
const ROUND_LIMIT: usize = 100;

/// Sweep every quarter of the grace period (within 200 ms and a minute) until `stop`.
pub(crate) async fn run(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    let grace = node.config.upload_grace_ms;
    let every = Duration::from_millis((grace / 4).clamp(200, 60_000));
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(every) => {}
        }
        if node.cluster.leader_addr().is_some_and(|(leader, _)| leader == node.cluster.id()) {
            expire_records(&node, grace).await;
        }
        if node.mongo.is_none() {
            remove_orphan_copies(&node, grace).await;
        }
    }
}

/// Propose `ExpireFile` for the unattached uploads older than `grace`; delete the
/// bytes of those the apply removed.
async fn expire_records(node: &Node, grace: u64) {
    let uploaded_before = now_ms().saturating_sub(grace);
    let candidates: Vec<String> = node.cluster.read_local(|s| {
        s.files
            .iter()
            .filter(|f| f.is_unattached_before(uploaded_before))
            .take(ROUND_LIMIT)
            .map(|f| f.id.clone())
            .collect()
    });
    for file_id in candidates {
        let command = Command::ExpireFile { file_id: file_id.clone(), uploaded_before };
        match node.cluster.propose(command).await {
            Ok(Outcome::FileDeleted { filename, holders }) => {
                node.metrics.uploads_expired.fetch_add(1, Ordering::Relaxed);
                tracing::info!(file = %file_id, blob = %filename, ?holders, "expired an upload no message references");
                let Ok(name) = BlobName::parse(&filename) else { continue };
                if let Err(e) = node.blobs.delete(&name).await {
                    tracing::warn!(blob = %name, error = %e, "expired upload left its bytes behind");
                }
            }
            // Attached meanwhile, or gone already.
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(file = %file_id, error = %e, "upload expiry not committed; next round");
                return;
            }
        }
    }
}

/// Remove this node's copies older than `grace` that no record points to.
async fn remove_orphan_copies(node: &Node, grace: u64) {
    let before = SystemTime::now() - Duration::from_millis(grace);
    let stored = match node.blob_copies.written_before(before).await {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(error = %e, "could not list this node's blob copies");
            return;
        }
    };
    if stored.is_empty() {
        return;
    }
    let recorded = node.cluster.read(|s| stored.iter().map(|n| s.files.by_filename(n.as_str()).is_some()).collect());
    let Ok(recorded): Result<Vec<bool>, _> = recorded.await else {
        return; // not fresh: maybe missing records of files this node holds
    };
    for (name, recorded) in stored.iter().zip(recorded) {
        if recorded {
            continue;
        }
        match node.blob_copies.delete(name).await {
            Ok(_) => tracing::info!(blob = %name, "removed a copy no record points to"),
            Err(e) => tracing::warn!(blob = %name, error = %e, "could not remove a copy no record points to"),
        }
    }
}
