//! bcrypt for user and room passwords, hashed and checked on the hashing pool
//! (`hashing.rs`: threads of their own at a lower priority, with admission control).

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
    /// Too many hashes queued: retry after this many seconds.
    #[error("password hashing is saturated; retry in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
}

pub(crate) fn is_too_long(password: &str) -> bool {
    password.len() > MAX_PASSWORD_BYTES
}

async fn bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
    super::hashing::global().run(work).await
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

/// A hash, at `cost`, of a password no account has. A login for an unknown email is
/// checked against it, so it costs the same bcrypt work as a wrong password and its
/// answer time does not tell which emails are registered (issue 12). Made once per
/// process, on the first such login.
pub(crate) async fn unknown_account_hash(cost: u32) -> Result<String, PasswordError> {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_try_init(|| hash("no account has this password".to_owned(), cost)).await.cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::{Duration, Instant};

    use super::super::hashing::{expected_wait, Hashing, MAX_WAIT};

    #[test]
    fn the_expected_wait_grows_with_the_queue_and_shrinks_with_slots() {
        assert_eq!(expected_wait(0, 80_000, 1), Duration::ZERO, "an empty queue waits for nothing");
        assert_eq!(expected_wait(10, 80_000, 1), Duration::from_millis(800));
        assert_eq!(expected_wait(10, 80_000, 2), Duration::from_millis(400));
        assert!(expected_wait(120, 80_000, 1) > MAX_WAIT, "120 hashes of 80 ms ahead are refused");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_beyond_capacity_is_refused_at_once_and_the_rest_completes() {
        // One slot, and the first guess of 100 ms per hash: a burst of 120 expects to
        // wait up to 12 s, so those beyond 8 s must be refused, at once.
        let hashing: &'static Hashing = Box::leak(Box::new(Hashing::new(1)));
        let results = futures::future::join_all((0..120).map(|_| async move {
            let started = Instant::now();
            let hashed = hashing.run(|| bcrypt::hash("password-1", 4)).await;
            (hashed.and_then(|h| h.map_err(|e| PasswordError::Failed(e.to_string()))), started.elapsed())
        }))
        .await;
        let busy: Vec<_> = results.iter().filter(|(r, _)| matches!(r, Err(PasswordError::Busy { .. }))).collect();
        let hashed = results.iter().filter(|(r, _)| r.is_ok()).count();
        assert!(!busy.is_empty(), "some of the burst is refused");
        assert!(hashed > 0, "the admitted part is hashed");
        assert_eq!(busy.len() + hashed, 120, "nothing else fails");
        for (result, took) in busy {
            let Err(PasswordError::Busy { retry_after_secs }) = result else { unreachable!() };
            assert!(*retry_after_secs >= 1);
            assert!(*took < Duration::from_millis(100), "refused at once, not after waiting ({took:?})");
        }
        assert_eq!(hashing.admitted(), 0, "every place in the queue is given back");
    }

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
