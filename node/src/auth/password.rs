//! bcrypt for user and room passwords. Hashing is the dominant CPU cost of a login
//! storm (architecture §4), so it always runs on the blocking pool, never on the
//! async workers that carry sockets and Raft traffic, and at most `cores - 1` (at
//! least one) hashes run at once: the blocking pool alone (512 threads) would let a
//! storm take every core, and Raft heartbeats that miss their deadline turn a slow
//! login storm into elections and failed writes.
//!
//! Admission: a hash that would wait longer than [`MAX_WAIT`] for a slot (judged from
//! the queue ahead of it and the recent time per hash) is refused at once with
//! [`PasswordError::Busy`], which the REST layer answers 503 with `Retry-After`: a
//! burst beyond capacity gets a quick answer to retry instead of a request that
//! times out in the client.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// The longest a hash may expect to wait for a slot before it is refused: below the
/// 5 s that load clients and the web client wait for a login, so a request is either
/// answered in time or refused at once, while a ramp's 100 simultaneous sign-ups
/// (about 35 per node, 3 s of hashing at cost 10) still all go through.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(4);
/// The time per hash assumed before any was measured (cost 10 takes 50–100 ms here).
const FIRST_GUESS_US: u64 = 100_000;

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

/// The hashing slots, the queue in front of them and the recent time per hash.
struct Hashing {
    slots: Semaphore,
    slot_count: u64,
    /// Hashes admitted and not finished (running or waiting for a slot).
    admitted: AtomicUsize,
    /// Moving average of the time one hash took, in microseconds.
    per_hash_us: AtomicU64,
}

impl Hashing {
    fn new(slots: usize) -> Self {
        Self {
            slots: Semaphore::new(slots),
            slot_count: slots as u64,
            admitted: AtomicUsize::new(0),
            per_hash_us: AtomicU64::new(FIRST_GUESS_US),
        }
    }
}

/// The process's hashing: `cores - 1` slots, at least one.
fn hashing() -> &'static Hashing {
    static HASHING: OnceLock<Hashing> = OnceLock::new();
    HASHING.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Hashing::new(cores.saturating_sub(1).max(1))
    })
}

/// Gives an admitted hash's place in the queue back when dropped (also when the
/// request is cancelled while waiting).
struct Admitted(&'static Hashing);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a hash admitted behind `ahead` others waits for its slot, expected.
fn expected_wait(ahead: u64, per_hash_us: u64, slots: u64) -> Duration {
    Duration::from_micros(ahead.saturating_mul(per_hash_us) / slots.max(1))
}

/// Runs `work` on the blocking pool once a hashing slot is free, or refuses it at
/// once when the wait would exceed [`MAX_WAIT`].
async fn bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
    admit(hashing(), work).await
}

async fn admit<T: Send + 'static>(
    hashing: &'static Hashing,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let ahead = hashing.admitted.fetch_add(1, Ordering::Relaxed) as u64;
    let admitted = Admitted(hashing);
    let wait = expected_wait(ahead, hashing.per_hash_us.load(Ordering::Relaxed), hashing.slot_count);
    if wait > MAX_WAIT {
        drop(admitted);
        return Err(PasswordError::Busy { retry_after_secs: wait.as_secs().max(1) });
    }
    let _slot = hashing.slots.acquire().await.map_err(|e| PasswordError::Failed(e.to_string()))?;
    let began = Instant::now();
    let result = tokio::task::spawn_blocking(work).await.map_err(|e| PasswordError::Failed(e.to_string()));
    let took = began.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
    // An average over the last few hashes: follows a changed cost or a busier machine.
    let average = hashing.per_hash_us.load(Ordering::Relaxed);
    hashing.per_hash_us.store((average * 7 + took) / 8, Ordering::Relaxed);
    drop(admitted);
    result
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

    #[test]
    fn the_expected_wait_grows_with_the_queue_and_shrinks_with_slots() {
        assert_eq!(expected_wait(0, 80_000, 1), Duration::ZERO, "an empty queue waits for nothing");
        assert_eq!(expected_wait(10, 80_000, 1), Duration::from_millis(800));
        assert_eq!(expected_wait(10, 80_000, 2), Duration::from_millis(400));
        assert!(expected_wait(60, 80_000, 1) > MAX_WAIT, "60 hashes of 80 ms ahead are refused");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_beyond_capacity_is_refused_at_once_and_the_rest_completes() {
        // One slot, and the first guess of 100 ms per hash: a burst of 60 expects to
        // wait up to 6 s, so those beyond 4 s must be refused, at once.
        let hashing: &'static Hashing = Box::leak(Box::new(Hashing::new(1)));
        let results = futures::future::join_all((0..60).map(|_| async move {
            let started = Instant::now();
            let hashed = admit(hashing, || bcrypt::hash("password-1", 4)).await;
            (hashed.and_then(|h| h.map_err(|e| PasswordError::Failed(e.to_string()))), started.elapsed())
        }))
        .await;
        let busy: Vec<_> = results.iter().filter(|(r, _)| matches!(r, Err(PasswordError::Busy { .. }))).collect();
        let hashed = results.iter().filter(|(r, _)| r.is_ok()).count();
        assert!(!busy.is_empty(), "some of the burst is refused");
        assert!(hashed > 0, "the admitted part is hashed");
        assert_eq!(busy.len() + hashed, 60, "nothing else fails");
        for (result, took) in busy {
            let Err(PasswordError::Busy { retry_after_secs }) = result else { unreachable!() };
            assert!(*retry_after_secs >= 1);
            assert!(*took < Duration::from_millis(100), "refused at once, not after waiting ({took:?})");
        }
        assert_eq!(hashing.admitted.load(Ordering::Relaxed), 0, "every place in the queue is given back");
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
