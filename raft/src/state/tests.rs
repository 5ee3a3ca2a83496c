//! Table tests of the pure `ClusterState::apply`: (command, expected outcome) rows replayed on fresh states.

use super::dedup::{Dedup, DEDUP_CAPACITY, DEDUP_MAX_BYTES};
use super::sessions::SESSION_IDLE_MS;
use super::{ClusterState, Role, Room, Session, SocketRef, User};
use crate::command::{Command, Millis, Outcome, Request, RequestId, SessionTouch};
use crate::types::NodeId;

/// Table tests of admin actions; a child module so it shares the fixtures below.
#[path = "admin_tests.rs"]
mod admin_tests;

const T0: Millis = 1_700_000_000_000;

/// One table row: commands applied in order to a fresh state, each with the outcome it must commit,
/// then assertions on what the outcomes alone do not show.
struct Case {
    name: &'static str,
    steps: Vec<(Command, Outcome)>,
    check: fn(&ClusterState),
}

fn run_table(cases: Vec<Case>) {
    for case in cases {
        let state = replay(case.name, &case.steps);
        (case.check)(&state);
    }
}

/// Applies `steps` with fresh, deterministic request ids and checks every outcome.
fn replay(name: &str, steps: &[(Command, Outcome)]) -> ClusterState {
    let mut state = ClusterState::default();
    for (i, (cmd, want)) in steps.iter().enumerate() {
        let got = state.apply(&req(&format!("{name}#{i}"), cmd.clone()));
        assert_eq!(&got, want, "case `{name}`, step {i}: {cmd:?}");
    }
    state
}

fn req(id: &str, cmd: Command) -> Request {
    Request { id: RequestId(id.to_owned()), cmd }
}

// ---- fixtures -------------------------------------------------------------------------------

fn user(id: &str, email: &str) -> User {
    User {
        id: id.to_owned(),
        email: email.to_owned(),
        name: id.to_owned(),
        password_hash: format!("$2b$10$hash-of-{id}"),
        profile_image: String::new(),
        role: Role::User,
        ban: None,
        mute: None,
        created_at: T0,
        updated_at: T0,
    }
}

fn register(id: &str) -> Command {
    register_email(id, &format!("{id}@example.com"))
}

fn register_email(id: &str, email: &str) -> Command {
    Command::RegisterUser { user: user(id, email) }
}

fn registered(id: &str) -> Outcome {
    Outcome::UserRegistered { user_id: id.to_owned() }
}

fn session(user_id: &str, session_id: &str, at: Millis) -> Session {
    Session {
        user_id: user_id.to_owned(),
        session_id: session_id.to_owned(),
        created_at: at,
        last_activity: at,
        user_agent: "test".to_owned(),
        ip_address: "127.0.0.1".to_owned(),
    }
}

fn login(user_id: &str, session_id: &str) -> Command {
    Command::OpenSession { session: session(user_id, session_id, T0) }
}

fn opened(replaced: Option<Session>) -> Outcome {
    Outcome::SessionOpened { replaced }
}

fn touch(user_id: &str, session_id: &str, at: Millis) -> SessionTouch {
    SessionTouch { user_id: user_id.to_owned(), session_id: session_id.to_owned(), at }
}

fn room(id: &str, creator: &str, password_hash: Option<&str>) -> Room {
    Room {
        id: id.to_owned(),
        name: format!("room {id}"),
        password_hash: password_hash.map(str::to_owned),
        creator: creator.to_owned(),
        created_at: T0,
        participants: Vec::new(),
    }
}

fn create_room(id: &str, creator: &str) -> Command {
    Command::CreateRoom { room: room(id, creator, None) }
}

fn join(room_id: &str, user_id: &str, socket: Option<SocketRef>, password_hash: Option<&str>) -> Command {
    Command::JoinRoom {
        room_id: room_id.to_owned(),
        user_id: user_id.to_owned(),
        socket,
        password_hash: password_hash.map(str::to_owned),
    }
}

fn leave(room_id: &str, user_id: &str) -> Command {
    Command::LeaveRoom { room_id: room_id.to_owned(), user_id: user_id.to_owned() }
}

fn sock(node: NodeId, id: &str) -> SocketRef {
    SocketRef { node, socket: id.to_owned() }
}

fn connect(socket: SocketRef, user_id: &str, session_id: &str) -> Command {
    Command::ConnectSocket { socket, user_id: user_id.to_owned(), session_id: session_id.to_owned() }
}

fn disconnect(socket: SocketRef) -> Command {
    Command::DisconnectSocket { socket }
}

fn joined(added: bool) -> Outcome {
    Outcome::RoomJoined { added }
}

fn left_rooms(rooms: &[&str]) -> Outcome {
    Outcome::SocketDisconnected { rooms: rooms.iter().map(|r| (*r).to_owned()).collect() }
}

/// A logged-in user with one connected socket: the usual prefix of presence cases.
fn online(user_id: &str, socket: SocketRef) -> Vec<(Command, Outcome)> {
    let sid = format!("sid-{user_id}");
    vec![
        (register(user_id), registered(user_id)),
        (login(user_id, &sid), opened(None)),
        (connect(socket, user_id, &sid), Outcome::SocketConnected),
    ]
}

fn nodes_in_room(state: &ClusterState, room_id: &str) -> Vec<NodeId> {
    state.presence.nodes_in_room(room_id).collect()
}

fn sockets_of(state: &ClusterState, user_id: &str) -> Vec<SocketRef> {
    state.presence.sockets_of_user(user_id).cloned().collect()
}

