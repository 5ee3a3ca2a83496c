//! The password-hashing pool: a few threads of their own, at a lower scheduling
//! priority, with admission control in front.
//!
//! bcrypt is the dominant CPU cost of a login storm (architecture §4). On its own
//! threads it never occupies the async workers that carry sockets, and at most
//! `cores - 1` (at least one) hashes run at once. The threads run at nice
//! [`HASH_NICE`]: when chat traffic and hashing compete for a core, the kernel gives
//! the chat side most of it, and hashing still uses every idle cycle. Measured on the
//! 3,000-user ramp (README "Performance"): at normal priority a step's 100 sign-ups
//! took the cores from message delivery for seconds at a time.
//!
//! Admission: a hash that would wait longer than [`MAX_WAIT`] (judged from the hashes
//! ahead of it and the recent time per hash) is refused at once with
//! [`PasswordError::Busy`], which the REST layer answers 503 with `Retry-After`: a
//! burst beyond capacity gets a quick answer to retry instead of a request that times
//! out in the client.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::password::PasswordError;

/// The longest a hash may expect to wait before it is refused. A ramp's 100
/// simultaneous sign-ups put about 35 hashes on each node; at cost 10 on a busy
/// 2-core machine that is several seconds of hashing, and every one of them must go
/// through (load clients wait 15 s). Beyond this bound a client would wait longer
/// than any login form does, so it gets an immediate 503 to retry instead.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(8);
/// The time per hash assumed before any was measured (cost 10 takes 50–100 ms here).
const FIRST_GUESS_US: u64 = 100_000;
/// The hashing threads' nice value (0 is normal; 19 the lowest priority).
const HASH_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads, the queue in front of them and the recent time per hash.
pub(crate) struct Hashing {
    jobs: Mutex<mpsc::Sender<Job>>,
    slot_count: u64,
    /// Hashes admitted and not finished (running or queued).
    admitted: AtomicUsize,
    /// Moving average of the time one hash took on its thread, in microseconds.
    per_hash_us: AtomicU64,
    /// Hashes and checks finished since start (`chat_password_hashes_total`).
    completed: AtomicU64,
}

impl Hashing {
    /// Start `slots` hashing threads.
    pub(crate) fn new(slots: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..slots.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("bcrypt-{i}")).spawn(move || {
                lower_priority();
                loop {
                    // The lock is held only while taking a job, never while hashing.
                    let job = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        Self {
            jobs: Mutex::new(tx),
            slot_count: slots.max(1) as u64,
            admitted: AtomicUsize::new(0),
            per_hash_us: AtomicU64::new(FIRST_GUESS_US),
            completed: AtomicU64::new(0),
        }
    }

    /// Run `work` on a hashing thread, or refuse it at once when it would wait longer
    /// than [`MAX_WAIT`].
    pub(crate) async fn run<T: Send + 'static>(
        &'static self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let ahead = self.admitted.fetch_add(1, Ordering::Relaxed) as u64;
        let admitted = Admitted(self);
        let wait = expected_wait(ahead, self.per_hash_us.load(Ordering::Relaxed), self.slot_count);
        if wait > MAX_WAIT {
            return Err(PasswordError::Busy { retry_after_secs: wait.as_secs().max(1) });
        }
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let began = Instant::now();
            let output = work();
            self.observe(began.elapsed());
            // The place in the queue is given back when the hash is done, even if the
            // request that asked for it was cancelled meanwhile.
            drop(admitted);
            let _ = done.send(output);
        });
        let sent = self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).send(job);
        sent.map_err(|_| PasswordError::Failed("the hashing threads are gone".into()))?;
        result.await.map_err(|_| PasswordError::Failed("a hashing thread dropped its job".into()))
    }

    /// An average over the last few hashes: follows a changed cost or a busier machine.
    fn observe(&self, took: Duration) {
        let took = took.as_micros().min(u128::from(u64::MAX)) as u64;
        let average = self.per_hash_us.load(Ordering::Relaxed);
        self.per_hash_us.store((average * 7 + took) / 8, Ordering::Relaxed);
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    /// Hashes and checks finished since start.
    pub(crate) fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Relaxed)
    }
}

/// The process's hashing pool: `cores - 1` threads, at least one.
pub(crate) fn global() -> &'static Hashing {
    static HASHING: OnceLock<Hashing> = OnceLock::new();
    HASHING.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Hashing::new(cores.saturating_sub(1).max(1))
    })
}

/// Gives an admitted hash's place in the queue back when dropped.
struct Admitted(&'static Hashing);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a hash admitted behind `ahead` others waits for its thread, expected.
pub(crate) fn expected_wait(ahead: u64, per_hash_us: u64, slots: u64) -> Duration {
    Duration::from_micros(ahead.saturating_mul(per_hash_us) / slots.max(1))
}

/// Lower the calling thread's scheduling priority to [`HASH_NICE`]. A failure only
/// costs latency elsewhere, so it is logged, not fatal.
fn lower_priority() {
    if let Err(e) = chat_raft::background::lower_priority(HASH_NICE) {
        tracing::warn!(error = %e, "cannot lower the hashing thread's priority");
    }
}
