//! Hand-made histories, passing and failing, for the checker.

use super::*;

/// A history under construction: operations with explicit times.
#[derive(Default)]
struct Build {
    entries: Vec<Entry>,
    next: u64,
    store: StoreViews,
    participants: ParticipantViews,
}

impl Build {
    fn push(&mut self, id: u64, at_ms: u64, client: &str, phase: Phase, op: Op) {
        self.entries.push(Entry { id, at_ms, client: client.into(), phase, op, error: None });
    }

    /// An operation invoked at `from` that succeeded at `to` with `done`.
    fn ok(&mut self, client: &str, from: u64, to: u64, invoke: Op, done: Op) -> &mut Self {
        self.next += 1;
        self.push(self.next, from, client, Phase::Invoke, invoke);
        self.push(self.next, to, client, Phase::Ok, done);
        self
    }

    fn seen(&mut self, client: &str, at: u64, op: Op) -> &mut Self {
        self.next += 1;
        self.push(self.next, at, client, Phase::Ok, op);
        self
    }

    fn connect(&mut self, client: &str, user: &str, at: u64) -> &mut Self {
        let op = Op::Request { user: user.into(), session: format!("s-{user}"), what: "connect".into() };
        self.ok(client, at, at + 1, op.clone(), op)
    }

    fn join(&mut self, client: &str, user: &str, room: &str, at: u64) -> &mut Self {
        let op = Op::Join { user: user.into(), session: format!("s-{user}"), room: room.into() };
        self.ok(client, at, at + 1, op.clone(), op)
    }

    fn send(&mut self, client: &str, user: &str, room: &str, nonce: &str, at: u64, seq: u64) -> &mut Self {
        let op = |seq| Op::Send {
            user: user.into(),
            session: format!("s-{user}"),
            room: room.into(),
            nonce: nonce.into(),
            seq,
        };
        self.ok(client, at, at + 5, op(None), op(Some(seq)))
    }

    fn receive(
        &mut self,
        client: &str,
        user: &str,
        conn: u64,
        room: &str,
        (nonce, seq): (&str, u64),
        at: u64,
    ) -> &mut Self {
        let op = Op::Receive { user: user.into(), room: room.into(), conn, nonce: nonce.into(), seq };
        self.seen(client, at, op)
    }

    fn stored(&mut self, node: &str, room: &str, messages: &[(u64, &str)]) -> &mut Self {
        let messages = messages.iter().map(|(seq, c)| StoredMessage { seq: *seq, content: (*c).into() }).collect();
        self.store.entry(node.into()).or_default().insert(room.into(), messages);
        self
    }

    fn members(&mut self, node: &str, room: &str, users: &[&str]) -> &mut Self {
        let users = users.iter().map(|u| (*u).to_string()).collect();
        self.participants.entry(node.into()).or_default().insert(room.into(), users);
        self
    }

    fn check(&self) -> Verdict {
        check(&Observed {
            history: self.entries.clone(),
            store: self.store.clone(),
            participants: self.participants.clone(),
        })
    }
}

/// Two clients in room r, both connected; a sends m1 and m2, both delivered to both.
fn healthy() -> Build {
    let mut b = Build::default();
    b.connect("a", "ua", 0).connect("b", "ub", 0).join("a", "ua", "r", 10).join("b", "ub", "r", 10);
    b.send("a", "ua", "r", "m1", 100, 1).send("a", "ua", "r", "m2", 200, 2);
    for (client, user) in [("a", "ua"), ("b", "ub")] {
        b.receive(client, user, 1, "r", ("m1", 1), 104).receive(client, user, 1, "r", ("m2", 2), 204);
    }
    for node in ["1", "2", "3"] {
        b.stored(node, "r", &[(1, "m1"), (2, "m2")]).members(node, "r", &["ua", "ub"]);
    }
    b
}

#[test]
fn a_healthy_history_passes() {
    let verdict = healthy().check();
    assert!(verdict.passed(), "{:?}", verdict.errors());
    assert_eq!(verdict.acknowledged, 2);
    assert!(verdict.unrecovered_clients.is_empty());
}

#[test]
fn an_acknowledged_message_missing_on_one_node_is_lost() {
    let mut b = healthy();
    b.stored("2", "r", &[(1, "m1")]);
    let verdict = b.check();
    assert_eq!(verdict.lost.len(), 1, "{verdict:?}");
    assert!(verdict.lost[0].contains("m2") && verdict.lost[0].contains("node(s) 2"), "{}", verdict.lost[0]);
    assert!(!verdict.passed());
}

#[test]
fn an_unacknowledged_message_may_be_missing_but_not_doubled() {
    let mut b = healthy();
    let op = |seq| Op::Send { user: "ua".into(), session: "s-ua".into(), room: "r".into(), nonce: "m3".into(), seq };
    b.next += 1;
    let id = b.next;
    b.push(id, 300, "a", Phase::Invoke, op(None));
    b.push(id, 900, "a", Phase::Fail, op(None));
    assert!(b.check().passed(), "an unacknowledged message that is absent is not lost");
    for node in ["1", "2", "3"] {
        b.stored(node, "r", &[(1, "m1"), (2, "m2"), (3, "m3"), (4, "m3")]);
    }
    let verdict = b.check();
    assert_eq!(verdict.duplicated.len(), 3, "{verdict:?}");
    assert!(verdict.duplicated[0].contains("[3, 4]"));
}