fn rooms_of(state: &ClusterState, socket: &SocketRef) -> Vec<String> {
    state.presence.socket(socket).expect("socket is connected").rooms.iter().cloned().collect()
}

fn participants(state: &ClusterState, room_id: &str) -> Vec<String> {
    state.rooms.get(room_id).expect("room exists").participants.clone()
}

// ---- users ----------------------------------------------------------------------------------

#[test]
fn users() {
    let update = |name: Option<&str>, image: Option<&str>, at| Command::UpdateUser {
        user_id: "alice".to_owned(),
        name: name.map(str::to_owned),
        profile_image: image.map(str::to_owned),
        at,
    };
    run_table(vec![
        Case {
            name: "register",
            steps: vec![(register("alice"), registered("alice"))],
            check: |s| {
                assert_eq!(s.users.get("alice"), Some(&user("alice", "alice@example.com")));
                assert_eq!(s.users.by_email("alice@example.com").map(|u| u.id.as_str()), Some("alice"));
            },
        },
        Case {
            name: "duplicate email is refused",
            steps: vec![
                (register_email("alice", "same@example.com"), registered("alice")),
                (register_email("bob", "same@example.com"), Outcome::EmailTaken),
            ],
            check: |s| {
                assert_eq!(s.users.len(), 1);
                assert!(!s.users.contains("bob"));
                assert_eq!(s.users.by_email("same@example.com").map(|u| u.id.as_str()), Some("alice"));
            },
        },
        Case {
            // The proposer lowercases; apply compares exactly.
            name: "emails are compared exactly",
            steps: vec![
                (register_email("alice", "alice@example.com"), registered("alice")),
                (register_email("bob", "Alice@example.com"), registered("bob")),
            ],
            check: |s| assert_eq!(s.users.by_email("Alice@example.com").map(|u| u.id.as_str()), Some("bob")),
        },
        Case {
            name: "a clashing id is refused",
            steps: vec![
                (register("alice"), registered("alice")),
                (register_email("alice", "other@example.com"), Outcome::EmailTaken),
            ],
            check: |s| {
                assert_eq!(s.users.get("alice").unwrap().email, "alice@example.com");
                assert!(s.users.by_email("other@example.com").is_none());
            },
        },
        Case {
            name: "update name, then image, then a late update",
            steps: vec![
                (register("alice"), registered("alice")),
                (update(Some("Alice A."), None, T0 + 10), Outcome::UserUpdated),
                (update(None, Some("/uploads/a.png"), T0 + 20), Outcome::UserUpdated),
                // A command stamped earlier still applies, but updated_at never goes back.
                (update(Some("Alice B."), None, T0 + 5), Outcome::UserUpdated),
            ],
            check: |s| {
                let alice = s.users.get("alice").unwrap();
                assert_eq!((alice.name.as_str(), alice.profile_image.as_str()), ("Alice B.", "/uploads/a.png"));
                assert_eq!((alice.created_at, alice.updated_at), (T0, T0 + 20));
            },
        },
        Case {
            name: "unknown user cannot be updated, deleted, promoted or banned",
            steps: vec![
                (update(Some("x"), None, T0), Outcome::UnknownUser),
                (Command::DeleteUser { user_id: "alice".to_owned(), by: None }, Outcome::UnknownUser),
                (Command::SetRole { user_id: "alice".to_owned(), role: Role::Admin, by: None }, Outcome::UnknownUser),
                (Command::SetBanned { user_id: "alice".to_owned(), banned: true }, Outcome::UnknownUser),
            ],
            check: |s| assert!(s.users.is_empty()),
        },
        Case {
            name: "set role",
            steps: vec![
                (register("alice"), registered("alice")),
                (Command::SetRole { user_id: "alice".to_owned(), role: Role::Admin, by: None }, Outcome::UserUpdated),
            ],
            check: |s| assert_eq!(s.users.get("alice").unwrap().role, Role::Admin),
        },
        Case {
            name: "ban ends the session, unban does not bring it back",
            steps: vec![
                (register("alice"), registered("alice")),
                (login("alice", "s1"), opened(None)),
                (Command::SetBanned { user_id: "alice".to_owned(), banned: true }, Outcome::UserUpdated),
                (
                    Command::CloseSession { user_id: "alice".to_owned(), session_id: "s1".to_owned() },
                    Outcome::UnknownSession,
                ),
                (Command::SetBanned { user_id: "alice".to_owned(), banned: false }, Outcome::UserUpdated),
            ],
            check: |s| {
                assert!(s.users.get("alice").unwrap().ban.is_none());
                assert!(s.sessions.current("alice").is_none());
            },
        },
        Case {
            name: "unban keeps a live session",
            steps: vec![
                (register("alice"), registered("alice")),
                (login("alice", "s1"), opened(None)),
                (Command::SetBanned { user_id: "alice".to_owned(), banned: false }, Outcome::UserUpdated),
            ],
            check: |s| assert!(s.sessions.is_current("alice", "s1")),
        },
    ]);
}

