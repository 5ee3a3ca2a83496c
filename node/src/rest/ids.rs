//! Ids handed to clients: 24-hex ObjectId-style ids for users and rooms (4 bytes of
//! creation seconds, then 8 random bytes, so they sort roughly by creation like
//! MongoDB's), and 32-hex session ids (a UUIDv4 without dashes; protocol §0).

use chat_raft::command::Millis;

/// A new 24-lowercase-hex id created at `now` (ms since the epoch).
pub(crate) fn object_id(now: Millis) -> String {
    // Seconds fit 4 bytes until 2106, as in MongoDB.
    format!("{:08x}{:016x}", (now / 1000) as u32, rand::random::<u64>())
}

/// A new session id: a random UUIDv4 as 32 lowercase hex characters.
pub(crate) fn session_id() -> String {
    let mut bits = rand::random::<u128>();
    bits = (bits & !(0xf << 76)) | (0x4 << 76); // version 4
    bits = (bits & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    format!("{bits:032x}")
}

/// Whether `id` has the 24-lowercase-hex shape of our ids.
pub(crate) fn is_object_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_24_hex_and_start_with_the_seconds() {
        let id = object_id(1_700_000_000_123);
        assert!(is_object_id(&id), "{id}");
        assert_eq!(&id[..8], format!("{:08x}", 1_700_000_000u32));
        assert_ne!(object_id(1_700_000_000_123), id);
        assert!(!is_object_id("665F1C2A9B1E8A3F4C2D1E0F"));
        assert!(!is_object_id("665f1c2a9b1e8a3f4c2d1e0"));
        assert!(!is_object_id("665f1c2a9b1e8a3f4c2d1e0g"));
    }

    #[test]
    fn session_ids_are_uuid_v4_without_dashes() {
        for _ in 0..100 {
            let id = session_id();
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
            assert_eq!(&id[12..13], "4", "version nibble of {id}");
            assert!(matches!(&id[16..17], "8" | "9" | "a" | "b"), "variant of {id}");
        }
    }
}
