//! `chat-node` processes of a local cluster: finding the binary, starting a node in
//! its own process group with output appended to its log, and stopping a node by the
//! pid recorded in `cluster.json`.
//!
//! Every node runs in its own process group so that a Ctrl-C in the terminal reaches
//! only chatctl, which then stops the nodes itself: SIGTERM, a grace period, SIGKILL.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;

use super::layout::{ClusterLayout, NodeEntry};
use crate::Error;

/// File name of the node executable.
pub const NODE_BINARY: &str = "chat-node";
/// How long a node gets to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long to wait for the kernel to take a SIGKILLed process away.
const KILL_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// Find `chat-node`: `explicit` if given, else next to the running executable (for a
/// test binary in `target/*/deps`, also one directory up), else on `PATH`.
pub fn find_node_binary(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return if is_executable(path) {
            Ok(path.to_path_buf())
        } else {
            Err(Error::NodeBinaryNotFound { searched: format!("{} (--node-bin)", path.display()) })
        };
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) {
        if dir.ends_with("deps") {
            candidates.extend(dir.parent().map(|up| up.join(NODE_BINARY)));
        }
        candidates.insert(0, dir.join(NODE_BINARY));
    }
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    candidates.extend(path_dirs.iter().map(|d| d.join(NODE_BINARY)));
    if let Some(found) = candidates.iter().find(|c| is_executable(c)) {
        return Ok(found.clone());
    }
    let next_to_exe: Vec<String> =
        candidates.iter().take(candidates.len() - path_dirs.len()).map(|c| c.display().to_string()).collect();
    Err(Error::NodeBinaryNotFound { searched: format!("{} and on PATH", next_to_exe.join(", ")) })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The command that runs `node` of `layout`: identity and addresses as flags (so they
/// show in `ps`), secrets in the environment, chatctl's own environment passed on.
/// The node gets its own process group, no stdin, and appends to its `node.log`.
pub fn node_command(binary: &Path, layout: &ClusterLayout, node: &NodeEntry) -> Result<std::process::Command, Error> {
    std::fs::create_dir_all(&node.data_dir).map_err(Error::io(&node.data_dir))?;
    let log_path = node.log_path();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(Error::io(&log_path))?;
    let log_err = log.try_clone().map_err(Error::io(&log_path))?;

    let mut cmd = std::process::Command::new(binary);
    cmd.arg("--id")
        .arg(node.id.to_string())
        .arg("--role")
        .arg(node.role.as_flag())
        .arg("--public-addr")
        .arg(&node.public)
        .arg("--cluster-addr")
        .arg(&node.cluster)
        .arg("--data-dir")
        .arg(&node.data_dir)
        .env("CHAT_CLUSTER_SECRET", &layout.secret)
        .env("CHAT_JWT_SECRET", &layout.jwt_secret)
        .env("CHAT_TRUSTED_PROXY_HOPS", layout.trusted_proxy_hops.to_string())
        .envs(shared_core_threads(layout.nodes.len(), cores(), |name| std::env::var_os(name).is_some()))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0);
    Ok(cmd)
}

/// The machine's cores as the kernel lets this process use them.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Thread settings for `nodes` nodes sharing `cores` cores. A node alone on a machine
/// runs a worker per core and two consensus threads; when the local cluster has at
/// least as many nodes as the machine has cores, each runs one of each instead. Every
/// idle worker of a tokio runtime is woken for new work, and with three nodes on two
/// cores those wake-ups cost more CPU than the parallelism gave back (README
/// "Performance"). A setting in chatctl's own environment (`is_set`) wins.
fn shared_core_threads(nodes: usize, cores: usize, is_set: impl Fn(&str) -> bool) -> Vec<(&'static str, &'static str)> {
    if nodes < cores {
        return Vec::new();
    }
    ["CHAT_WORKER_THREADS", "CHAT_CONSENSUS_THREADS"]
        .into_iter()
        .filter(|name| !is_set(name))
        .map(|name| (name, "1"))
        .collect()
}