#[test]
fn delete_user_removes_session_sockets_and_participations() {
    let (a1, a2, b1) = (sock(1, "a1"), sock(2, "a2"), sock(2, "b1"));
    let mut steps = online("alice", a1.clone());
    steps.extend(online("bob", b1.clone()));
    steps.extend([
        (connect(a2.clone(), "alice", "sid-alice"), Outcome::SocketConnected),
        (create_room("r1", "bob"), Outcome::RoomCreated),
        (join("r1", "alice", Some(a1.clone()), None), joined(true)),
        (join("r1", "alice", Some(a2.clone()), None), joined(false)),
        (join("r1", "bob", Some(b1.clone()), None), joined(false)),
        (
            Command::DeleteUser { user_id: "alice".to_owned(), by: None },
            Outcome::UserDeleted { user_id: "alice".to_owned(), sockets: vec![a1, a2] },
        ),
        // The email is free again.
        (register_email("alice2", "alice@example.com"), registered("alice2")),
    ]);
    let state = replay("delete user", &steps);

    assert!(!state.users.contains("alice"));
    assert_eq!(state.users.by_email("alice@example.com").map(|u| u.id.as_str()), Some("alice2"));
    assert!(state.sessions.current("alice").is_none());
    assert!(sockets_of(&state, "alice").is_empty());
    assert_eq!(participants(&state, "r1"), ["bob"]);
    assert_eq!(nodes_in_room(&state, "r1"), [2]);
    assert_eq!(state.presence.len(), 1);
    assert_eq!(rooms_of(&state, &b1), ["r1"]);
}

// ---- sessions -------------------------------------------------------------------------------

#[test]
fn sessions() {
    let close = |sid: &str| Command::CloseSession { user_id: "alice".to_owned(), session_id: sid.to_owned() };
    run_table(vec![
        Case {
            name: "login of an unknown user",
            steps: vec![(login("alice", "s1"), Outcome::UnknownUser)],
            check: |s| assert!(s.sessions.is_empty()),
        },
        Case {
            name: "first login",
            steps: vec![(register("alice"), registered("alice")), (login("alice", "s1"), opened(None))],
            check: |s| assert_eq!(s.sessions.current("alice"), Some(&session("alice", "s1", T0))),
        },
        Case {
            name: "second login replaces the first",
            steps: vec![
                (register("alice"), registered("alice")),
                (login("alice", "s1"), opened(None)),
                (login("alice", "s2"), opened(Some(session("alice", "s1", T0)))),
            ],
            check: |s| {
                assert!(s.sessions.is_current("alice", "s2"));
                assert!(!s.sessions.is_current("alice", "s1"));
                assert_eq!(s.sessions.len(), 1);
            },
        },
        Case {
            name: "logins of different users do not interfere",
            steps: vec![
                (register("alice"), registered("alice")),
                (register("bob"), registered("bob")),
                (login("alice", "s1"), opened(None)),
                (login("bob", "s2"), opened(None)),
            ],
            check: |s| assert!(s.sessions.is_current("alice", "s1") && s.sessions.is_current("bob", "s2")),
        },
        Case {
            name: "close with a stale id keeps the current session",
            steps: vec![
                (register("alice"), registered("alice")),
                (login("alice", "s1"), opened(None)),
                (login("alice", "s2"), opened(Some(session("alice", "s1", T0)))),
                (close("s1"), Outcome::UnknownSession),
            ],
            check: |s| assert!(s.sessions.is_current("alice", "s2")),
        },
        Case {
            name: "close the current session, then again",
            steps: vec![
                (register("alice"), registered("alice")),
                (login("alice", "s1"), opened(None)),
                (close("s1"), Outcome::SessionClosed { session: session("alice", "s1", T0) }),
                (close("s1"), Outcome::UnknownSession),
            ],
            check: |s| assert!(s.sessions.is_empty()),
        },
        Case {
            name: "close for a user without a session",
            steps: vec![(close("s1"), Outcome::UnknownSession)],
            check: |_| {},
        },
    ]);
}

#[test]
fn touch_sessions_moves_activity_forward_for_current_sessions_only() {
    let touches = |list: Vec<SessionTouch>| Command::TouchSessions { touches: list };
    let counted = |count| Outcome::SessionsTouched { count };
    run_table(vec![
        Case {
            name: "forward, backward, equal",
            steps: vec![
                (register("alice"), registered("alice")),
                (login("alice", "s1"), opened(None)),
                (touches(vec![touch("alice", "s1", T0 + 10)]), counted(1)),
                (touches(vec![touch("alice", "s1", T0 + 5)]), counted(0)),
                (touches(vec![touch("alice", "s1", T0 + 10)]), counted(0)),
            ],
            check: |s| assert_eq!(s.sessions.current("alice").unwrap().last_activity, T0 + 10),
        },
        Case {
            name: "a batch counts only current sessions that moved",
            steps: vec![
                (register("alice"), registered("alice")),
                (register("bob"), registered("bob")),
                (login("alice", "s1"), opened(None)),
                (login("alice", "s2"), opened(Some(session("alice", "s1", T0)))),
                (login("bob", "s3"), opened(None)),
                (
                    touches(vec![
                        touch("alice", "s1", T0 + 30), // replaced session
                        touch("alice", "s2", T0 + 20),
                        touch("bob", "s3", T0 + 20),
                        touch("carol", "s4", T0 + 20), // no such user
                        touch("bob", "s3", T0 + 15),   // older than the touch before it
                    ]),
                    counted(2),
                ),
                (touches(vec![]), counted(0)),
            ],
            check: |s| {
                assert_eq!(s.sessions.current("alice").unwrap().last_activity, T0 + 20);
                assert_eq!(s.sessions.current("bob").unwrap().last_activity, T0 + 20);
                assert_eq!(s.sessions.current("alice").unwrap().created_at, T0);
                assert!(s.sessions.current("carol").is_none());
            },
        },
    ]);
}

