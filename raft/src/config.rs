//! Timing settings of the Raft layer, validated once at start.

use std::time::Duration;

use crate::types::NodeId;
use crate::Error;

/// Raft timing and snapshot settings. The defaults aim at a new leader and
/// successful writes within 1 s of a leader dying on a LAN or loopback.
#[derive(Debug, Clone)]
pub struct RaftSettings {
    /// Leader heartbeat period. openraft 0.9 also uses it as the deadline of every
    /// AppendEntries RPC, so it must exceed a busy node's answer time: 40 ms made
    /// replication stall under load on two shared cores, while the failover time
    /// depends on the election range, not on this.
    pub heartbeat_ms: u64,
    /// Election timeout range; a follower that heard nothing for this long campaigns.
    /// openraft also refuses votes for `election_max_ms` after the last heartbeat (its
    /// leader lease), so a leader's death costs about `max + min` without a leader:
    /// the range is kept narrow.
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Read lease: a follower serves authenticated reads only if it heard from the
    /// leader within this long (and applied what the leader had committed then). Must
    /// be shorter than `election_min_ms`, so a lease always ends before another leader
    /// can exist.
    pub lease_ms: u64,
    /// Take a snapshot (and purge the log before it) every this many entries.
    pub snapshot_every: u64,
    /// Log entries kept behind a snapshot. A follower that lags by fewer entries than
    /// this catches up from the log; past it, it needs the snapshot, which carries
    /// every stored message. With 100, a follower a second behind under the
    /// 3,000-user ramp was sent a snapshot, which took the cluster down.
    pub snapshot_keep: u64,
    /// How long the leader waits for a silent node before proposing `NodeDown`.
    pub node_down_grace_ms: u64,
    /// Deadline of a client write, including retries after a leader change.
    pub write_timeout_ms: u64,
}

impl Default for RaftSettings {
    fn default() -> Self {
        Self {
            heartbeat_ms: 70,
            election_min_ms: 200,
            election_max_ms: 300,
            lease_ms: 180,
            snapshot_every: 50_000,
            snapshot_keep: 20_000,
            node_down_grace_ms: 3_000,
            write_timeout_ms: 5_000,
        }
    }
}

impl RaftSettings {
    pub fn validate(&self) -> Result<(), Error> {
        if self.heartbeat_ms == 0 || self.heartbeat_ms * 2 > self.lease_ms {
            return Err(Error::Invalid(format!(
                "heartbeat ({} ms) must be positive and at most half the lease ({} ms)",
                self.heartbeat_ms, self.lease_ms
            )));
        }
        if self.lease_ms >= self.election_min_ms {
            return Err(Error::Invalid(format!(
                "lease ({} ms) must be shorter than the minimum election timeout ({} ms)",
                self.lease_ms, self.election_min_ms
            )));
        }
        if self.election_min_ms >= self.election_max_ms {
            return Err(Error::Invalid(format!(
                "election timeout min ({} ms) must be below max ({} ms)",
                self.election_min_ms, self.election_max_ms
            )));
        }
        if self.snapshot_every == 0 {
            return Err(Error::Invalid("snapshot interval must be at least 1 entry".into()));
        }
        Ok(())
    }

    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    /// Node `id`'s snapshot interval: `snapshot_every` plus an eighth of it per step of
    /// the id (mod 4). At one interval every node built its snapshot at the same index,
    /// and on a shared machine under load the exports together held delivery p99 at
    /// 0.5–1.7 s for 20 s (README "Build 8"). Staggered, the nodes of a 3- or 4-node
    /// cluster build theirs thousands of entries apart.
    pub fn snapshot_interval(&self, id: NodeId) -> u64 {
        self.snapshot_every.saturating_add(self.snapshot_every / 8 * (id % 4))
    }

    /// How long a node restarting into its cluster waits to hear from the leader before
    /// it may campaign (`cluster/rejoin.rs`): five election timeouts, well past
    /// openraft's 500 ms back-off from a peer that was unreachable, so a live leader
    /// always gets there first.
    pub fn rejoin_hold(&self) -> Duration {
        Duration::from_millis(self.election_max_ms.saturating_mul(5))
    }

    pub(crate) fn openraft_config(&self, id: NodeId) -> Result<openraft::Config, Error> {
        let config = openraft::Config {
            cluster_name: "chat".into(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_min_ms,
            election_timeout_max: self.election_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_interval(id)),
            max_in_snapshot_log_to_keep: self.snapshot_keep,
            install_snapshot_timeout: 2_000,
            max_payload_entries: 512,
            ..Default::default()
        };
        config.validate().map_err(|e| Error::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_snapshot_at_different_intervals() {
        let settings = RaftSettings::default();
        let intervals: Vec<u64> = (1..=4).map(|id| settings.snapshot_interval(id)).collect();
        assert_eq!(intervals, [56_250, 62_500, 68_750, 50_000]);
        let config = settings.openraft_config(2).expect("valid");
        assert_eq!(config.snapshot_policy, openraft::SnapshotPolicy::LogsSinceLast(62_500));
    }
}