/// Start `node` as a child that the caller owns and awaits (reaps) with tokio.
pub fn spawn_child(binary: &Path, layout: &ClusterLayout, node: &NodeEntry) -> Result<tokio::process::Child, Error> {
    let mut cmd = tokio::process::Command::from(node_command(binary, layout, node)?);
    cmd.spawn().map_err(|source| spawn_error(binary, node, source))
}

/// Start `node` detached: it outlives chatctl (its parent becomes init on exit).
pub fn spawn_detached(binary: &Path, layout: &ClusterLayout, node: &NodeEntry) -> Result<std::process::Child, Error> {
    node_command(binary, layout, node)?.spawn().map_err(|source| spawn_error(binary, node, source))
}

fn spawn_error(binary: &Path, node: &NodeEntry, source: std::io::Error) -> Error {
    Error::Process { what: format!("starting node {} ({})", node.id, binary.display()), source }
}

/// The pid of `node`'s process if it is running now. A recorded pid that is gone, a
/// zombie, or was reused by a process that is not this node counts as not running.
pub fn running_pid(node: &NodeEntry) -> Option<u32> {
    let pid = node.pid?;
    (is_alive(pid) && runs_node(pid, node)).then_some(pid)
}

/// Whether `pid` exists and has not finished exiting. A zombie whose threads are all
/// gone has exited; a zombie main thread whose other threads still run has not: the
/// process keeps its open files, and with them the store's lock, until the last
/// thread is gone (a node restarted in that moment failed with `could not acquire
/// lock`).
pub fn is_alive(pid: u32) -> bool {
    match kill(nix_pid(pid), None) {
        Ok(()) | Err(Errno::EPERM) => !(is_zombie(pid) && threads(pid).is_none_or(|n| n <= 1)),
        Err(_) => false,
    }
}

/// The threads of `pid` not yet released (`Threads:` in `/proc/<pid>/status`).
fn threads(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse().ok())
}

fn nix_pid(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}

/// On Linux a process that exited but was not yet reaped shows state `Z`.
fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The command name (field 2) may contain spaces and parentheses; the state follows the last ')'.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("Z")
}

/// Whether `pid` runs this node: its command line names the node's data directory.
/// Where `/proc` is not available, or the command line is empty (a process caught in
/// the middle of `exec`), the recorded pid is trusted.
fn runs_node(pid: u32, node: &NodeEntry) -> bool {
    let cmdline = match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) if !cmdline.is_empty() => cmdline,
        _ => return true,
    };
    let data_dir = node.data_dir.as_os_str().as_encoded_bytes();
    cmdline.split(|b| *b == 0).any(|arg| arg == data_dir)
}

/// How a node was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was not running.
    NotRunning,
    /// It exited after SIGTERM within the grace period.
    Exited,
    /// It was killed with SIGKILL (asked for, or the grace period ran out).
    Killed,
}

/// Stop `node`: SIGTERM and up to `grace` to exit, then SIGKILL. With `grace` zero
/// it is SIGKILLed at once. Returns once the process is gone.
pub async fn stop(node: &NodeEntry, grace: Duration) -> Result<Stopped, Error> {
    match running_pid(node) {
        Some(pid) => stop_pid(node, pid, grace).await,
        None => Ok(Stopped::NotRunning),
    }
}