#[test]
fn session_is_live_within_thirty_idle_minutes() {
    assert_eq!(SESSION_IDLE_MS, 30 * 60 * 1000);
    let cases: &[(&str, Millis, Millis, bool)] = &[
        ("just active", T0, T0, true),
        ("idle one minute", T0, T0 + 60_000, true),
        ("idle exactly 30 minutes", T0, T0 + SESSION_IDLE_MS, true),
        ("idle 30 minutes and 1 ms", T0, T0 + SESSION_IDLE_MS + 1, false),
        ("idle a day", T0, T0 + 24 * 3_600_000, false),
        ("reader clock behind the toucher", T0 + 5_000, T0, true),
        ("touched later", T0 + 20 * 60_000, T0 + 45 * 60_000, true),
    ];
    for &(name, last_activity, now, live) in cases {
        let session = Session { last_activity, ..session("alice", "s1", T0) };
        assert_eq!(session.is_live_at(now), live, "{name}");
    }
}

// ---- rooms ----------------------------------------------------------------------------------

#[test]
fn rooms() {
    run_table(vec![
        Case {
            name: "creator is the first participant",
            steps: vec![(register("alice"), registered("alice")), (create_room("r1", "alice"), Outcome::RoomCreated)],
            check: |s| {
                let r1 = s.rooms.get("r1").unwrap();
                assert_eq!(r1.participants, ["alice"]);
                assert!(!r1.has_password());
            },
        },
        Case {
            name: "creator moves to the front of a proposed participant list",
            steps: vec![
                (register("alice"), registered("alice")),
                (
                    Command::CreateRoom {
                        room: Room { participants: vec!["bob".into(), "alice".into()], ..room("r1", "alice", None) },
                    },
                    Outcome::RoomCreated,
                ),
            ],
            check: |s| assert_eq!(participants(s, "r1"), ["alice", "bob"]),
        },
        Case {
            name: "same id exists",
            steps: vec![
                (register("alice"), registered("alice")),
                (register("bob"), registered("bob")),
                (create_room("r1", "alice"), Outcome::RoomCreated),
                (Command::CreateRoom { room: room("r1", "bob", Some("h")) }, Outcome::RoomExists),
            ],
            check: |s| {
                assert_eq!(s.rooms.len(), 1);
                assert_eq!(
                    s.rooms.get("r1").unwrap(),
                    &Room { participants: vec!["alice".into()], ..room("r1", "alice", None) }
                );
            },
        },
        Case {
            name: "unknown creator",
            steps: vec![(create_room("r1", "alice"), Outcome::UnknownUser)],
            check: |s| assert!(s.rooms.is_empty()),
        },
        Case {
            name: "join adds once",
            steps: vec![
                (register("alice"), registered("alice")),
                (register("bob"), registered("bob")),
                (create_room("r1", "alice"), Outcome::RoomCreated),
                (join("r1", "bob", None, None), joined(true)),
                (join("r1", "bob", None, None), joined(false)),
                (join("r1", "alice", None, None), joined(false)),
            ],
            check: |s| assert_eq!(participants(s, "r1"), ["alice", "bob"]),
        },
        Case {
            name: "join an unknown room, join as an unknown user",
            steps: vec![
                (register("alice"), registered("alice")),
                (join("r1", "alice", None, None), Outcome::UnknownRoom),
                (create_room("r1", "alice"), Outcome::RoomCreated),
                (join("r1", "bob", None, None), Outcome::UnknownUser),
            ],
            check: |s| assert_eq!(participants(s, "r1"), ["alice"]),
        },
        Case {
            // The proposer verified the password against a hash; a room whose hash differs is refused.
            name: "password room",
            steps: {
                let mut steps = online("bob", sock(1, "b1"));
                steps.extend([
                    (register("alice"), registered("alice")),
                    (Command::CreateRoom { room: room("r1", "alice", Some("hash-1")) }, Outcome::RoomCreated),
                    (join("r1", "bob", Some(sock(1, "b1")), None), Outcome::WrongRoomPassword),
                    (join("r1", "bob", Some(sock(1, "b1")), Some("hash-0")), Outcome::WrongRoomPassword),
                ]);
                steps
            },
            check: |s| {
                assert_eq!(participants(s, "r1"), ["alice"]);
                assert!(rooms_of(s, &sock(1, "b1")).is_empty());
                assert!(nodes_in_room(s, "r1").is_empty());
            },
        },
        Case {
            name: "password room with the matching hash",
            steps: {
                let mut steps = online("bob", sock(1, "b1"));
                steps.extend([
                    (register("alice"), registered("alice")),
                    (Command::CreateRoom { room: room("r1", "alice", Some("hash-1")) }, Outcome::RoomCreated),
                    (join("r1", "bob", Some(sock(1, "b1")), Some("hash-1")), joined(true)),
                ]);
                steps
            },
            check: |s| {
                assert_eq!(participants(s, "r1"), ["alice", "bob"]);
                assert_eq!(rooms_of(s, &sock(1, "b1")), ["r1"]);
                assert_eq!(nodes_in_room(s, "r1"), [1]);
            },
        },
        Case {
            name: "an open room ignores a given hash",
            steps: vec![
                (register("alice"), registered("alice")),
                (create_room("r1", "alice"), Outcome::RoomCreated),
                (join("r1", "alice", None, Some("anything")), joined(false)),
            ],
            check: |_| {},
        },
        Case {
            name: "leave",
            steps: {
                let mut steps = online("bob", sock(1, "b1"));
                steps.extend([
                    (register("alice"), registered("alice")),
                    (create_room("r1", "alice"), Outcome::RoomCreated),
                    (join("r1", "bob", Some(sock(1, "b1")), None), joined(true)),
                    (leave("r1", "bob"), Outcome::RoomLeft { removed: true }),
                    (leave("r1", "bob"), Outcome::RoomLeft { removed: false }),
                    (leave("r2", "bob"), Outcome::UnknownRoom),
                ]);
                steps
            },
            check: |s| {
                assert_eq!(participants(s, "r1"), ["alice"]);
                assert!(rooms_of(s, &sock(1, "b1")).is_empty());
                assert!(nodes_in_room(s, "r1").is_empty());
            },
        },
        Case {
            name: "leave drops the room from every socket of that user only",
            steps: {
                let mut steps = online("alice", sock(1, "a1"));
                steps.extend(online("bob", sock(2, "b1")));
                steps.extend([
                    (connect(sock(3, "b2"), "bob", "sid-bob"), Outcome::SocketConnected),
                    (create_room("r1", "alice"), Outcome::RoomCreated),
                    (create_room("r2", "alice"), Outcome::RoomCreated),
                    (join("r1", "alice", Some(sock(1, "a1")), None), joined(false)),
                    (join("r1", "bob", Some(sock(2, "b1")), None), joined(true)),
                    (join("r1", "bob", Some(sock(3, "b2")), None), joined(false)),
                    (join("r2", "bob", Some(sock(3, "b2")), None), joined(true)),
                    (leave("r1", "bob"), Outcome::RoomLeft { removed: true }),
                ]);
                steps
            },
            check: |s| {
                assert_eq!(participants(s, "r1"), ["alice"]);
                assert_eq!(participants(s, "r2"), ["alice", "bob"]);
                assert!(rooms_of(s, &sock(2, "b1")).is_empty());
                assert_eq!(rooms_of(s, &sock(3, "b2")), ["r2"]);
                assert_eq!(rooms_of(s, &sock(1, "a1")), ["r1"]);
                assert_eq!(nodes_in_room(s, "r1"), [1]);
                assert_eq!(nodes_in_room(s, "r2"), [3]);
            },
        },
    ]);
}

