//! `chatctl status`: ask every known node for its status at once, with a short
//! timeout each, and merge the answers into one view of the cluster.
//!
//! Merging rules: a node's role comes from the Raft membership (as the leader knows
//! it, else as the most advanced node knows it); its state and applied index from its
//! own answer; the term is the highest seen; the leader is the node that reports
//! itself leader with the highest term (an old leader cut off from the others may
//! still believe it leads, in an older term).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chat_raft::api::{Member, MemberRole, NodeStatus, ServerState};
use chat_raft::client::ClusterClient;
use chat_raft::NodeId;
use serde::Serialize;

use crate::table::Table;
use crate::target::{Seed, Target};
use crate::Error;

/// How long one node gets to answer `/cluster/status`.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One node asked, and its answer (`None`: it did not answer in time).
#[derive(Debug, Clone)]
pub struct Probe {
    pub seed: Seed,
    pub status: Option<NodeStatus>,
}

impl Probe {
    pub fn id(&self) -> Option<NodeId> {
        self.status.as_ref().map(|s| s.id).or(self.seed.id)
    }
}

/// A node's state as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Leader,
    Follower,
    Learner,
    Candidate,
    Unreachable,
}

impl NodeState {
    fn of(status: Option<&NodeStatus>) -> Self {
        match status.map(|s| s.state) {
            Some(ServerState::Leader) => NodeState::Leader,
            Some(ServerState::Follower) => NodeState::Follower,
            Some(ServerState::Learner) => NodeState::Learner,
            Some(ServerState::Candidate) => NodeState::Candidate,
            // A node whose Raft has shut down serves nothing: for the operator it is down.
            Some(ServerState::Shutdown) | None => NodeState::Unreachable,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Leader => "leader",
            NodeState::Follower => "follower",
            NodeState::Learner => "learner",
            NodeState::Candidate => "candidate",
            NodeState::Unreachable => "unreachable",
        }
    }
}

/// One node in the merged view (`chatctl status --json` prints these fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeReport {
    pub id: NodeId,
    pub role: MemberRole,
    pub state: NodeState,
    pub last_applied: u64,
    pub public: String,
    pub cluster: String,
}

/// The merged view of the cluster (`chatctl status --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStatus {
    pub leader: Option<NodeId>,
    pub term: u64,
    pub nodes: Vec<NodeReport>,
}

impl ClusterStatus {
    pub fn node(&self, id: NodeId) -> Option<&NodeReport> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The leader's entry, if a leader is known.
    pub fn leader_node(&self) -> Option<&NodeReport> {
        self.leader.and_then(|id| self.node(id))
    }

    /// The readable table `chatctl status` prints.
    pub fn render(&self) -> String {
        let mut table = Table::new(&["id", "role", "state", "applied", "public", "cluster", "leader"]);
        for n in &self.nodes {
            let role = match n.role {
                MemberRole::Voter => "voter",
                MemberRole::Learner => "learner",
            };
            let marker = if Some(n.id) == self.leader { "*" } else { "" };
            table.row(vec![
                n.id.to_string(),
                role.into(),
                n.state.as_str().into(),
                n.last_applied.to_string(),
                n.public.clone(),
                n.cluster.clone(),
                marker.into(),
            ]);
        }
        let leader = self.leader.map_or_else(|| "none".to_string(), |id| id.to_string());
        format!("leader: {leader}  term: {}\n{table}", self.term)
    }
}

/// Ask the target's nodes, and then every member they report, for their status.
pub async fn probe(client: &ClusterClient, seeds: Vec<Seed>) -> Vec<Probe> {
    let mut probes = probe_all(client, seeds).await;
    let known: BTreeSet<NodeId> = probes.iter().filter_map(Probe::id).collect();
    let discovered: BTreeMap<NodeId, Seed> = probes
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| &s.members)
        .filter(|m| !known.contains(&m.id))
        .map(|m| (m.id, member_seed(m)))
        .collect();
    probes.extend(probe_all(client, discovered.into_values().collect()).await);
    probes
}

fn member_seed(m: &Member) -> Seed {
    Seed { id: Some(m.id), public: Some(m.public.clone()), cluster: m.cluster.clone(), role: Some(m.role) }
}

async fn probe_all(client: &ClusterClient, seeds: Vec<Seed>) -> Vec<Probe> {
    futures::future::join_all(seeds.into_iter().map(|seed| async move {
        let status = tokio::time::timeout(PROBE_TIMEOUT, client.status(&seed.cluster)).await.ok().and_then(Result::ok);
        Probe { seed, status }
    }))
    .await
}