/// [`stop`] for a `pid` known to be `node`'s process (a child not yet reaped, whose
/// pid cannot have been reused), without the command-line check.
pub async fn stop_pid(node: &NodeEntry, pid: u32, grace: Duration) -> Result<Stopped, Error> {
    if !is_alive(pid) {
        return Ok(Stopped::NotRunning);
    }
    if !grace.is_zero() {
        signal(node, pid, Signal::SIGTERM)?;
        if wait_gone(pid, grace).await {
            return Ok(Stopped::Exited);
        }
        tracing::warn!(node = node.id, pid, grace_s = grace.as_secs(), "node did not exit after SIGTERM; killing it");
    }
    signal(node, pid, Signal::SIGKILL)?;
    if wait_gone(pid, KILL_WAIT).await {
        Ok(Stopped::Killed)
    } else {
        Err(Error::Timeout { what: format!("node {} (pid {pid}) to die after SIGKILL", node.id), after: KILL_WAIT })
    }
}

/// SIGKILL `pid`, `node`'s process, without waiting for it to go.
pub fn kill_pid_now(node: &NodeEntry, pid: u32) -> Result<(), Error> {
    signal(node, pid, Signal::SIGKILL)
}

fn signal(node: &NodeEntry, pid: u32, sig: Signal) -> Result<(), Error> {
    match kill(nix_pid(pid), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(errno) => Err(Error::Process {
            what: format!("sending {sig} to node {} (pid {pid})", node.id),
            source: std::io::Error::from(errno),
        }),
    }
}

/// Wait until `pid` is gone; false if it is still alive after `timeout`.
pub async fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !is_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::layout::LocalRole;

    #[test]
    fn nodes_sharing_the_cores_run_one_thread_of_each_kind() {
        let none = |_: &str| false;
        let both = vec![("CHAT_WORKER_THREADS", "1"), ("CHAT_CONSENSUS_THREADS", "1")];
        assert_eq!(shared_core_threads(3, 2, none), both);
        assert_eq!(shared_core_threads(2, 2, none), both);
        assert_eq!(shared_core_threads(3, 8, none), [], "fewer nodes than cores: the node's defaults");
        let worker_set = |name: &str| name == "CHAT_WORKER_THREADS";
        assert_eq!(shared_core_threads(3, 2, worker_set), [("CHAT_CONSENSUS_THREADS", "1")], "the operator's wins");
    }

    fn entry(pid: Option<u32>, data_dir: &str) -> NodeEntry {
        NodeEntry {
            id: 1,
            role: LocalRole::Voter,
            pid,
            public: "127.0.0.1:1".into(),
            cluster: "127.0.0.1:2".into(),
            data_dir: data_dir.into(),
            removed: false,
        }
    }

    #[test]
    fn explicit_binary_must_exist() {
        let err = find_node_binary(Some(Path::new("/nonexistent/chat-node"))).unwrap_err();
        assert!(matches!(err, Error::NodeBinaryNotFound { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/chat-node"), "{err}");
    }

    #[test]
    fn a_pid_that_runs_something_else_is_not_the_node() {
        // Our own pid is alive, but its command line does not name this data directory.
        let me = entry(Some(std::process::id()), "/no/such/node-dir");
        assert!(is_alive(std::process::id()));
        assert_eq!(running_pid(&me), None);
        assert_eq!(running_pid(&entry(None, "/x")), None);
    }

    #[test]
    fn threads_counts_a_process_threads() {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let extra = std::thread::spawn(move || stopped.recv());
        // This test's thread and `extra` at least.
        assert!(threads(std::process::id()).expect("our own status") >= 2);
        assert_eq!(threads(u32::MAX), None, "no such process");
        drop(stop);
        let _ = extra.join();
    }

    #[tokio::test]
    async fn stop_terminates_the_process_and_reports_it() {
        // `sleep 30` stands in for chat-node; the pid check looks for the node's data
        // directory among the arguments, so "30" plays that part.
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let node = entry(Some(child.id()), "30");
        assert_eq!(running_pid(&node), Some(child.id()));

        assert_eq!(stop(&node, Duration::from_secs(5)).await.unwrap(), Stopped::Exited);
        assert!(!child.wait().unwrap().success());
        assert_eq!(stop(&node, Duration::from_secs(5)).await.unwrap(), Stopped::NotRunning);
    }
}