// ---- presence -------------------------------------------------------------------------------

#[test]
fn presence() {
    run_table(vec![
        Case {
            name: "socket refused without a current session",
            steps: vec![
                (connect(sock(1, "x"), "nobody", "s0"), Outcome::SocketRefused),
                (register("alice"), registered("alice")),
                (connect(sock(1, "a1"), "alice", "s1"), Outcome::SocketRefused),
                (login("alice", "s1"), opened(None)),
                (login("alice", "s2"), opened(Some(session("alice", "s1", T0)))),
                (connect(sock(1, "a1"), "alice", "s1"), Outcome::SocketRefused),
            ],
            check: |s| assert!(s.presence.is_empty()),
        },
        Case {
            name: "connect and join a room with the socket",
            steps: {
                let mut steps = online("alice", sock(1, "a1"));
                steps.extend([
                    (create_room("r1", "alice"), Outcome::RoomCreated),
                    (join("r1", "alice", Some(sock(1, "a1")), None), joined(false)),
                ]);
                steps
            },
            check: |s| {
                let info = s.presence.socket(&sock(1, "a1")).unwrap();
                assert_eq!((info.user_id.as_str(), info.session_id.as_str()), ("alice", "sid-alice"));
                assert_eq!(rooms_of(s, &sock(1, "a1")), ["r1"]);
                assert_eq!(nodes_in_room(s, "r1"), [1]);
                assert_eq!(sockets_of(s, "alice"), [sock(1, "a1")]);
            },
        },
        Case {
            name: "sockets on two nodes list both nodes",
            steps: {
                let mut steps = online("alice", sock(1, "a1"));
                steps.extend(online("bob", sock(2, "b1")));
                steps.extend([
                    (create_room("r1", "alice"), Outcome::RoomCreated),
                    (join("r1", "alice", Some(sock(1, "a1")), None), joined(false)),
                    (join("r1", "bob", Some(sock(2, "b1")), None), joined(true)),
                ]);
                steps
            },
            check: |s| assert_eq!(nodes_in_room(s, "r1"), [1, 2]),
        },
        Case {
            name: "a node stays indexed until its last socket in the room leaves",
            steps: {
                let mut steps = online("alice", sock(1, "a1"));
                steps.extend(online("bob", sock(1, "b1")));
                steps.extend([
                    (create_room("r1", "alice"), Outcome::RoomCreated),
                    (create_room("r2", "alice"), Outcome::RoomCreated),
                    (join("r1", "alice", Some(sock(1, "a1")), None), joined(false)),
                    (join("r2", "alice", Some(sock(1, "a1")), None), joined(false)),
                    (join("r1", "bob", Some(sock(1, "b1")), None), joined(true)),
                    (disconnect(sock(1, "a1")), left_rooms(&["r1", "r2"])),
                ]);
                steps
            },
            check: |s| {
                assert_eq!(nodes_in_room(s, "r1"), [1]);
                assert!(nodes_in_room(s, "r2").is_empty());
                assert!(sockets_of(s, "alice").is_empty());
                assert!(s.presence.socket(&sock(1, "a1")).is_none());
            },
        },
        Case {
            name: "disconnect returns the socket's rooms, then is unchanged",
            steps: {
                let mut steps = online("alice", sock(1, "a1"));
                steps.extend([
                    (create_room("r1", "alice"), Outcome::RoomCreated),
                    (join("r1", "alice", Some(sock(1, "a1")), None), joined(false)),
                    (disconnect(sock(1, "a1")), left_rooms(&["r1"])),
                    (disconnect(sock(1, "a1")), Outcome::Unchanged),
                ]);
                steps
            },
            check: |s| {
                assert!(s.presence.is_empty());
                assert!(nodes_in_room(s, "r1").is_empty());
                // Disconnecting is not leaving: the user stays a participant.
                assert_eq!(participants(s, "r1"), ["alice"]);
            },
        },
        Case {
            name: "join with another user's socket or an unknown socket only adds the participant",
            steps: {
                let mut steps = online("alice", sock(1, "a1"));
                steps.extend([
                    (register("bob"), registered("bob")),
                    (create_room("r1", "alice"), Outcome::RoomCreated),
                    (join("r1", "bob", Some(sock(1, "a1")), None), joined(true)),
                    (join("r1", "alice", Some(sock(2, "ghost")), None), joined(false)),
                ]);
                steps
            },
            check: |s| {
                assert_eq!(participants(s, "r1"), ["alice", "bob"]);
                assert!(rooms_of(s, &sock(1, "a1")).is_empty());
                assert!(s.presence.socket(&sock(2, "ghost")).is_none());
                assert!(nodes_in_room(s, "r1").is_empty());
            },
        },
        Case {
            name: "reconnect with the same session keeps rooms, with a new session starts afresh",
            steps: {
                let mut steps = online("alice", sock(1, "a1"));
                steps.extend([
                    (create_room("r1", "alice"), Outcome::RoomCreated),
                    (join("r1", "alice", Some(sock(1, "a1")), None), joined(false)),
                    (connect(sock(1, "a1"), "alice", "sid-alice"), Outcome::SocketConnected),
                    (connect(sock(1, "a2"), "alice", "sid-alice"), Outcome::SocketConnected),
                    (join("r1", "alice", Some(sock(1, "a2")), None), joined(false)),
                    (login("alice", "sid-2"), opened(Some(session("alice", "sid-alice", T0)))),
                    (connect(sock(1, "a1"), "alice", "sid-2"), Outcome::SocketConnected),
                ]);
                steps
            },
            check: |s| {
                assert!(rooms_of(s, &sock(1, "a1")).is_empty());
                assert_eq!(s.presence.socket(&sock(1, "a1")).unwrap().session_id, "sid-2");
                assert_eq!(rooms_of(s, &sock(1, "a2")), ["r1"]);
                assert_eq!(nodes_in_room(s, "r1"), [1]);
                assert_eq!(sockets_of(s, "alice"), [sock(1, "a1"), sock(1, "a2")]);
            },
        },
    ]);
}

