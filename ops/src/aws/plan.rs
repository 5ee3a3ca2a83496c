//! The AWS plan: which instances a cluster consists of (role, count, type), the
//! rules every plan obeys (t3.small only, at most 30 instances, 3 or 5 voters), how
//! the instances are spread over availability zones, and what they cost. Pure: no
//! AWS call, so it is unit-tested without the `aws` feature.

use std::fmt::Write;

use chat_raft::NodeId;

use crate::table::Table;
use crate::Error;

/// The only instance type the event rules allow.
pub const INSTANCE_TYPE: &str = "t3.small";
/// The event rules' cap on instances, all roles counted.
pub const MAX_INSTANCES: u32 = 30;
/// On-demand Linux price of a t3.small in us-east-1 (USD per hour, 2025). Other
/// regions differ by a few percent: override with `--hourly-price`.
pub const DEFAULT_HOURLY_USD: f64 = 0.0208;
/// Longest cluster name that leaves room in `chat-NAME-nodes`, the target group `up`
/// creates with an edge group (ELB names have at most 32 characters).
pub const MAX_GROUP_CLUSTER_NAME: usize = 32 - "chat-".len() - "-nodes".len();
/// A 4-day event.
pub const DEFAULT_HOURS: f64 = 96.0;
/// The event's whole AWS budget (USD).
pub const BUDGET_USD: f64 = 300.0;

/// What an instance is for; the value of its `chat:role` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Voter,
    Edge,
    Mongo,
    Redis,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Voter, Role::Edge, Role::Mongo, Role::Redis];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Voter => "voter",
            Role::Edge => "edge",
            Role::Mongo => "mongo",
            Role::Redis => "redis",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == tag)
    }

    /// Runs chat-node (and so has a Raft node id).
    pub fn is_chat_node(self) -> bool {
        matches!(self, Role::Voter | Role::Edge)
    }
}

/// The operator's request: `chatctl aws plan|up --cluster NAME --voters 3 ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSpec {
    pub cluster: String,
    pub voters: u32,
    pub edges: u32,
    pub mongo: u32,
    pub redis: u32,
    pub instance_type: String,
    pub hourly_usd: f64,
    pub hours: f64,
    /// The Auto Scaling group of edges (`--edge-group-min/-max`), besides the `edges`
    /// launched one by one; `None`: no group.
    pub edge_group: Option<GroupSize>,
}

/// Bounds of the edges' Auto Scaling group. The 30-instance cap counts `max`: the
/// group may grow to it at any time without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSize {
    pub min: u32,
    pub max: u32,
}

/// One planned instance. `key` is unique in the cluster and is the value of the
/// instance's `chat:node-id` tag: the Raft node id for voters and edges ("3"),
/// `mongo-N` / `redis-N` for the stores. `up` creates the keys no instance holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub role: Role,
    pub key: String,
    /// 1-based position among the instances of its role.
    pub index: u32,
    /// Raft node id, for voters and edges.
    pub node_id: Option<NodeId>,
}

/// A validated plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub spec: PlanSpec,
    pub slots: Vec<Slot>,
}

impl Plan {
    /// Check `spec` against the rules and lay out its instances: voters get node ids
    /// 1..=V, edges V+1..=V+E.
    pub fn new(spec: PlanSpec) -> Result<Plan, Error> {
        validate(&spec)?;
        let mut slots = Vec::new();
        for i in 1..=spec.voters + spec.edges {
            let role = if i <= spec.voters { Role::Voter } else { Role::Edge };
            let index = if role == Role::Voter { i } else { i - spec.voters };
            slots.push(Slot { role, key: i.to_string(), index, node_id: Some(NodeId::from(i)) });
        }
        for (role, count) in [(Role::Mongo, spec.mongo), (Role::Redis, spec.redis)] {
            for index in 1..=count {
                slots.push(Slot { role, key: format!("{}-{index}", role.as_str()), index, node_id: None });
            }
        }
        Ok(Plan { spec, slots })
    }

    /// The instances launched one by one (the plan's slots).
    pub fn total(&self) -> u32 {
        self.slots.len() as u32
    }