#[test]
fn histories_out_of_seq_order_and_wrong_acknowledged_seqs_are_caught() {
    let mut b = healthy();
    b.stored("1", "r", &[(2, "m2"), (1, "m1")]);
    let verdict = b.check();
    assert!(verdict.out_of_order.iter().any(|e| e.contains("seq 1 follows seq 2")), "{verdict:?}");
    // Stored in the opposite order of sending, on a node whose history looks sorted.
    let mut b = healthy();
    b.stored("1", "r", &[(1, "m2"), (2, "m1")]);
    let verdict = b.check();
    assert!(verdict.out_of_order.iter().any(|e| e.contains("acknowledged at seq 1 but stored at seq 2")));
    assert!(verdict.out_of_order.iter().any(|e| e.contains("sent m1 before m2")), "{verdict:?}");
}

#[test]
fn deliveries_twice_or_backwards_on_one_connection_are_caught() {
    let mut b = healthy();
    b.receive("b", "ub", 1, "r", ("m2", 2), 250);
    let verdict = b.check();
    assert!(verdict.duplicated.iter().any(|e| e.contains("delivered twice")), "{verdict:?}");
    b.receive("b", "ub", 1, "r", ("m1", 1), 260);
    assert!(b.check().out_of_order.iter().any(|e| e.contains("arrived after seq 2")));
    // A new connection starts its own order: the same seq again there is fine.
    let mut b = healthy();
    b.receive("b", "ub", 2, "r", ("m2", 2), 250);
    assert!(b.check().passed());
}

#[test]
fn a_connected_member_must_see_every_message_live_or_by_catch_up() {
    let mut b = healthy();
    b.send("a", "ua", "r", "m3", 300, 3);
    for node in ["1", "2", "3"] {
        b.stored(node, "r", &[(1, "m1"), (2, "m2"), (3, "m3")]);
    }
    b.receive("a", "ua", 1, "r", ("m3", 3), 304);
    let verdict = b.check();
    assert_eq!(verdict.missed, vec!["b in room r never saw m3".to_string()]);
    // b was disconnected, reconnected, and read m3 back: fine.
    let mut caught_up = b.entries.clone();
    let mut b2 = Build { entries: std::mem::take(&mut caught_up), ..Build::default() };
    b2.next = 1000;
    b2.seen("b", 280, Op::Disconnected { user: "ub".into(), reason: "transport close".into() });
    b2.connect("b", "ub", 400);
    b2.seen("b", 420, Op::CatchUp { user: "ub".into(), room: "r".into(), messages: vec![(3, "m3".into())] });
    b2.store = b.store.clone();
    b2.participants = b.participants.clone();
    assert!(b2.check().passed(), "{:?}", b2.check().errors());
    // b disconnected and never came back: not a member who stayed, reported apart.
    let mut b3 = Build { entries: b.entries.clone(), store: b.store.clone(), ..Build::default() };
    b3.next = 1000;
    b3.seen("b", 280, Op::Disconnected { user: "ub".into(), reason: "transport close".into() });
    for node in ["1", "2", "3"] {
        b3.members(node, "r", &["ua", "ub"]);
    }
    let verdict = b3.check();
    assert!(verdict.passed(), "{:?}", verdict.errors());
    assert_eq!(verdict.unrecovered_clients, vec!["b".to_string()]);
}

fn login(b: &mut Build, client: &str, user: &str, session: &str, from: u64, to: u64) {
    let invoke = Op::Login { user: user.into(), session: None };
    b.ok(client, from, to, invoke, Op::Login { user: user.into(), session: Some(session.into()) });
}

fn request(b: &mut Build, client: &str, user: &str, session: &str, from: u64, to: u64) {
    let op = Op::Request { user: user.into(), session: session.into(), what: "GET /api/rooms".into() };
    b.ok(client, from, to, op.clone(), op);
}

#[test]
fn an_old_session_accepted_after_a_newer_login_was_answered_violates_single_login() {
    let mut b = Build::default();
    login(&mut b, "d1", "u", "s1", 0, 10);
    request(&mut b, "d1", "u", "s1", 20, 30);
    login(&mut b, "d2", "u", "s2", 40, 50);
    // Concurrent with the second login: either answer is allowed.
    request(&mut b, "d1", "u", "s1", 45, 55);
    assert!(b.check().passed(), "{:?}", b.check().errors());
    // Begun after the second login was answered: must have been refused.
    request(&mut b, "d1", "u", "s1", 60, 70);
    let verdict = b.check();
    assert_eq!(verdict.single_login_violations.len(), 1, "{verdict:?}");
    assert!(verdict.single_login_violations[0].contains("session s1 accepted"));
    // The new session's own requests are fine, and a failed old request is what should happen.
    request(&mut b, "d2", "u", "s2", 60, 70);
    assert_eq!(b.check().single_login_violations.len(), 1);
}

#[test]
fn a_session_accepted_after_its_logout_was_answered_is_a_violation() {
    let mut b = Build::default();
    login(&mut b, "d1", "u", "s1", 0, 10);
    let logout = Op::Logout { user: "u".into(), session: "s1".into() };
    b.ok("d1", 20, 30, logout.clone(), logout);
    assert!(b.check().passed());
    request(&mut b, "d1", "u", "s1", 40, 50);
    assert_eq!(b.check().single_login_violations.len(), 1);
}

#[test]
fn participants_must_agree_on_every_node_and_list_connected_members() {
    let mut b = healthy();
    b.members("3", "r", &["ua"]);
    let verdict = b.check();
    assert!(verdict.participants_diverged.iter().any(|e| e.contains("room r: node(s)")), "{verdict:?}");
    assert!(verdict.participants_diverged.iter().any(|e| e.contains("node 3 does not list ub")), "{verdict:?}");
    assert!(!verdict.passed());
}