#[test]
fn node_down_and_up() {
    let mut steps = online("alice", sock(1, "a1"));
    steps.extend(online("bob", sock(2, "b1")));
    steps.extend([
        (connect(sock(1, "b2"), "bob", "sid-bob"), Outcome::SocketConnected),
        (create_room("r1", "alice"), Outcome::RoomCreated),
        (join("r1", "alice", Some(sock(1, "a1")), None), joined(false)),
        (join("r1", "bob", Some(sock(2, "b1")), None), joined(true)),
        (join("r1", "bob", Some(sock(1, "b2")), None), joined(false)),
        (Command::NodeUp { node: 1 }, Outcome::Unchanged),
        (
            Command::NodeDown { node: 1 },
            Outcome::NodeMarkedDown { node: 1, sockets: vec![sock(1, "a1"), sock(1, "b2")] },
        ),
        (Command::NodeDown { node: 1 }, Outcome::Unchanged),
        (Command::NodeDown { node: 3 }, Outcome::NodeMarkedDown { node: 3, sockets: vec![] }),
    ]);
    let state = replay("node down", &steps);
    assert_eq!(state.down_nodes.iter().copied().collect::<Vec<_>>(), [1, 3]);
    assert_eq!(nodes_in_room(&state, "r1"), [2]);
    assert!(sockets_of(&state, "alice").is_empty());
    assert_eq!(sockets_of(&state, "bob"), [sock(2, "b1")]);
    assert_eq!(state.presence.sockets_on_node(1).count(), 0);
    // Presence goes, membership and sessions stay: clients reconnect elsewhere and re-join.
    assert_eq!(participants(&state, "r1"), ["alice", "bob"]);
    assert!(state.sessions.is_current("alice", "sid-alice"));

    steps.extend([
        (Command::NodeUp { node: 1 }, Outcome::NodeMarkedUp { node: 1 }),
        (Command::NodeUp { node: 1 }, Outcome::Unchanged),
    ]);
    let state = replay("node down then up", &steps);
    assert_eq!(state.down_nodes.iter().copied().collect::<Vec<_>>(), [3]);
    // Coming back up does not resurrect the dropped sockets.
    assert_eq!(state.presence.sockets_on_node(1).count(), 0);
}

// ---- dedup ----------------------------------------------------------------------------------

#[test]
fn a_retried_request_returns_its_first_outcome_and_changes_nothing() {
    let mut state = replay("dedup", &[(register("alice"), registered("alice"))]);
    let first = req("login-1", login("alice", "s1"));
    assert_eq!(state.apply(&first), opened(None));
    assert_eq!(state.apply(&req("login-2", login("alice", "s2"))), opened(Some(session("alice", "s1", T0))));

    let before = state.clone();
    // Retrying the first login must not replace s2 with s1 again.
    assert_eq!(state.apply(&first), opened(None));
    assert_eq!(state, before);
    assert!(state.sessions.is_current("alice", "s2"));

    // The id, not the payload, identifies the request.
    assert_eq!(state.apply(&req("login-1", login("alice", "s3"))), opened(None));
    assert_eq!(state, before);
}

