//! Table tests of admin actions: roles and the last-admin rule, bans and mutes with
//! stamped end times, forced logout, the audit log, and snapshots of older versions.

use super::super::audit::{AuditAction, AuditEntry, AuditTarget, AUDIT_CAPACITY};
use super::super::users::{Sanction, OPERATOR};
use super::*;
use crate::command::Stamp;

fn by(actor: &str, at: Millis) -> Stamp {
    Stamp { actor: actor.to_owned(), at }
}

fn promote(user_id: &str, role: Role) -> Command {
    Command::SetRole { user_id: user_id.to_owned(), role, by: Some(by("root", T0)) }
}

fn ban(user_id: &str, until: Option<Millis>) -> Command {
    Command::Ban { user_id: user_id.to_owned(), reason: "spam".to_owned(), until, by: by("root", T0 + 5) }
}

fn mute(user_id: &str, until: Millis) -> Command {
    Command::Mute { user_id: user_id.to_owned(), reason: "flood".to_owned(), until, by: by("root", T0 + 6) }
}

/// `root` registered and made admin by the operator, `alice` online on node 1.
fn with_admin() -> Vec<(Command, Outcome)> {
    let mut steps = vec![
        (register("root"), registered("root")),
        (
            Command::SetRole { user_id: "root".into(), role: Role::Admin, by: Some(by(OPERATOR, T0)) },
            Outcome::UserUpdated,
        ),
    ];
    steps.extend(online("alice", sock(1, "a1")));
    steps
}

fn actions(state: &ClusterState) -> Vec<AuditAction> {
    state.audit.page_newest_first(0, 100).map(|e| e.action).collect()
}

#[test]
fn roles_keep_at_least_one_admin() {
    run_table(vec![
        Case {
            name: "the last admin cannot be demoted, one of two can",
            steps: {
                let mut steps = with_admin();
                steps.extend([
                    (promote("root", Role::User), Outcome::LastAdmin),
                    (promote("alice", Role::Admin), Outcome::UserUpdated),
                    (promote("alice", Role::Admin), Outcome::Unchanged),
                    (promote("root", Role::User), Outcome::UserUpdated),
                    (promote("alice", Role::User), Outcome::LastAdmin),
                ]);
                steps
            },
            check: |s| {
                assert_eq!(s.users.admins(), 1);
                assert!(s.users.get("alice").unwrap().is_admin());
                // Refusals and no-ops are not audited.
                use AuditAction::SetRole;
                assert_eq!(actions(s), vec![SetRole, SetRole, SetRole]);
            },
        },
        Case {
            name: "admins cannot be banned or muted",
            steps: {
                let mut steps = with_admin();
                steps.extend([
                    (ban("root", None), Outcome::AdminTarget),
                    (mute("root", T0 + 60_000), Outcome::AdminTarget),
                ]);
                steps
            },
            check: |s| assert!(s.users.get("root").unwrap().ban.is_none() && s.audit.len() == 1),
        },
        Case {
            name: "unknown users",
            steps: vec![
                (ban("ghost", None), Outcome::UnknownUser),
                (mute("ghost", T0 + 1), Outcome::UnknownUser),
                (Command::Unban { user_id: "ghost".into(), by: by("root", T0) }, Outcome::UnknownUser),
                (Command::Unmute { user_id: "ghost".into(), by: by("root", T0) }, Outcome::UnknownUser),
                (Command::EndSession { user_id: "ghost".into(), by: by("root", T0) }, Outcome::UnknownUser),
                (promote("ghost", Role::Admin), Outcome::UnknownUser),
            ],
            check: |s| assert!(s.audit.is_empty()),
        },
    ]);
}

#[test]
fn a_ban_ends_the_session_drops_sockets_and_refuses_logins_until_it_ends() {
    let mut steps = with_admin();
    steps.extend([
        (ban("alice", Some(T0 + 1_000)), Outcome::Sanctioned { sockets: vec![sock(1, "a1")] }),
        // Judged at the login's stamped time: refused before the end, accepted after.
        (Command::OpenSession { session: session("alice", "s2", T0 + 999) }, Outcome::UserBanned),
        (Command::OpenSession { session: session("alice", "s3", T0 + 1_000) }, opened(None)),
        (ban("alice", None), Outcome::Sanctioned { sockets: vec![] }),
        (Command::OpenSession { session: session("alice", "s4", T0 + 10_000_000) }, Outcome::UserBanned),
        (Command::Unban { user_id: "alice".into(), by: by("root", T0 + 7) }, Outcome::UserUpdated),
        (Command::OpenSession { session: session("alice", "s5", T0 + 8) }, opened(None)),
    ]);
    let state = replay("ban", &steps);
    assert!(state.sessions.is_current("alice", "s5"));
    assert!(state.users.get("alice").unwrap().ban.is_none());
    assert_eq!(
        state.sessions.recent("alice").map(|s| s.session_id.as_str()).collect::<Vec<_>>(),
        ["s5", "s3", "sid-alice"]
    );
    let newest = state.audit.page_newest_first(0, 1).next().unwrap();
    assert_eq!(
        (newest.action, newest.actor_email.as_str(), newest.target_email.as_str()),
        (AuditAction::Unban, "root@example.com", "alice@example.com")
    );
}

