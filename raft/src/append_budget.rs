//! The byte budget of one AppendEntries request.
//!
//! The proposer caps each log entry ([`MAX_ENTRY_BYTES`]), but openraft batches up to
//! `max_payload_entries` of them into one AppendEntries for a follower that lags, and
//! such a batch could outgrow the body limit of the follower's cluster listener. The
//! follower refused it, openraft sent the same batch again, and that follower never
//! caught up. Here a batch over [`APPEND_BODY_BUDGET`] is cut to the longest prefix that
//! fits; the network answers openraft with `PartialSuccess` for that prefix, and
//! openraft sends the rest next.

use openraft::raft::AppendEntriesRequest;
use openraft::LogId;

use crate::proposer::{encoded_size, MAX_ENTRY_BYTES};
use crate::types::{NodeId, TypeConfig};

/// Largest AppendEntries body sent, as JSON: under the cluster listener's 64 MiB limit
/// with room for the request's other fields.
pub const APPEND_BODY_BUDGET: usize = 48 << 20;
/// JSON around an entry's requests (log id, payload tag) is far below this.
const ENTRY_OVERHEAD: usize = 4 << 10;

/// Cut `rpc.entries` to the longest prefix (at least one entry) whose JSON fits in
/// `budget`. Returns the last log id kept when entries were cut, `None` when all fit.
pub(crate) fn fit(rpc: &mut AppendEntriesRequest<TypeConfig>, budget: usize) -> Option<LogId<NodeId>> {
    // Few enough capped entries always fit: nothing to measure on the common path.
    if rpc.entries.len().saturating_mul(MAX_ENTRY_BYTES + ENTRY_OVERHEAD) <= budget {
        return None;
    }
    let mut total = 0usize;
    let mut keep = 0usize;
    for entry in &rpc.entries {
        total = total.saturating_add(encoded_size(entry)).saturating_add(1);
        if total > budget && keep > 0 {
            break;
        }
        keep += 1;
    }
    if keep == rpc.entries.len() {
        return None;
    }
    rpc.entries.truncate(keep);
    rpc.entries.last().map(|entry| entry.log_id)
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, Entry, EntryPayload, Vote};

    use super::*;
    use crate::command::{Command, Proposal, Request};

    fn entry(index: u64, text_bytes: usize) -> Entry<TypeConfig> {
        let cmd = Command::SetBanned { user_id: "x".repeat(text_bytes), banned: true };
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Proposal { requests: vec![Request::new(cmd)] }),
        }
    }

    fn append(entries: Vec<Entry<TypeConfig>>) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest { vote: Vote::new_committed(1, 1), prev_log_id: None, entries, leader_commit: None }
    }

    #[test]
    fn a_batch_within_the_budget_is_sent_whole() {
        let mut rpc = append((1..=5).map(|i| entry(i, 1_000)).collect());
        assert_eq!(fit(&mut rpc, APPEND_BODY_BUDGET), None);
        assert_eq!(rpc.entries.len(), 5);
    }

    #[test]
    fn a_batch_over_the_budget_is_cut_to_the_prefix_that_fits() {
        // 20 entries of a little over 3 MiB each: 15 fit in 48 MiB (16 would be just over).
        let mut rpc = append((1..=20).map(|i| entry(i, 3 << 20)).collect());
        let kept = fit(&mut rpc, APPEND_BODY_BUDGET).expect("cut");
        assert_eq!(rpc.entries.len(), 15);
        assert_eq!(kept.index, 15);
        let body = serde_json::to_vec(&rpc).expect("encodes");
        assert!(body.len() <= APPEND_BODY_BUDGET, "{} bytes", body.len());
    }

    #[test]
    fn one_entry_is_always_sent_even_over_the_budget() {
        let mut rpc = append(vec![entry(1, 2_000), entry(2, 2_000)]);
        let kept = fit(&mut rpc, 1_000).expect("cut");
        assert_eq!((rpc.entries.len(), kept.index), (1, 1));
    }
}