#[test]
fn a_retried_registration_is_not_reported_as_email_taken() {
    let mut state = ClusterState::default();
    let register_alice = req("reg-1", register("alice"));
    assert_eq!(state.apply(&register_alice), registered("alice"));
    assert_eq!(state.apply(&register_alice), registered("alice"));
    assert_eq!(state.apply(&req("reg-2", register("alice"))), Outcome::EmailTaken);
    assert_eq!(state.users.len(), 1);
}

#[test]
fn dedup_forgets_the_oldest_request_beyond_capacity() {
    let mut state = ClusterState::default();
    let first = req("first", register("alice"));
    let second = req("second", Command::NodeDown { node: 9 });
    assert_eq!(state.apply(&first), registered("alice"));
    assert_eq!(state.apply(&second), Outcome::NodeMarkedDown { node: 9, sockets: vec![] });
    // Two remembered so far; DEDUP_CAPACITY - 1 more pushes exactly the first one out.
    for i in 0..DEDUP_CAPACITY - 1 {
        assert_eq!(state.apply(&req(&format!("filler-{i}"), Command::NodeUp { node: 1 })), Outcome::Unchanged);
    }
    assert_eq!(state.dedup.len(), DEDUP_CAPACITY);
    assert!(state.dedup.get(&first.id).is_none());
    assert_eq!(state.dedup.get(&second.id), Some(&Outcome::NodeMarkedDown { node: 9, sockets: vec![] }));

    // A remembered id is not executed again (node 9 is already down, a rerun would say Unchanged).
    assert_eq!(state.apply(&second), Outcome::NodeMarkedDown { node: 9, sockets: vec![] });
    assert_eq!(state.dedup.len(), DEDUP_CAPACITY);
    // A forgotten id is executed again, remembered anew, and pushes out the next oldest.
    assert_eq!(state.apply(&first), Outcome::EmailTaken);
    assert_eq!(state.dedup.get(&first.id), Some(&Outcome::EmailTaken));
    assert!(state.dedup.get(&second.id).is_none());
}

// ---- determinism and snapshots ----------------------------------------------------------------

/// A state with something in every part: users, rooms, sessions, sockets in rooms, a down node, dedup.
fn populated_script() -> Vec<(Command, Outcome)> {
    let mut steps = online("alice", sock(1, "a1"));
    steps.extend(online("bob", sock(2, "b1")));
    steps.extend(online("carol", sock(3, "c1")));
    steps.extend([
        (connect(sock(1, "b2"), "bob", "sid-bob"), Outcome::SocketConnected),
        (register_email("dave", "Dave@Example.com"), registered("dave")),
        (Command::SetRole { user_id: "alice".to_owned(), role: Role::Admin, by: None }, Outcome::UserUpdated),
        (Command::SetBanned { user_id: "dave".to_owned(), banned: true }, Outcome::UserUpdated),
        (create_room("r1", "alice"), Outcome::RoomCreated),
        (Command::CreateRoom { room: room("r2", "bob", Some("hash-2")) }, Outcome::RoomCreated),
        (join("r1", "alice", Some(sock(1, "a1")), None), joined(false)),
        (join("r1", "bob", Some(sock(2, "b1")), None), joined(true)),
        (join("r1", "bob", Some(sock(1, "b2")), None), joined(false)),
        (join("r2", "bob", Some(sock(1, "b2")), Some("hash-2")), joined(false)),
        (join("r2", "carol", Some(sock(3, "c1")), Some("hash-2")), joined(true)),
        (join("r2", "alice", None, Some("wrong")), Outcome::WrongRoomPassword),
        (
            Command::TouchSessions { touches: vec![touch("bob", "sid-bob", T0 + 99)] },
            Outcome::SessionsTouched { count: 1 },
        ),
        (Command::NodeDown { node: 3 }, Outcome::NodeMarkedDown { node: 3, sockets: vec![sock(3, "c1")] }),
        (login("carol", "sid-carol-2"), opened(Some(session("carol", "sid-carol", T0)))),
    ]);
    steps
}

#[test]
fn the_same_commands_give_the_same_state() {
    let a = replay("determinism", &populated_script());
    let b = replay("determinism", &populated_script());
    assert_eq!(a, b);
    // Serialized bytes are what snapshots ship; they must match too.
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
}

#[test]
fn snapshot_round_trip_keeps_state_and_derived_indexes() {
    let original = replay("snapshot", &populated_script());
    assert_eq!(original.users.len(), 4);
    assert_eq!(original.rooms.len(), 2);
    assert_eq!(original.presence.len(), 3);
    assert!(!original.dedup.is_empty());

    let json = serde_json::to_vec(&original).unwrap();
    let mut restored: ClusterState = serde_json::from_slice(&json).unwrap();
    assert_eq!(restored, original);

    // Derived indexes are rebuilt, not just compared empty-to-empty.
    assert_eq!(nodes_in_room(&restored, "r1"), [1, 2]);
    assert_eq!(nodes_in_room(&restored, "r2"), [1]);
    assert_eq!(sockets_of(&restored, "bob"), [sock(1, "b2"), sock(2, "b1")]);
    assert!(sockets_of(&restored, "carol").is_empty());
    assert_eq!(restored.users.by_email("Dave@Example.com").map(|u| u.id.as_str()), Some("dave"));
    assert_eq!(restored.users.by_email("alice@example.com").map(|u| u.role), Some(Role::Admin));
    assert!(restored.down_nodes.contains(&3));
    assert!(restored.sessions.is_current("carol", "sid-carol-2"));

    // The restored replica keeps going exactly like the original, retries included.
    let mut original = original;
    let retried = req("snapshot#1", login("alice", "other")); // alice's first login
    let next = [
        retried.clone(),
        req("after-1", disconnect(sock(1, "b2"))),
        req("after-2", register_email("eve", "dave@example.com")),
        req("after-3", register_email("eve2", "Dave@Example.com")),
    ];
    for r in &next {
        assert_eq!(restored.apply(r), original.apply(r), "{:?}", r.cmd);
    }
    assert_eq!(restored, original);
    assert_eq!(restored.apply(&retried), opened(None));
    assert!(nodes_in_room(&restored, "r2").is_empty());
}

