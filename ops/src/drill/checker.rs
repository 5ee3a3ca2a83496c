//! The history checker: a pure function from what the drill recorded (the client
//! history, each node's room histories read back afterwards, each node's room
//! participants) to a [`Verdict`] listing every violated guarantee (architecture §6).
//!
//! Rules:
//! - every acknowledged message (the sender got it back) is in every node's history
//!   of its room exactly once, at the `seq` it was acknowledged with, and each room's
//!   history is in strictly increasing `seq` order; one client's messages keep their
//!   send order;
//! - no message (acknowledged or not) is stored twice, and no connection receives a
//!   room's messages twice or out of `seq` order;
//! - every client that joined a room before a message was sent, and is connected at
//!   the end, saw it: live, or in the catch-up read after a reconnect;
//! - single login: once a login of user U was answered, no request using an older
//!   session of U that began after that answer succeeded (likewise after a logout);
//! - room participants converge: every node reports the same participants, and every
//!   member client still connected is among them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::history::{Entry, Op, Phase};

/// A message as read back from a node after the drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub seq: u64,
    pub content: String,
}

/// Node label -> room -> messages in the order the node served them.
pub type StoreViews = BTreeMap<String, BTreeMap<String, Vec<StoredMessage>>>;
/// Node label -> room -> participant user ids.
pub type ParticipantViews = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Everything the checker looks at.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub history: Vec<Entry>,
    pub store: StoreViews,
    pub participants: ParticipantViews,
}

/// What the checker found; every list names the offending messages or sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Messages the senders got back.
    pub acknowledged: u64,
    /// Acknowledged messages missing from a node's history.
    pub lost: Vec<String>,
    /// Messages stored more than once, or delivered twice on one connection.
    pub duplicated: Vec<String>,
    /// Histories or deliveries not in `seq` order, acknowledged `seq`s that differ from
    /// the stored ones, a client's messages stored out of its send order.
    pub out_of_order: Vec<String>,
    /// Acknowledged messages a connected member never saw.
    pub missed: Vec<String>,
    /// Older sessions accepted after a newer login (or a logout) was answered.
    pub single_login_violations: Vec<String>,
    /// Rooms whose participants differ between nodes or lack a connected member.
    pub participants_diverged: Vec<String>,
    /// Member clients not connected at the end (reported; not a checker error).
    pub unrecovered_clients: Vec<String>,
}

impl Verdict {
    /// Whether every guarantee held.
    pub fn passed(&self) -> bool {
        self.errors().is_empty()
    }

    /// One line per violation, for the report.
    pub fn errors(&self) -> Vec<String> {
        let groups = [
            ("lost", &self.lost),
            ("duplicated", &self.duplicated),
            ("out of order", &self.out_of_order),
            ("missed by a member", &self.missed),
            ("single login", &self.single_login_violations),
            ("participants", &self.participants_diverged),
        ];
        groups.iter().flat_map(|(what, list)| list.iter().map(move |item| format!("{what}: {item}"))).collect()
    }
}

/// Check everything; see the module docs for the rules.
pub fn check(observed: &Observed) -> Verdict {
    let acked = acknowledged(&observed.history);
    let mut verdict = Verdict { acknowledged: acked.len() as u64, ..Verdict::default() };
    check_store(&acked, &observed.store, &mut verdict);
    check_send_order(&acked, &observed.store, &mut verdict);
    check_deliveries(&observed.history, &mut verdict);
    let unrecovered = unrecovered_clients(&observed.history);
    check_members_saw(&observed.history, &acked, &unrecovered, &mut verdict);
    check_single_login(&observed.history, &mut verdict);
    check_participants(&observed.history, &observed.participants, &unrecovered, &mut verdict);
    verdict.unrecovered_clients = unrecovered.into_iter().collect();
    verdict
}

/// An acknowledged message.
#[derive(Debug, Clone)]
struct Acked {
    client: String,
    room: String,
    nonce: String,
    seq: Option<u64>,
    invoked_ms: u64,
    acked_ms: u64,
}