#[test]
fn a_mute_is_kept_with_its_stamped_end_and_can_be_lifted() {
    let mut steps = with_admin();
    steps.extend([
        (mute("alice", T0 + 60_000), Outcome::UserUpdated),
        (Command::Unmute { user_id: "alice".into(), by: by("root", T0 + 9) }, Outcome::UserUpdated),
        (mute("alice", T0 + 120_000), Outcome::UserUpdated),
    ]);
    let state = replay("mute", &steps);
    let alice = state.users.get("alice").unwrap();
    let expected = Sanction { reason: "flood".into(), until: Some(T0 + 120_000), at: T0 + 6, by: "root".into() };
    assert_eq!(alice.mute.as_ref(), Some(&expected));
    assert!(alice.mute_at(T0 + 119_999).is_some() && alice.mute_at(T0 + 120_000).is_none());
    assert!(state.sessions.is_current("alice", "sid-alice"), "a mute keeps the session");
    assert_eq!(actions(&state), vec![AuditAction::Mute, AuditAction::Unmute, AuditAction::Mute, AuditAction::SetRole]);
}

#[test]
fn admin_logout_and_delete_end_everything_and_are_audited() {
    let mut steps = with_admin();
    steps.extend([
        (
            Command::EndSession { user_id: "alice".into(), by: by("root", T0 + 1) },
            Outcome::Sanctioned { sockets: vec![sock(1, "a1")] },
        ),
        (
            Command::EndSession { user_id: "alice".into(), by: by("root", T0 + 2) },
            Outcome::Sanctioned { sockets: vec![] },
        ),
        (
            Command::DeleteUser { user_id: "alice".into(), by: Some(by("root", T0 + 3)) },
            Outcome::UserDeleted { user_id: "alice".into(), sockets: vec![] },
        ),
    ]);
    let state = replay("logout", &steps);
    assert!(state.sessions.current("alice").is_none() && state.sessions.recent("alice").next().is_none());
    let entries: Vec<_> = state.audit.page_newest_first(0, 10).collect();
    assert_eq!(entries.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 3, 2, 1]);
    assert_eq!(entries[0].action, AuditAction::DeleteUser);
    assert_eq!(entries[0].target_email, "alice@example.com", "the entry names the user deleted by it");
}

#[test]
fn the_audit_log_is_bounded_and_pages_newest_first() {
    let mut state = replay("audit", &with_admin());
    for i in 0..(AUDIT_CAPACITY as u64 + 5) {
        let cmd = Command::EndSession { user_id: "alice".into(), by: by("root", T0 + i) };
        state.apply(&req(&format!("logout-{i}"), cmd));
    }
    assert_eq!(state.audit.len(), AUDIT_CAPACITY);
    assert_eq!(state.audit.recorded(), AUDIT_CAPACITY as u64 + 6);
    let first: Vec<u64> = state.audit.page_newest_first(0, 3).map(|e| e.id).collect();
    assert_eq!(first, [AUDIT_CAPACITY as u64 + 6, AUDIT_CAPACITY as u64 + 5, AUDIT_CAPACITY as u64 + 4]);
    let last_page = AUDIT_CAPACITY / 3;
    let last: Vec<u64> = state.audit.page_newest_first(last_page, 3).map(|e| e.id).collect();
    assert_eq!(last, [7], "the oldest kept entry is id 7");
    assert_eq!(state.audit.page_newest_first(last_page + 1, 3).count(), 0);
}

#[test]
fn snapshots_round_trip_and_older_snapshots_load() {
    let mut steps = with_admin();
    steps.extend([(ban("alice", Some(T0 + 1)), Outcome::Sanctioned { sockets: vec![sock(1, "a1")] })]);
    let state = replay("snapshot", &steps);
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<ClusterState>(&json).unwrap(), state);

    // A snapshot written before roles, sanctions and the audit log: the old `banned`
    // flag becomes a ban until lifted, the rest defaults.
    let old = r#"{"users":[{"id":"u1","email":"a@b.co","name":"A","password_hash":"x","banned":true,
        "created_at":1,"updated_at":1}],"rooms":{"by_id":{}},"sessions":{"by_user":{}},"presence":[],
        "down_nodes":[],"dedup":[]}"#;
    let loaded: ClusterState = match serde_json::from_str(old) {
        Ok(loaded) => loaded,
        Err(e) => panic!("old snapshot: {e}"),
    };
    let user = loaded.users.get("u1").unwrap();
    assert_eq!((user.role, user.ban.as_ref().map(|b| b.until)), (Role::User, Some(None)));
    assert!(loaded.audit.is_empty());
}

