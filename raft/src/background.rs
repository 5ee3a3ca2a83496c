//! Background work that must not take a core from consensus: it runs on a thread of its
//! own at a lower scheduling priority.
//!
//! On a busy machine the kernel then gives Raft, the cluster listener and the sockets
//! most of a contended core, and the background work still uses every idle cycle.
//! Measured on the 3,000-user ramp (README "Build 8"): every node built its snapshot at
//! the same log index, and the three exports at normal priority kept a follower from
//! answering heartbeats long enough to start an election (term 1 → 4 in one run).

use std::io;

use tokio::sync::oneshot;

/// Nice value of background work: snapshot building, log purges (0 is normal, 19 the
/// lowest).
pub const BACKGROUND_NICE: i32 = 10;

/// Lower the calling thread's priority to `nice` (Linux: per thread).
#[allow(unsafe_code)]
pub fn lower_priority(nice: i32) -> io::Result<()> {
    // SAFETY: gettid has no preconditions; setpriority with PRIO_PROCESS and a thread id
    // changes only that thread's nice value on Linux, and touches no memory of ours.
    let result = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice)
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Start `work` on a new thread named `name` at `nice`, without waiting for it.
pub fn spawn_at_priority(name: &str, nice: i32, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        if let Err(e) = lower_priority(nice) {
            tracing::warn!(error = %e, "cannot lower a background thread's priority");
        }
        work();
    })?;
    Ok(())
}

/// Run `work` on a new thread named `name` at `nice` and wait for its result.
pub async fn run_at_priority<T: Send + 'static>(
    name: &str,
    nice: i32,
    work: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let (done, result) = oneshot::channel();
    spawn_at_priority(name, nice, move || {
        let _ = done.send(work());
    })?;
    result.await.map_err(|_| io::Error::other("a background thread stopped before it finished"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[allow(unsafe_code)]
    async fn work_runs_on_a_thread_of_lower_priority() {
        let nice = run_at_priority("test-nice", BACKGROUND_NICE, || {
            // SAFETY: as above; getpriority only reads the thread's nice value.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::syscall(libc::SYS_gettid) as libc::id_t) }
        })
        .await
        .expect("thread ran");
        // Raising the nice value needs no privilege; an already nicer parent stays nicer.
        assert!(nice >= BACKGROUND_NICE, "nice {nice}");
        let name = run_at_priority("test-name", 0, || std::thread::current().name().map(str::to_owned))
            .await
            .expect("thread ran");
        assert_eq!(name.as_deref(), Some("test-name"));
    }
}