/// Probe the target and merge. Fails only if no node can be named at all (a
/// `--cluster` address that does not answer).
pub async fn gather(target: &Target) -> Result<(ClusterClient, Vec<Probe>, ClusterStatus), Error> {
    let (client, seeds) = target.connect()?;
    let tried = seeds.iter().map(|s| s.cluster.clone()).collect::<Vec<_>>().join(", ");
    let probes = probe(&client, seeds).await;
    if probes.iter().all(|p| p.id().is_none()) {
        return Err(Error::Unreachable { tried });
    }
    let merged = merge(&probes);
    Ok((client, probes, merged))
}

/// Merge the answers into one view; see the module docs for the rules.
pub fn merge(probes: &[Probe]) -> ClusterStatus {
    let answers: Vec<&NodeStatus> = probes.iter().filter_map(|p| p.status.as_ref()).collect();
    let term = answers.iter().map(|s| s.term).max().unwrap_or(0);
    let leader = answers.iter().filter(|s| s.state == ServerState::Leader).max_by_key(|s| s.term).map(|s| s.id);
    let membership: BTreeMap<NodeId, MemberRole> = membership_view(&answers, leader)
        .map(|members| members.iter().map(|m| (m.id, m.role)).collect())
        .unwrap_or_default();

    let mut nodes: BTreeMap<NodeId, NodeReport> = BTreeMap::new();
    for probe in probes {
        let Some(id) = probe.id() else { continue };
        let status = probe.status.as_ref();
        let role = membership
            .get(&id)
            .copied()
            .or_else(|| status.and_then(|s| s.role))
            .or(probe.seed.role)
            .unwrap_or(MemberRole::Learner);
        let report = NodeReport {
            id,
            role,
            state: NodeState::of(status),
            last_applied: status.map_or(0, |s| s.last_applied),
            public: status.map(|s| s.public.clone()).or_else(|| probe.seed.public.clone()).unwrap_or_default(),
            cluster: status.map_or_else(|| probe.seed.cluster.clone(), |s| s.cluster.clone()),
        };
        // The same node may be probed twice (seed and member); keep the answer.
        match nodes.get(&id) {
            Some(existing) if existing.state != NodeState::Unreachable => {}
            _ => {
                nodes.insert(id, report);
            }
        }
    }
    ClusterStatus { leader, term, nodes: nodes.into_values().collect() }
}

/// The membership as the leader knows it, else as the most advanced answer knows it.
fn membership_view<'a>(answers: &[&'a NodeStatus], leader: Option<NodeId>) -> Option<&'a Vec<Member>> {
    let from_leader = answers.iter().find(|s| Some(s.id) == leader && !s.members.is_empty());
    let most_advanced =
        || answers.iter().filter(|s| !s.members.is_empty()).max_by_key(|s| (s.term, s.last_log_index, s.last_applied));
    from_leader.or_else(most_advanced).map(|s| &s.members)
}

