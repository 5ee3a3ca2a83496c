//! The load balancer settings a plan needs, printed by `chatctl aws plan` (and
//! repeated in the README): an ALB in front of the public listeners, health-checked
//! on `/api/health`, with an idle timeout longer than a Socket.IO ping round.

use std::fmt::Write;

use super::plan::{Plan, Role};

/// Engine.IO `pingInterval` the nodes send (protocol §1.1, node/src/socket/mod.rs).
pub const PING_INTERVAL_S: u64 = 25;
/// Engine.IO `pingTimeout` the nodes wait for a pong.
pub const PING_TIMEOUT_S: u64 = 60;
/// The ALB idle timeout to set: above ping interval + timeout (85 s), with margin.
/// The ALB default of 60 s races the ping round and drops idle sockets in waves.
pub const IDLE_TIMEOUT_S: u64 = 120;
/// Public listener port of every chat node.
pub const PUBLIC_PORT: u16 = 5001;

/// Guidance text for `plan`'s cluster.
pub fn render(plan: &Plan) -> String {
    let targets = plan.count(Role::Voter) + plan.count(Role::Edge);
    let name = &plan.spec.cluster;
    let mut out = String::from("load balancer (create it yourself; chatctl creates its security group):\n");
    let lines = [
        format!("ALB, internet-facing, in the security group chat-{name}-lb, subnets of the same zones as the nodes"),
        match plan.spec.edge_group {
            None => format!(
                "target group: HTTP, port {PUBLIC_PORT}, target type instance, the {targets} voter and edge instances"
            ),
            Some(_) => format!(
                "target group: {} (up creates it with the edge group, registers the {targets} voter and edge \
                 instances in it, and the group registers its own edges): forward the listener to it",
                super::edge_group::target_group(name)
            ),
        },
        "health check: HTTP GET /api/health, success code 200, interval 5 s, timeout 2 s, healthy 2, unhealthy 2 \
         (a node cut off from the quorum answers 503 after --health-grace-ms and leaves the pool)"
            .to_string(),
        format!(
            "idle timeout: {IDLE_TIMEOUT_S} s (must exceed Socket.IO pingInterval {PING_INTERVAL_S} s + pingTimeout \
             {PING_TIMEOUT_S} s = {} s; the default 60 s causes mass disconnects)",
            PING_INTERVAL_S + PING_TIMEOUT_S
        ),
        "stickiness: not needed for websocket-only clients (transports: ['websocket']); clients that start with \
         HTTP long-polling need target-group stickiness (lb_cookie, 1 day) so the polls of one Engine.IO session \
         reach the node that holds it"
            .to_string(),
        "deregistration delay: 30 s; HTTPS listener on 443 with an ACM certificate, HTTP 80 redirecting to 443"
            .to_string(),
    ];
    for line in lines {
        let _ = writeln!(out, "  - {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::plan::{PlanSpec, DEFAULT_HOURLY_USD, INSTANCE_TYPE};
    use super::*;

    #[test]
    fn guidance_names_the_health_check_idle_timeout_and_stickiness() {
        let spec = PlanSpec {
            cluster: "event".into(),
            voters: 3,
            edges: 2,
            mongo: 0,
            redis: 0,
            instance_type: INSTANCE_TYPE.into(),
            hourly_usd: DEFAULT_HOURLY_USD,
            hours: 1.0,
            edge_group: None,
        };
        let text = render(&Plan::new(spec.clone()).unwrap());
        assert!(text.contains("GET /api/health"), "{text}");
        assert!(text.contains("idle timeout: 120 s"), "{text}");
        assert!(text.contains("= 85 s"), "{text}");
        assert!(text.contains("stickiness"), "{text}");
        let grouped = PlanSpec { edge_group: Some(super::super::plan::GroupSize { min: 1, max: 3 }), ..spec };
        let text = render(&Plan::new(grouped).unwrap());
        assert!(text.contains("target group: chat-event-nodes (up creates it"), "{text}");
        assert!(text.contains("the 5 voter and edge instances"), "{text}");
        assert!(text.contains("chat-event-lb"), "{text}");
        const { assert!(IDLE_TIMEOUT_S > PING_INTERVAL_S + PING_TIMEOUT_S) };
    }
}