fn acknowledged(history: &[Entry]) -> Vec<Acked> {
    let invoked = invoke_times(history);
    let mut acked: Vec<Acked> = history
        .iter()
        .filter(|e| e.phase == Phase::Ok)
        .filter_map(|e| match &e.op {
            Op::Send { room, nonce, seq, .. } => Some(Acked {
                client: e.client.clone(),
                room: room.clone(),
                nonce: nonce.clone(),
                seq: *seq,
                invoked_ms: invoked.get(&e.id).copied().unwrap_or(e.at_ms),
                acked_ms: e.at_ms,
            }),
            _ => None,
        })
        .collect();
    acked.sort_by_key(|a| a.acked_ms);
    acked
}

fn invoke_times(history: &[Entry]) -> BTreeMap<u64, u64> {
    history.iter().filter(|e| e.phase == Phase::Invoke).map(|e| (e.id, e.at_ms)).collect()
}

fn check_store(acked: &[Acked], store: &StoreViews, verdict: &mut Verdict) {
    let mut lost = BTreeSet::new();
    for (node, rooms) in store {
        for (room, messages) in rooms {
            for pair in messages.windows(2) {
                if pair[1].seq <= pair[0].seq {
                    verdict.out_of_order.push(format!(
                        "node {node} room {room}: seq {} follows seq {} in the history",
                        pair[1].seq, pair[0].seq
                    ));
                }
            }
            let mut count: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
            for m in messages {
                count.entry(m.content.as_str()).or_default().push(m.seq);
            }
            for (content, seqs) in count.iter().filter(|(_, seqs)| seqs.len() > 1) {
                verdict.duplicated.push(format!("node {node} room {room}: {content:?} stored at seqs {seqs:?}"));
            }
            for a in acked.iter().filter(|a| &a.room == room) {
                match count.get(a.nonce.as_str()).map(Vec::as_slice) {
                    None => {
                        lost.insert((a.nonce.clone(), a.room.clone(), a.client.clone(), node.clone()));
                    }
                    Some([stored]) if a.seq.is_some_and(|s| s != *stored) => verdict.out_of_order.push(format!(
                        "node {node} room {room}: {} acknowledged at seq {} but stored at seq {stored}",
                        a.nonce,
                        a.seq.unwrap_or_default()
                    )),
                    Some(_) => {}
                }
            }
        }
        // An acknowledged message of a room the node did not serve at all is lost there too.
        for a in acked.iter().filter(|a| !rooms.contains_key(&a.room)) {
            lost.insert((a.nonce.clone(), a.room.clone(), a.client.clone(), node.clone()));
        }
    }
    let mut by_message: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for (nonce, room, client, node) in lost {
        by_message.entry((nonce, room, client)).or_default().push(node);
    }
    verdict.lost = by_message
        .into_iter()
        .map(|((nonce, room, client), nodes)| {
            format!("{nonce} (room {room}, sent by {client}) is missing on node(s) {}", nodes.join(", "))
        })
        .collect();
}

/// One client's acknowledged messages in a room must be stored in the order it sent them.
fn check_send_order(acked: &[Acked], store: &StoreViews, verdict: &mut Verdict) {
    let Some((node, rooms)) = store.iter().next() else { return };
    let mut by_sender: BTreeMap<(&str, &str), Vec<&Acked>> = BTreeMap::new();
    for a in acked {
        by_sender.entry((a.client.as_str(), a.room.as_str())).or_default().push(a);
    }
    for ((client, room), mut sent) in by_sender {
        let Some(messages) = rooms.get(room) else { continue };
        let seq_of: BTreeMap<&str, u64> = messages.iter().map(|m| (m.content.as_str(), m.seq)).collect();
        sent.sort_by_key(|a| a.invoked_ms);
        let seqs: Vec<(&str, u64)> =
            sent.iter().filter_map(|a| seq_of.get(a.nonce.as_str()).map(|s| (a.nonce.as_str(), *s))).collect();
        for pair in seqs.windows(2) {
            if pair[1].1 <= pair[0].1 {
                verdict.out_of_order.push(format!(
                    "node {node} room {room}: {client} sent {} before {} but they are stored at seqs {} and {}",
                    pair[0].0, pair[1].0, pair[0].1, pair[1].1
                ));
            }
        }
    }
}

