//! Table tests of the file commands of `ClusterState::apply`: recording, attaching to
//! rooms, deleting, and how they meet users, rooms, retries and snapshots.

use super::{ClusterState, FileRecord, Role, Room, User};
use crate::command::{Command, Millis, Outcome, Request, RequestId};

const T0: Millis = 1_700_000_000_000;

/// Commands applied in order to a fresh state, each with the outcome it must commit.
fn replay(name: &str, steps: &[(Command, Outcome)]) -> ClusterState {
    let mut state = ClusterState::default();
    for (i, (cmd, want)) in steps.iter().enumerate() {
        let got = state.apply(&Request { id: RequestId(format!("{name}#{i}")), cmd: cmd.clone() });
        assert_eq!(&got, want, "case `{name}`, step {i}: {cmd:?}");
    }
    state
}

fn register(id: &str) -> (Command, Outcome) {
    let user = User {
        id: id.to_owned(),
        email: format!("{id}@example.com"),
        name: id.to_owned(),
        password_hash: "$2b$10$hash".to_owned(),
        profile_image: String::new(),
        role: Role::User,
        ban: None,
        mute: None,
        created_at: T0,
        updated_at: T0,
    };
    (Command::RegisterUser { user }, Outcome::UserRegistered { user_id: id.to_owned() })
}

fn create_room(id: &str, creator: &str) -> (Command, Outcome) {
    let room = Room {
        id: id.to_owned(),
        name: id.to_owned(),
        password_hash: None,
        creator: creator.to_owned(),
        created_at: T0,
        participants: Vec::new(),
    };
    (Command::CreateRoom { room }, Outcome::RoomCreated)
}

fn file(id: &str, filename: &str, user: &str) -> FileRecord {
    FileRecord {
        id: id.to_owned(),
        filename: filename.to_owned(),
        originalname: "사진.jpg".to_owned(),
        mimetype: "image/jpeg".to_owned(),
        size: 12_345,
        user: user.to_owned(),
        upload_date: T0,
        holders: vec![1, 2],
        rooms: Vec::new(),
    }
}

fn record(id: &str, filename: &str, user: &str) -> Command {
    Command::RecordFile { file: file(id, filename, user), quota: None }
}

/// A `size`-byte upload recorded against a quota of `quota` bytes.
fn record_within(id: &str, user: &str, size: u64, quota: u64) -> Command {
    let filename = format!("1700000000000_{id:0>16}.jpg");
    Command::RecordFile { file: FileRecord { size, ..file(id, &filename, user) }, quota: Some(quota) }
}

fn attach(file_id: &str, room_id: &str) -> Command {
    Command::AttachFile { file_id: file_id.to_owned(), room_id: room_id.to_owned() }
}

fn expire(file_id: &str, uploaded_before: Millis) -> Command {
    Command::ExpireFile { file_id: file_id.to_owned(), uploaded_before }
}

fn delete(file_id: &str, user_id: &str) -> Command {
    Command::DeleteFile { file_id: file_id.to_owned(), user_id: user_id.to_owned() }
}

const NAME: &str = "1700000000000_0123456789abcdef.jpg";

#[test]
fn recording_needs_a_known_uploader_and_a_new_id_and_name() {
    let state = replay(
        "record",
        &[
            (record("f1", NAME, "alice"), Outcome::UnknownUser),
            register("alice"),
            (record("f1", NAME, "alice"), Outcome::FileRecorded),
            (record("f1", "1700000000001_0123456789abcdef.jpg", "alice"), Outcome::FileExists),
            (record("f2", NAME, "alice"), Outcome::FileExists),
            (record("f3", "profiles/1700000000002_0123456789abcdef.png", "alice"), Outcome::FileRecorded),
        ],
    );
    assert_eq!(state.files.len(), 2);
    assert_eq!(state.files.by_filename(NAME).map(|f| f.id.as_str()), Some("f1"));
    assert_eq!(state.files.get("f1"), Some(&file("f1", NAME, "alice")));
    assert!(state.files.get("f3").is_some_and(FileRecord::is_profile_image));
    assert!(!state.files.get("f1").unwrap().is_profile_image());
}

#[test]
fn attaching_grants_rooms_once_and_needs_both_to_exist() {
    let state = replay(
        "attach",
        &[
            register("alice"),
            create_room("r1", "alice"),
            create_room("r2", "alice"),
            (attach("f1", "r1"), Outcome::UnknownFile),
            (record("f1", NAME, "alice"), Outcome::FileRecorded),
            (attach("f1", "nope"), Outcome::UnknownRoom),
            (attach("f1", "r1"), Outcome::FileAttached { added: true }),
            (attach("f1", "r2"), Outcome::FileAttached { added: true }),
            (attach("f1", "r1"), Outcome::FileAttached { added: false }),
        ],
    );
    assert_eq!(state.files.get("f1").unwrap().rooms, vec!["r1", "r2"]);
}