    /// The most instances the plan can run: its slots and the edge group at its max.
    /// This is what the 30-instance cap and the cost count.
    pub fn capacity(&self) -> u32 {
        self.total() + self.spec.edge_group.map_or(0, |g| g.max)
    }

    pub fn count(&self, role: Role) -> u32 {
        self.slots.iter().filter(|s| s.role == role).count() as u32
    }

    pub fn slot(&self, key: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.key == key)
    }

    pub fn cost_per_hour(&self) -> f64 {
        f64::from(self.capacity()) * self.spec.hourly_usd
    }

    pub fn cost_total(&self) -> f64 {
        self.cost_per_hour() * self.spec.hours
    }

    /// Availability zone (an index into the region's usable zones, in name order)
    /// of every slot: each role round-robin over the zones, so no zone holds a
    /// majority of the voters. Needs at least [`zones_needed`] zones.
    pub fn spread(&self, zones: usize) -> Result<Vec<usize>, Error> {
        let needed = zones_needed(self.spec.voters);
        if zones < needed {
            return Err(Error::PlanRefused(format!(
                "{} voters need {needed} availability zones (one default subnet each) so that losing one zone \
                 keeps a quorum; the region offers {zones}",
                self.spec.voters
            )));
        }
        Ok(self.slots.iter().map(|s| (s.index as usize - 1) % zones).collect())
    }

    /// What `chatctl aws plan` prints: instances by role, total and cost.
    pub fn render(&self) -> String {
        let mut table = Table::new(&["role", "count", "type", "chat:node-id"]);
        for role in Role::ALL {
            let keys: Vec<&str> = self.slots.iter().filter(|s| s.role == role).map(|s| s.key.as_str()).collect();
            if keys.is_empty() {
                continue;
            }
            let range =
                if keys.len() == 1 { keys[0].to_string() } else { format!("{}..{}", keys[0], keys[keys.len() - 1]) };
            table.row(vec![role.as_str().into(), keys.len().to_string(), INSTANCE_TYPE.into(), range]);
        }
        if let Some(group) = self.spec.edge_group {
            table.row(vec![
                "edge (group)".into(),
                format!("{}..{}", group.min, group.max),
                INSTANCE_TYPE.into(),
                "from the instance id".into(),
            ]);
        }
        let mut out = format!(
            "cluster {}: {} instances (at most {MAX_INSTANCES}{})\n{table}",
            self.spec.cluster,
            self.capacity(),
            if self.spec.edge_group.is_some() { ", the edge group counted at its max" } else { "" }
        );
        let zones = zones_needed(self.spec.voters);
        let _ = writeln!(
            out,
            "zones: every role round-robin over the region's zones; {} voters need at least {zones} zones so one \
             zone failing loses no quorum",
            self.spec.voters
        );
        let _ = writeln!(
            out,
            "cost: {} x ${:.4}/h = ${:.4}/h; {} h = ${:.2} (budget ${BUDGET_USD:.0}; price overridable with \
             --hourly-price, hours with --hours)",
            self.capacity(),
            self.spec.hourly_usd,
            self.cost_per_hour(),
            self.spec.hours,
            self.cost_total(),
        );
        let _ = writeln!(
            out,
            "not included: the load balancer (ALB ~$0.0225/h + LCUs), EBS root volumes (8 GiB gp3 each, ~$0.0011/h), \
             data transfer"
        );
        if self.cost_total() > BUDGET_USD {
            let _ = writeln!(out, "WARNING: ${:.2} is over the ${BUDGET_USD:.0} budget", self.cost_total());
        }
        out
    }
}

/// Fewest zones over which `voters`, spread round-robin, leave no zone with a
/// majority: ceil(V / zones) < V/2 + 1.
pub fn zones_needed(voters: u32) -> usize {
    let quorum = voters / 2 + 1;
    (2..=voters.max(2)).find(|z| voters.div_ceil(*z) < quorum).unwrap_or(voters.max(2)) as usize
}