/// On one connection, a room's messages arrive once each, in `seq` order.
fn check_deliveries(history: &[Entry], verdict: &mut Verdict) {
    let mut last: BTreeMap<(&str, u64, &str), (u64, &str)> = BTreeMap::new();
    for e in history.iter().filter(|e| e.phase == Phase::Ok) {
        let Op::Receive { room, conn, nonce, seq, .. } = &e.op else { continue };
        let key = (e.client.as_str(), *conn, room.as_str());
        if let Some((prev, prev_nonce)) = last.get(&key) {
            if seq == prev {
                verdict
                    .duplicated
                    .push(format!("{} connection {conn} room {room}: seq {seq} ({nonce}) delivered twice", e.client));
            } else if seq < prev {
                verdict.out_of_order.push(format!(
                    "{} connection {conn} room {room}: seq {seq} ({nonce}) arrived after seq {prev} ({prev_nonce})",
                    e.client
                ));
            }
        }
        if last.get(&key).is_none_or(|(prev, _)| seq > prev) {
            last.insert(key, (*seq, nonce.as_str()));
        }
    }
}

/// Clients that joined a room and whose last socket event is a disconnect.
fn unrecovered_clients(history: &[Entry]) -> BTreeSet<String> {
    let members: BTreeSet<&str> =
        history.iter().filter(|e| matches!(e.op, Op::Join { .. })).map(|e| e.client.as_str()).collect();
    let mut connected: BTreeMap<&str, bool> = BTreeMap::new();
    for e in history.iter().filter(|e| e.phase == Phase::Ok) {
        match &e.op {
            Op::Request { what, .. } if what == "connect" => {
                connected.insert(e.client.as_str(), true);
            }
            Op::Disconnected { .. } => {
                connected.insert(e.client.as_str(), false);
            }
            _ => {}
        }
    }
    members.into_iter().filter(|c| connected.get(c) != Some(&true)).map(str::to_owned).collect()
}

fn check_members_saw(history: &[Entry], acked: &[Acked], unrecovered: &BTreeSet<String>, verdict: &mut Verdict) {
    // client -> room -> when its first join was answered
    let mut joined: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    // client -> room -> contents seen
    let mut seen: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for e in history.iter().filter(|e| e.phase == Phase::Ok) {
        match &e.op {
            Op::Join { room, .. } => {
                joined.entry(e.client.as_str()).or_default().entry(room.as_str()).or_insert(e.at_ms);
            }
            Op::Receive { room, nonce, .. } => {
                seen.entry((e.client.as_str(), room.as_str())).or_default().insert(nonce.as_str());
            }
            Op::CatchUp { room, messages, .. } => {
                seen.entry((e.client.as_str(), room.as_str()))
                    .or_default()
                    .extend(messages.iter().map(|(_, content)| content.as_str()));
            }
            _ => {}
        }
    }
    for (client, rooms) in joined.iter().filter(|(client, _)| !unrecovered.contains(**client)) {
        for (room, joined_at) in rooms {
            let empty = BTreeSet::new();
            let seen = seen.get(&(*client, *room)).unwrap_or(&empty);
            let missed: Vec<&str> = acked
                .iter()
                .filter(|a| a.room == *room && a.invoked_ms > *joined_at && !seen.contains(a.nonce.as_str()))
                .map(|a| a.nonce.as_str())
                .collect();
            if !missed.is_empty() {
                verdict.missed.push(format!("{client} in room {room} never saw {}", missed.join(", ")));
            }
        }
    }
}