// ---- known bugs -----------------------------------------------------------------------------

/// A login verified on a replica that had not yet applied a ban must not outlive the ban:
/// "ban ends the session" has to hold whatever the commit order (like the unique email rule,
/// it can only be enforced in apply).
#[test]
fn a_login_committed_after_a_ban_opens_no_session() {
    let mut state = replay(
        "login after ban",
        &[
            (register("alice"), registered("alice")),
            (Command::SetBanned { user_id: "alice".to_owned(), banned: true }, Outcome::UserUpdated),
        ],
    );
    assert_eq!(state.apply(&req("late-login", login("alice", "s1"))), Outcome::UserBanned);
    assert!(state.sessions.current("alice").is_none(), "a banned user holds a session");
}

/// `down_nodes` promises that a down node's sockets are gone from presence; the liveness loop
/// proposes `NodeDown` only for nodes not yet marked down, so a socket that slips in afterwards
/// stays (and keeps routing fan-out to a dead node) until the node answers again.
#[test]
fn a_socket_committed_after_node_down_does_not_linger() {
    let mut steps = online("alice", sock(1, "a1"));
    steps.extend([
        (create_room("r1", "alice"), Outcome::RoomCreated),
        (Command::NodeDown { node: 2 }, Outcome::NodeMarkedDown { node: 2, sockets: vec![] }),
    ]);
    let mut state = replay("socket after node down", &steps);
    // Forwarded by node 2 before it went silent, committed after NodeDown.
    state.apply(&req("late-connect", connect(sock(2, "a2"), "alice", "sid-alice")));
    state.apply(&req("late-join", join("r1", "alice", Some(sock(2, "a2")), None)));
    assert_eq!(state.apply(&req("again", Command::NodeDown { node: 2 })), Outcome::Unchanged);
    assert_eq!(state.presence.sockets_on_node(2).count(), 0, "a down node still hosts sockets");
    assert!(!nodes_in_room(&state, "r1").contains(&2), "fan-out still routes to a down node");
}

#[test]
fn dedup_is_bounded_by_bytes_and_survives_a_snapshot_round_trip() {
    let mut dedup = Dedup::default();
    // Outcomes of about 64 KiB each: the byte bound, not the count, evicts them.
    let big = |i: usize| Outcome::ReadsMarked { changed: vec![format!("{i}-{}", "x".repeat(65_536))] };
    let total = DEDUP_MAX_BYTES / 65_536 * 2;
    for i in 0..total {
        dedup.remember(crate::command::RequestId(format!("big-{i}")), big(i));
    }
    assert!(dedup.bytes() <= DEDUP_MAX_BYTES, "{} bytes remembered", dedup.bytes());
    assert!(dedup.len() < total / 2 + 1, "{} of {total} remembered", dedup.len());
    let newest = crate::command::RequestId(format!("big-{}", total - 1));
    assert_eq!(dedup.get(&newest), Some(&big(total - 1)), "the newest stays");
    assert!(dedup.get(&crate::command::RequestId("big-0".into())).is_none(), "the oldest went");
    // A snapshot carries the entries; loading them computes the same sizes.
    let restored: Dedup = serde_json::from_slice(&serde_json::to_vec(&dedup).unwrap()).unwrap();
    assert_eq!((restored.len(), restored.bytes()), (dedup.len(), dedup.bytes()));
}

// ---- restore --------------------------------------------------------------------------------

#[test]
fn a_restored_state_keeps_accounts_and_rooms_and_drops_sessions_and_presence() {
    let mut steps = online("alice", sock(2, "a"));
    steps.push((create_room("r1", "alice"), Outcome::RoomCreated));
    steps.push((register("bob"), registered("bob")));
    steps.push((join("r1", "bob", None, None), joined(true)));
    let mut state = replay("restore", &steps);
    state.down_nodes.insert(3);
    let users = state.users.clone();
    assert!(!sockets_of(&state, "alice").is_empty() && !state.sessions.is_empty() && !state.dedup.is_empty());

    state.prepare_restore(&[1, 2]);

    assert_eq!(state.users, users, "accounts, password hashes and roles are kept");
    assert_eq!(participants(&state, "r1"), vec!["alice", "bob"]);
    assert!(state.sessions.is_empty(), "every session is invalidated");
    assert!(state.sessions.current("alice").is_none());
    assert!(sockets_of(&state, "alice").is_empty(), "no socket of the old cluster exists");
    assert!(nodes_in_room(&state, "r1").is_empty());
    assert!(state.down_nodes.is_empty());
    assert!(state.dedup.is_empty(), "request ids of the old cluster's clients are forgotten");
}
