//! Who may upload now (issue 12): uploads in progress per user and per node, and each
//! user's quota of stored upload bytes.
//!
//! Why: an upload holds a connection, a staged file and disk bandwidth for as long as
//! its client takes, then a copy to a peer; without a bound one user, or many, could
//! keep any number going at once, and store without end.
//!
//! A slot is taken when the request arrives, before any byte of its body is read, and
//! given back when the request ends, answered or not (the [`UploadSlot`] guard). Slots
//! are counted per node: an upload runs entirely on the node that takes it.
//!
//! The quota is measured against the replicated file records (`Files::used_by`: chat
//! uploads and profile images still recorded), so every node counts the same bytes. It
//! is checked here before the body is read and again once its size is known (cheap,
//! early answers on this replica), and decided by the apply of `RecordFile`, which
//! carries the quota: two uploads racing for the last free bytes cannot both fit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::Value;

use super::respond::ApiError;
use crate::config::Config;
use crate::metrics::Limit;
use crate::Node;

/// `retryAfter` of a refused upload: about the time a large upload takes.
pub(super) const RETRY_AFTER_SECS: u64 = 5;

/// Uploads in progress on this node.
pub(crate) struct UploadSlots {
    per_user: usize,
    per_node: usize,
    busy: Arc<Mutex<Busy>>,
}

#[derive(Default)]
struct Busy {
    total: usize,
    by_user: HashMap<String, usize>,
}

/// One upload in progress; its slot is free again when this is dropped.
pub(crate) struct UploadSlot {
    busy: Arc<Mutex<Busy>>,
    user: String,
}

impl UploadSlots {
    pub(crate) fn from_config(config: &Config) -> Self {
        Self::new(config.max_uploads_per_user, config.max_uploads_per_node)
    }

    fn new(per_user: usize, per_node: usize) -> Self {
        Self { per_user, per_node, busy: Arc::default() }
    }

    /// A slot for `user`, or the limit that refuses one (the user's own first).
    pub(crate) fn try_take(&self, user: &str) -> Result<UploadSlot, Limit> {
        let mut busy = self.busy.lock().expect("upload slots poisoned");
        let mine = busy.by_user.get(user).copied().unwrap_or(0);
        if mine >= self.per_user {
            return Err(Limit::UploadsPerUser);
        }
        if busy.total >= self.per_node {
            return Err(Limit::UploadsPerNode);
        }
        busy.total += 1;
        *busy.by_user.entry(user.to_owned()).or_default() += 1;
        Ok(UploadSlot { busy: self.busy.clone(), user: user.to_owned() })
    }
}

/// The refusal of an upload of `adding` bytes by `user` when this replica already sees
/// their recorded files at or over the quota with it (counted as `upload_quota`).
pub(super) fn over_quota(node: &Node, user: &str, adding: u64) -> Option<ApiError> {
    let used = node.cluster.read_local(|s| s.files.used_by(user));
    let quota = node.config.upload_quota_bytes();
    let over = if adding == 0 { used >= quota } else { used.saturating_add(adding) > quota };
    over.then(|| quota_exceeded(node, user, used))
}

/// 413 `UPLOAD_QUOTA_EXCEEDED`: `user`'s recorded files take `used` bytes and the
/// upload does not fit in what is left of `--upload-quota-mb`.
pub(super) fn quota_exceeded(node: &Node, user: &str, used: u64) -> ApiError {
    node.metrics.limit_hit(Limit::UploadQuota);
    let quota = node.config.upload_quota_bytes();
    tracing::info!(user, used, quota, "upload refused: over the upload quota");
    let message = format!(
        "업로드 용량 한도({}MB)를 초과했습니다. 파일을 삭제한 뒤 다시 시도해주세요.",
        node.config.upload_quota_mb
    );
    ApiError::coded(StatusCode::PAYLOAD_TOO_LARGE, "UPLOAD_QUOTA_EXCEEDED", message)
        .with_field("quotaBytes", Value::from(quota))
        .with_field("usedBytes", Value::from(used))
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut busy = self.busy.lock().expect("upload slots poisoned");
        busy.total -= 1;
        if let Some(mine) = busy.by_user.get_mut(&self.user) {
            *mine -= 1;
            if *mine == 0 {
                busy.by_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_user_and_per_node_and_given_back() {
        let slots = UploadSlots::new(2, 3);
        let a1 = slots.try_take("a").expect("first of a");
        let _a2 = slots.try_take("a").expect("second of a");
        assert!(matches!(slots.try_take("a"), Err(Limit::UploadsPerUser)));
        let _b1 = slots.try_take("b").expect("first of b");
        assert!(matches!(slots.try_take("c"), Err(Limit::UploadsPerNode)));
        drop(a1);
        let _c1 = slots.try_take("c").expect("a slot was given back");
        assert!(matches!(slots.try_take("a"), Err(Limit::UploadsPerNode)));
    }
}