fn check_single_login(history: &[Entry], verdict: &mut Verdict) {
    let invoked = invoke_times(history);
    let invoked_at = |e: &Entry| invoked.get(&e.id).copied().unwrap_or(e.at_ms);
    // user -> (session, invoked, answered)
    let mut logins: BTreeMap<&str, Vec<(&str, u64, u64)>> = BTreeMap::new();
    // user -> (session, answered): a logout ends its session
    let mut logouts: Vec<(&str, &str, u64)> = Vec::new();
    // user -> (session, invoked, what, client)
    let mut uses: BTreeMap<&str, Vec<(&str, u64, String, &str)>> = BTreeMap::new();
    for e in history.iter().filter(|e| e.phase == Phase::Ok) {
        match &e.op {
            Op::Login { user, session: Some(session) } => {
                logins.entry(user).or_default().push((session, invoked_at(e), e.at_ms))
            }
            Op::Logout { user, session } => logouts.push((user, session, e.at_ms)),
            Op::Request { user, session, what } => {
                uses.entry(user).or_default().push((session, invoked_at(e), what.clone(), &e.client))
            }
            Op::Join { user, session, room } => {
                uses.entry(user).or_default().push((session, invoked_at(e), format!("join {room}"), &e.client))
            }
            Op::Send { user, session, nonce, .. } => {
                uses.entry(user).or_default().push((session, invoked_at(e), format!("send {nonce}"), &e.client))
            }
            _ => {}
        }
    }
    for (user, sessions) in &logins {
        let Some(uses) = uses.get(user) else { continue };
        for (new_session, new_invoked, new_answered) in sessions {
            let older: BTreeSet<&str> = sessions
                .iter()
                .filter(|(s, _, answered)| answered < new_invoked && s != new_session)
                .map(|(s, _, _)| *s)
                .collect();
            for (session, at, what, client) in uses {
                if older.contains(session) && at > new_answered {
                    verdict.single_login_violations.push(format!(
                        "user {user}: session {session} accepted ({what} by {client} at {at} ms) after session \
                         {new_session}'s login was answered at {new_answered} ms"
                    ));
                }
            }
        }
    }
    for (user, ended, answered) in logouts {
        for (session, at, what, client) in uses.get(user).into_iter().flatten() {
            if *session == ended && at > &answered {
                verdict.single_login_violations.push(format!(
                    "user {user}: session {session} accepted ({what} by {client} at {at} ms) after its logout was \
                     answered at {answered} ms"
                ));
            }
        }
    }
}

fn check_participants(
    history: &[Entry],
    views: &ParticipantViews,
    unrecovered: &BTreeSet<String>,
    verdict: &mut Verdict,
) {
    let rooms: BTreeSet<&String> = views.values().flat_map(BTreeMap::keys).collect();
    for room in rooms {
        let mut distinct: BTreeMap<&BTreeSet<String>, Vec<&str>> = BTreeMap::new();
        let empty = BTreeSet::new();
        for (node, rooms) in views {
            distinct.entry(rooms.get(room).unwrap_or(&empty)).or_default().push(node);
        }
        if distinct.len() > 1 {
            let views: Vec<String> =
                distinct.iter().map(|(users, nodes)| format!("node(s) {}: {users:?}", nodes.join(","))).collect();
            verdict.participants_diverged.push(format!("room {room}: {}", views.join("; ")));
        }
    }
    let members: BTreeSet<(&str, &str, &str)> = history
        .iter()
        .filter(|e| e.phase == Phase::Ok && !unrecovered.contains(&e.client))
        .filter_map(|e| match &e.op {
            Op::Join { user, room, .. } => Some((e.client.as_str(), user.as_str(), room.as_str())),
            _ => None,
        })
        .collect();
    for (client, user, room) in members {
        for (node, rooms) in views {
            if !rooms.get(room).is_some_and(|users| users.contains(user)) {
                verdict.participants_diverged.push(format!(
                    "room {room}: node {node} does not list {user} ({client}, connected) as participant"
                ));
            }
        }
    }
}

#[cfg(test)]
#[path = "checker_tests.rs"]
mod tests;