fn delete_room(room_id: &str, at: Millis) -> Command {
    Command::DeleteRoom { room_id: room_id.to_owned(), by: by("root", at) }
}

fn delete_message(message_id: &str, room_id: &str, at: Millis) -> Command {
    Command::DeleteMessage { message_id: message_id.to_owned(), room_id: room_id.to_owned(), by: by("root", at) }
}

#[test]
fn deleting_a_room_closes_it_for_everyone_and_keeps_it_for_admins() {
    let mut steps = with_admin();
    steps.extend(online("bob", sock(2, "b1")));
    steps.extend([
        (create_room("r1", "alice"), Outcome::RoomCreated),
        (join("r1", "bob", Some(sock(2, "b1")), None), joined(true)),
        (join("r1", "alice", Some(sock(1, "a1")), None), joined(false)),
        (create_room("r2", "bob"), Outcome::RoomCreated),
        (join("r2", "bob", Some(sock(2, "b1")), None), joined(false)),
        (delete_room("ghost", T0 + 1), Outcome::UnknownRoom),
        (delete_room("r1", T0 + 2), Outcome::RoomDeleted { members: vec!["alice".into(), "bob".into()] }),
        // Closed: a second deletion changes nothing, and nobody can join, leave or
        // reuse its id.
        (delete_room("r1", T0 + 3), Outcome::Unchanged),
        (join("r1", "bob", Some(sock(2, "b1")), None), Outcome::UnknownRoom),
        (leave("r1", "alice"), Outcome::UnknownRoom),
        (create_room("r1", "bob"), Outcome::RoomExists),
    ]);
    let state = replay("delete room", &steps);
    assert!(state.rooms.get("r1").is_none(), "out of the open rooms");
    assert_eq!(state.rooms.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["r2"], "the list");
    let closed = state.rooms.closed("r1").expect("kept for admins");
    assert_eq!((closed.closed_at, closed.closed_by.as_str()), (T0 + 2, "root"));
    assert_eq!(closed.room.participants, ["alice", "bob"], "its members as they were");
    assert_eq!(nodes_in_room(&state, "r1"), Vec::<NodeId>::new(), "no socket is in it any more");
    assert_eq!(rooms_of(&state, &sock(2, "b1")), ["r2"], "other rooms stay joined");
    assert!(rooms_of(&state, &sock(1, "a1")).is_empty());
    let newest = state.audit.page_newest_first(0, 1).next().unwrap();
    assert_eq!(
        (newest.action, newest.target_kind, newest.target.as_str(), newest.detail.as_str()),
        (AuditAction::DeleteRoom, AuditTarget::Room, "r1", "room r1"),
        "audited once, with the room's name"
    );
    assert_eq!(state.audit.len(), 2);
}

#[test]
fn a_message_deletion_is_audited_and_announced_once() {
    let mut steps = with_admin();
    steps.extend([
        (delete_message("m1", "r1", T0 + 1), Outcome::MessageDeleted { first: true }),
        (delete_message("m1", "r1", T0 + 2), Outcome::MessageDeleted { first: false }),
        (delete_message("m2", "r1", T0 + 3), Outcome::MessageDeleted { first: true }),
    ]);
    let state = replay("delete message", &steps);
    let entries: Vec<_> = state.audit.page_newest_first(0, 2).collect();
    let shown: Vec<_> = entries.iter().map(|e| (e.action, e.target_kind, e.target.as_str(), e.at)).collect();
    assert_eq!(
        shown,
        [
            (AuditAction::DeleteMessage, AuditTarget::Message, "m2", T0 + 3),
            (AuditAction::DeleteMessage, AuditTarget::Message, "m1", T0 + 1),
        ]
    );
    assert_eq!((entries[1].detail.as_str(), entries[1].target_email.as_str()), ("r1", ""), "its room, no email");
    assert_eq!(state.audit.len(), 3);
}

#[test]
fn audit_entries_written_before_targets_had_kinds_are_of_users() {
    let old = r#"{"id":1,"at":5,"actor":"root","actor_email":"","action":"ban","target":"u1",
        "target_email":"a@b.co","reason":"spam","detail":""}"#;
    let entry: AuditEntry = serde_json::from_str(old).unwrap();
    assert_eq!((entry.target_kind, entry.target.as_str()), (AuditTarget::User, "u1"));
}
