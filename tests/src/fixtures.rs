//! Commands with realistic values, for tests that need many distinct writes.

use chat_raft::state::{Session, User};
use chat_raft::Command;

/// A random 24-hex id in MongoDB ObjectId style.
pub fn object_id() -> String {
    format!("{:024x}", rand::random::<u128>() & ((1u128 << 96) - 1))
}

/// Register a user with this email (lowercase) and a dummy bcrypt-shaped hash.
pub fn register(email: &str) -> (String, Command) {
    let id = object_id();
    let user = User {
        id: id.clone(),
        email: email.to_owned(),
        name: format!("user {email}"),
        password_hash: "$2b$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234".into(),
        profile_image: String::new(),
        role: Default::default(),
        ban: None,
        mute: None,
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_000,
    };
    (id, Command::RegisterUser { user })
}

/// Open a new session for `user_id`; returns its id with the command.
pub fn login(user_id: &str) -> (String, Command) {
    let session_id = format!("{:032x}", rand::random::<u128>());
    let session = Session {
        user_id: user_id.to_owned(),
        session_id: session_id.clone(),
        created_at: 1_700_000_000_000,
        last_activity: 1_700_000_000_000,
        user_agent: "chat-tests".into(),
        ip_address: "127.0.0.1".into(),
    };
    (session_id, Command::OpenSession { session })
}