fn validate(spec: &PlanSpec) -> Result<(), Error> {
    let refuse = |why: String| Err(Error::PlanRefused(why));
    let name_ok = !spec.cluster.is_empty()
        && spec.cluster.len() <= 32
        && spec.cluster.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !spec.cluster.starts_with('-');
    if !name_ok {
        return refuse(format!(
            "cluster name {:?}: use 1 to 32 lowercase letters, digits and dashes, not starting with a dash",
            spec.cluster
        ));
    }
    if spec.instance_type != INSTANCE_TYPE {
        return refuse(format!("instance type {:?}: only {INSTANCE_TYPE} is allowed", spec.instance_type));
    }
    if ![3, 5].contains(&spec.voters) {
        return refuse(format!("{} voters: Raft here runs 3 or 5 voters", spec.voters));
    }
    if ![0, 1, 3].contains(&spec.mongo) {
        return refuse(format!("{} MongoDB instances: use 0, 1 or 3 (one replica set)", spec.mongo));
    }
    if spec.redis > 3 {
        return refuse(format!(
            "{} Redis instances: use 0 to 3 (one master, replicas, a Sentinel on each)",
            spec.redis
        ));
    }
    let group_max = spec.edge_group.map_or(0, |g| g.max);
    if let Some(group) = spec.edge_group {
        if group.max == 0 || group.min > group.max {
            return refuse(format!(
                "edge group {}..{}: use --edge-group-max of 1 or more and --edge-group-min at most that",
                group.min, group.max
            ));
        }
        if spec.cluster.len() > MAX_GROUP_CLUSTER_NAME {
            return refuse(format!(
                "cluster name {:?} with an edge group: at most {MAX_GROUP_CLUSTER_NAME} characters (its target group \
                 chat-NAME-nodes may have 32)",
                spec.cluster
            ));
        }
    }
    let total = spec.voters + spec.edges + spec.mongo + spec.redis + group_max;
    if total > MAX_INSTANCES {
        let group = if group_max > 0 { format!(", edge group up to {group_max}") } else { String::new() };
        return refuse(format!(
            "{total} instances ({} voters, {} edges, {} mongo, {} redis{group}): at most {MAX_INSTANCES} are allowed",
            spec.voters, spec.edges, spec.mongo, spec.redis
        ));
    }
    if !(spec.hourly_usd.is_finite() && spec.hourly_usd >= 0.0 && spec.hours.is_finite() && spec.hours >= 0.0) {
        return refuse("--hourly-price and --hours must be non-negative numbers".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(voters: u32, edges: u32, mongo: u32, redis: u32) -> PlanSpec {
        PlanSpec {
            cluster: "event".into(),
            voters,
            edges,
            mongo,
            redis,
            instance_type: INSTANCE_TYPE.into(),
            hourly_usd: DEFAULT_HOURLY_USD,
            hours: DEFAULT_HOURS,
            edge_group: None,
        }
    }

    fn refused(spec: PlanSpec) -> String {
        match Plan::new(spec) {
            Err(Error::PlanRefused(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn thirty_instances_pass_and_thirty_one_are_refused() {
        assert_eq!(Plan::new(spec(5, 21, 3, 1)).unwrap().total(), 30);
        let why = refused(spec(5, 22, 3, 1));
        assert!(why.contains("31 instances") && why.contains("at most 30"), "{why}");
    }

    #[test]
    fn the_cap_counts_the_edge_groups_max() {
        let grouped = |min, max| PlanSpec { edge_group: Some(GroupSize { min, max }), ..spec(5, 10, 3, 1) };
        let plan = Plan::new(grouped(2, 11)).unwrap();
        assert_eq!((plan.total(), plan.capacity()), (19, 30));
        assert!((plan.cost_per_hour() - 30.0 * 0.0208).abs() < 1e-9, "the cost counts the group at its max");
        let text = plan.render();
        assert!(text.contains("30 instances (at most 30, the edge group counted at its max)"), "{text}");
        assert!(text.contains("edge (group)  2..11"), "{text}");
        let why = refused(grouped(2, 12));
        assert!(why.contains("31 instances") && why.contains("edge group up to 12"), "{why}");
        assert!(refused(grouped(3, 2)).contains("--edge-group-min at most"));
        assert!(refused(grouped(0, 0)).contains("--edge-group-max of 1 or more"));
        let long = PlanSpec { cluster: "a".repeat(22), ..grouped(1, 2) };
        assert!(refused(long).contains("at most 21 characters"));
        assert!(Plan::new(PlanSpec { cluster: "a".repeat(21), ..grouped(1, 2) }).is_ok());
    }

    #[test]
    fn only_t3_small_is_allowed() {
        for other in ["t3.medium", "t3.micro", "m5.large", "T3.SMALL", ""] {
            let why = refused(PlanSpec { instance_type: other.into(), ..spec(3, 1, 0, 0) });
            assert!(why.contains("only t3.small"), "{why}");
        }
    }

    #[test]
    fn counts_names_and_ids_are_checked() {
        assert!(refused(spec(4, 0, 0, 0)).contains("3 or 5 voters"));
        assert!(refused(spec(3, 0, 2, 0)).contains("MongoDB"));
        assert!(refused(spec(3, 0, 0, 4)).contains("Redis"));
        assert!(refused(PlanSpec { cluster: "Bad_Name".into(), ..spec(3, 0, 0, 0) }).contains("cluster name"));
        assert!(refused(PlanSpec { hourly_usd: -1.0, ..spec(3, 0, 0, 0) }).contains("non-negative"));
    }

    #[test]
    fn slots_have_roles_keys_and_node_ids() {
        let plan = Plan::new(spec(3, 2, 3, 1)).unwrap();
        let keys: Vec<&str> = plan.slots.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["1", "2", "3", "4", "5", "mongo-1", "mongo-2", "mongo-3", "redis-1"]);
        assert_eq!(plan.slot("4").unwrap().role, Role::Edge);
        assert_eq!(plan.slot("4").unwrap().node_id, Some(4));
        assert_eq!(plan.slot("mongo-2").unwrap().node_id, None);
        assert_eq!((plan.count(Role::Voter), plan.count(Role::Edge), plan.count(Role::Mongo)), (3, 2, 3));
    }

    #[test]
    fn cost_is_count_times_price_times_hours() {
        let plan = Plan::new(spec(3, 2, 3, 1)).unwrap();
        assert!((plan.cost_per_hour() - 9.0 * 0.0208).abs() < 1e-9);
        assert!((plan.cost_total() - 9.0 * 0.0208 * 96.0).abs() < 1e-9);
        let text = plan.render();
        assert!(text.contains("9 x $0.0208/h = $0.1872/h; 96 h = $17.97"), "{text}");
        let cap = Plan::new(spec(5, 21, 3, 1)).unwrap();
        assert!(cap.render().contains("96 h = $59.90"), "{}", cap.render());
        let pricey = Plan::new(PlanSpec { hourly_usd: 1.0, ..spec(5, 21, 3, 1) }).unwrap();
        assert!(pricey.render().contains("over the $300 budget"));
    }

    #[test]
    fn no_zone_holds_a_voter_majority() {
        assert_eq!(zones_needed(3), 3);
        assert_eq!(zones_needed(5), 3);
        let plan = Plan::new(spec(5, 4, 3, 2)).unwrap();
        assert!(matches!(plan.spread(2), Err(Error::PlanRefused(_))));
        for zones in 3..=6 {
            let spread = plan.spread(zones).unwrap();
            let voters: Vec<usize> =
                plan.slots.iter().zip(&spread).filter(|(s, _)| s.role == Role::Voter).map(|(_, z)| *z).collect();
            let busiest = (0..zones).map(|z| voters.iter().filter(|v| **v == z).count()).max().unwrap();
            assert!(busiest < 3, "{zones} zones: {voters:?}");
            // Each role starts at the first zone and uses at least two zones.
            for role in [Role::Edge, Role::Mongo, Role::Redis] {
                let used: std::collections::BTreeSet<usize> =
                    plan.slots.iter().zip(&spread).filter(|(s, _)| s.role == role).map(|(_, z)| *z).collect();
                assert!(used.len() >= 2, "{role:?} on {used:?}");
            }
        }
    }
}