#[test]
fn only_the_uploader_deletes_and_the_name_is_free_again() {
    let state = replay(
        "delete",
        &[
            register("alice"),
            register("bob"),
            (record("f1", NAME, "alice"), Outcome::FileRecorded),
            (delete("f1", "bob"), Outcome::NotFileOwner),
            (delete("nope", "alice"), Outcome::UnknownFile),
            (delete("f1", "alice"), Outcome::FileDeleted { filename: NAME.to_owned(), holders: vec![1, 2] }),
            (delete("f1", "alice"), Outcome::UnknownFile),
            (record("f2", NAME, "bob"), Outcome::FileRecorded),
        ],
    );
    assert!(state.files.get("f1").is_none());
    assert_eq!(state.files.by_filename(NAME).map(|f| f.user.as_str()), Some("bob"));
}

#[test]
fn a_retried_record_returns_its_first_outcome() {
    let mut state = replay("retry", &[register("alice")]);
    let request = Request { id: RequestId("upload-1".into()), cmd: record("f1", NAME, "alice") };
    assert_eq!(state.apply(&request), Outcome::FileRecorded);
    assert_eq!(state.apply(&request), Outcome::FileRecorded, "a retry is not a conflict");
    assert_eq!(state.files.len(), 1);
}

#[test]
fn snapshots_keep_files_and_rebuild_the_name_index() {
    let state = replay(
        "snapshot",
        &[
            register("alice"),
            create_room("r1", "alice"),
            (record("f1", NAME, "alice"), Outcome::FileRecorded),
            (attach("f1", "r1"), Outcome::FileAttached { added: true }),
        ],
    );
    let json = serde_json::to_string(&state).unwrap();
    let back: ClusterState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    assert_eq!(back.files.by_filename(NAME).map(|f| f.rooms.clone()), Some(vec!["r1".to_owned()]));

    // A snapshot written before files existed loads with no files.
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    old.as_object_mut().unwrap().remove("files");
    let back: ClusterState = serde_json::from_value(old).unwrap();
    assert!(back.files.is_empty());
}

#[test]
fn a_restore_records_every_new_node_as_a_holder() {
    let mut state = replay("restore", &[register("alice"), (record("f1", NAME, "alice"), Outcome::FileRecorded)]);
    state.prepare_restore(&[1, 2, 3]);
    let restored = state.files.get("f1").expect("file metadata is kept");
    assert_eq!(restored.holders, vec![1, 2, 3]);
    assert_eq!(restored.filename, NAME);
}

#[test]
fn the_upload_quota_counts_recorded_bytes_per_uploader() {
    let state = replay(
        "quota",
        &[
            register("alice"),
            register("bob"),
            (record_within("a1", "alice", 600, 1_000), Outcome::FileRecorded),
            (record_within("a2", "alice", 401, 1_000), Outcome::UploadQuotaExceeded { used: 600 }),
            (record_within("b1", "bob", 1_000, 1_000), Outcome::FileRecorded),
            (record_within("a3", "alice", 400, 1_000), Outcome::FileRecorded),
            (record_within("a4", "alice", 1, 1_000), Outcome::UploadQuotaExceeded { used: 1_000 }),
            (
                delete("a1", "alice"),
                Outcome::FileDeleted { filename: format!("1700000000000_{:0>16}.jpg", "a1"), holders: vec![1, 2] },
            ),
            (record_within("a4", "alice", 600, 1_000), Outcome::FileRecorded),
        ],
    );
    assert_eq!(
        (state.files.used_by("alice"), state.files.used_by("bob"), state.files.used_by("carol")),
        (1_000, 1_000, 0)
    );
    assert!(state.files.get("a2").is_none(), "a refused file is not recorded");
    // The usage is rebuilt from the records after a snapshot.
    let json = serde_json::to_string(&state.files).unwrap();
    let back: super::Files = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state.files);
    assert_eq!(back.used_by("alice"), 1_000);
}

/// Only a chat upload that no message references and that is older than the cutoff
/// expires; an attach committed first keeps it, an attach after it finds no file.
#[test]
fn only_unattached_old_chat_uploads_expire() {
    const PROFILE: &str = "profiles/1700000000002_0123456789abcdef.png";
    let deleted = |name: &str| Outcome::FileDeleted { filename: name.to_owned(), holders: vec![1, 2] };
    let state = replay(
        "expire",
        &[
            register("alice"),
            create_room("r1", "alice"),
            (record("old", NAME, "alice"), Outcome::FileRecorded),
            (record("kept", "1700000000001_0123456789abcdef.jpg", "alice"), Outcome::FileRecorded),
            (record("face", PROFILE, "alice"), Outcome::FileRecorded),
            (expire("nope", T0 + 1), Outcome::UnknownFile),
            // Uploaded at T0: not before a cutoff of T0.
            (expire("old", T0), Outcome::Unchanged),
            (attach("kept", "r1"), Outcome::FileAttached { added: true }),
            (expire("kept", T0 + 1), Outcome::Unchanged),
            (expire("face", T0 + 1), Outcome::Unchanged),
            (expire("old", T0 + 1), deleted(NAME)),
            (attach("old", "r1"), Outcome::UnknownFile),
            (expire("old", T0 + 1), Outcome::UnknownFile),
        ],
    );
    assert!(state.files.get("old").is_none() && state.files.by_filename(NAME).is_none());
    assert!(state.files.get("kept").is_some() && state.files.get("face").is_some());
    assert_eq!(state.files.used_by("alice"), 2 * 12_345, "the expired file's bytes are free again");
}
