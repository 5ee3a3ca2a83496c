//! bcrypt for user and room passwords. Hashing is the dominant CPU cost of a login
//! storm (architecture §4), so it always runs on the blocking pool, never on the
//! async workers that carry sockets and Raft traffic, and at most `cores - 1` (at
//! least one) hashes run at once: the blocking pool alone (512 threads) would let a
//! storm take every core, and Raft heartbeats that miss their deadline turn a slow
//! login storm into elections and failed writes.

use std::sync::OnceLock;

use tokio::sync::Semaphore;

/// bcrypt reads at most this many bytes; longer passwords are refused rather than
/// silently truncated (protocol §2.5).
pub(crate) const MAX_PASSWORD_BYTES: usize = 72;

#[derive(Debug, thiserror::Error)]
pub(crate) enum PasswordError {
    /// The existing backend's (Spring's) own wording, kept for parity.
    #[error("password cannot be more than 72 bytes")]
    TooLong,
    #[error("bcrypt failed: {0}")]
    Failed(String),
}

pub(crate) fn is_too_long(password: &str) -> bool {
    password.len() > MAX_PASSWORD_BYTES
}

/// Runs `work` on the blocking pool once a hashing slot is free.
async fn bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Semaphore::new(cores.saturating_sub(1).max(1))
    });
    let _slot = slots.acquire().await.map_err(|e| PasswordError::Failed(e.to_string()))?;
    tokio::task::spawn_blocking(work).await.map_err(|e| PasswordError::Failed(e.to_string()))
}

/// Hash `password` with `cost` (4..=31, validated with the configuration).
pub(crate) async fn hash(password: String, cost: u32) -> Result<String, PasswordError> {
    if is_too_long(&password) {
        return Err(PasswordError::TooLong);
    }
    bounded(move || bcrypt::hash(password, cost)).await?.map_err(|e| PasswordError::Failed(e.to_string()))
}

/// Whether `password` matches `hash`. A password bcrypt could not have hashed whole
/// never matches.
pub(crate) async fn verify(password: String, hash: String) -> Result<bool, PasswordError> {
    if is_too_long(&password) {
        return Ok(false);
    }
    bounded(move || bcrypt::verify(password, &hash)).await?.map_err(|e| PasswordError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_long_passwords_are_refused() {
        let hashed = hash("pässword!".into(), 4).await.unwrap();
        assert!(hashed.starts_with("$2"));
        assert!(verify("pässword!".into(), hashed.clone()).await.unwrap());
        assert!(!verify("password!".into(), hashed.clone()).await.unwrap());
        // 72 bytes is the most bcrypt takes whole; 73 is refused, never truncated.
        assert!(hash("x".repeat(72), 4).await.is_ok());
        assert!(matches!(hash("x".repeat(73), 4).await, Err(PasswordError::TooLong)));
        assert!(!verify("x".repeat(73), hashed).await.unwrap());
        assert!(verify("a".into(), "not a hash".into()).await.is_err());
    }

    #[tokio::test]
    async fn hashes_of_other_costs_still_verify() {
        // The cost is part of each hash, so changing --bcrypt-cost only affects new
        // hashes. Fixtures made by another implementation (libxcrypt) at cost 10 (the
        // default) and 6, one as `$2y$` (PHP's and htpasswd's spelling).
        let cost_10 = "$2b$10$Zo4e4O8c4LF.k2ypbY6jT.Om2wSrrDh9LCF2Oxefbxqers/.l/8m.";
        let cost_6 = "$2b$06$vxnPN9UFSyaRIqUDPyCgWuASDo3gxt5OlbWxZaLHjNN0NHaDcKVJS";
        for stored in [cost_10.to_string(), cost_6.to_string(), cost_6.replacen("$2b$", "$2y$", 1)] {
            assert!(verify("secret-pw-1".into(), stored.clone()).await.unwrap(), "{stored}");
            assert!(!verify("secret-pw-2".into(), stored.clone()).await.unwrap(), "{stored}");
        }
        for cost in [4, 5] {
            let hashed = hash("secret-pw-1".into(), cost).await.unwrap();
            assert_eq!(&hashed[4..7], format!("{cost:02}$"), "{hashed}");
        }
    }
}