/// Where to send a membership change: the leader, else any node that knows a
/// membership (it forwards to the leader). A node outside any membership cannot.
pub fn admin_node(probes: &[Probe], merged: &ClusterStatus) -> Option<(NodeId, String)> {
    if let Some(leader) = merged.leader_node() {
        return Some((leader.id, leader.cluster.clone()));
    }
    probes.iter().filter_map(|p| p.status.as_ref()).find(|s| !s.members.is_empty()).map(|s| (s.id, s.cluster.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: NodeId, role: MemberRole) -> Member {
        Member { id, role, public: format!("127.0.0.1:{}", 5000 + id), cluster: format!("127.0.0.1:{}", 7000 + id) }
    }

    fn status(id: NodeId, state: ServerState, term: u64, applied: u64, members: Vec<Member>) -> NodeStatus {
        let role = members.iter().find(|m| m.id == id).map(|m| m.role);
        NodeStatus {
            id,
            role,
            state,
            leader: None,
            term,
            last_log_index: applied,
            last_applied: applied,
            snapshot_index: 0,
            purged_index: 0,
            fresh: true,
            ready: true,
            public: format!("127.0.0.1:{}", 5000 + id),
            cluster: format!("127.0.0.1:{}", 7000 + id),
            members,
            isolated: false,
        }
    }

    fn seed(id: NodeId, role: MemberRole) -> Seed {
        Seed {
            id: Some(id),
            public: Some(format!("127.0.0.1:{}", 5000 + id)),
            cluster: format!("127.0.0.1:{}", 7000 + id),
            role: Some(role),
        }
    }

    fn answered(s: NodeStatus) -> Probe {
        let role = s.role.unwrap_or(MemberRole::Voter);
        Probe { seed: seed(s.id, role), status: Some(s) }
    }

    fn membership() -> Vec<Member> {
        vec![
            member(1, MemberRole::Voter),
            member(2, MemberRole::Voter),
            member(3, MemberRole::Voter),
            member(4, MemberRole::Learner),
        ]
    }

    #[test]
    fn merged_json_has_the_documented_shape() {
        let probes = vec![
            answered(status(1, ServerState::Leader, 3, 42, membership())),
            answered(status(2, ServerState::Follower, 3, 41, membership())),
            Probe { seed: seed(3, MemberRole::Voter), status: None },
            answered(status(4, ServerState::Learner, 3, 40, membership())),
        ];
        let json = serde_json::to_value(merge(&probes)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "leader": 1,
                "term": 3,
                "nodes": [
                    {"id": 1, "role": "voter", "state": "leader", "last_applied": 42,
                     "public": "127.0.0.1:5001", "cluster": "127.0.0.1:7001"},
                    {"id": 2, "role": "voter", "state": "follower", "last_applied": 41,
                     "public": "127.0.0.1:5002", "cluster": "127.0.0.1:7002"},
                    {"id": 3, "role": "voter", "state": "unreachable", "last_applied": 0,
                     "public": "127.0.0.1:5003", "cluster": "127.0.0.1:7003"},
                    {"id": 4, "role": "learner", "state": "learner", "last_applied": 40,
                     "public": "127.0.0.1:5004", "cluster": "127.0.0.1:7004"},
                ]
            })
        );
    }

    #[test]
    fn leader_is_the_self_reported_leader_with_the_highest_term() {
        // Node 1 was cut off and still believes it leads term 3; node 2 leads term 4.
        let probes = vec![
            answered(status(1, ServerState::Leader, 3, 10, membership())),
            answered(status(2, ServerState::Leader, 4, 12, membership())),
            answered(status(3, ServerState::Follower, 4, 12, membership())),
        ];
        let merged = merge(&probes);
        assert_eq!(merged.leader, Some(2));
        assert_eq!(merged.term, 4);
        assert_eq!(admin_node(&probes, &merged), Some((2, "127.0.0.1:7002".to_string())));
    }

    #[test]
    fn no_leader_is_null_and_term_is_the_highest_seen() {
        let probes = vec![
            answered(status(1, ServerState::Candidate, 7, 10, membership())),
            answered(status(2, ServerState::Follower, 6, 10, membership())),
            Probe { seed: seed(3, MemberRole::Voter), status: None },
        ];
        let merged = merge(&probes);
        assert_eq!(merged.leader, None);
        assert_eq!(merged.term, 7);
        assert_eq!(merged.node(1).unwrap().state, NodeState::Candidate);
        let json = serde_json::to_value(&merged).unwrap();
        assert_eq!(json["leader"], serde_json::Value::Null);
        // Without a leader, membership changes go to a node that knows a membership.
        assert_eq!(admin_node(&probes, &merged), Some((1, "127.0.0.1:7001".to_string())));
    }

    #[test]
    fn roles_come_from_the_membership_not_the_start_role() {
        // Node 4 was started as an edge and has since been promoted to voter.
        let promoted = vec![member(1, MemberRole::Voter), member(4, MemberRole::Voter)];
        let probes = vec![
            answered(status(1, ServerState::Leader, 2, 9, promoted)),
            Probe { seed: seed(4, MemberRole::Learner), status: None },
        ];
        assert_eq!(merge(&probes).node(4).unwrap().role, MemberRole::Voter);
    }

    #[test]
    fn fresh_nodes_without_membership_use_their_start_role() {
        let probes = vec![
            answered(status(1, ServerState::Learner, 0, 0, vec![])),
            Probe { seed: seed(2, MemberRole::Learner), status: Some(status(2, ServerState::Learner, 0, 0, vec![])) },
        ];
        let merged = merge(&probes);
        assert_eq!(merged.leader, None);
        assert_eq!(merged.node(1).unwrap().role, MemberRole::Voter);
        assert_eq!(merged.node(2).unwrap().role, MemberRole::Learner);
        assert_eq!(admin_node(&probes, &merged), None);
    }

    #[test]
    fn a_node_probed_twice_keeps_its_answer_and_anonymous_seeds_are_skipped() {
        let probes = vec![
            Probe { seed: seed(2, MemberRole::Voter), status: None },
            answered(status(2, ServerState::Follower, 1, 5, membership())),
            Probe { seed: Seed { id: None, public: None, cluster: "10.0.0.9:7001".into(), role: None }, status: None },
        ];
        let merged = merge(&probes);
        assert_eq!(merged.nodes.len(), 1);
        assert_eq!(merged.nodes[0].state, NodeState::Follower);
    }

    #[test]
    fn shutdown_reads_as_unreachable_and_the_table_marks_the_leader() {
        let probes = vec![
            answered(status(1, ServerState::Leader, 2, 9, membership())),
            answered(status(2, ServerState::Shutdown, 2, 8, membership())),
        ];
        let merged = merge(&probes);
        assert_eq!(merged.node(2).unwrap().state, NodeState::Unreachable);
        let text = merged.render();
        assert!(text.starts_with("leader: 1  term: 2\n"), "{text}");
        assert!(text.lines().nth(2).unwrap().trim_end().ends_with('*'), "{text}");
    }
}
