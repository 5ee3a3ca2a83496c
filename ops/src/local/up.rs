//! `chatctl local up`: a local cluster of `chat-node` child processes, created on
//! the first run and resumed from its directory afterwards, bootstrapped, supervised
//! until shutdown (a node that dies is reported, never restarted), then stopped.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_raft::client::ClusterClient;
use chat_raft::NodeId;
use rand::RngCore;
use tokio::task::JoinSet;

use super::bootstrap::bootstrap;
use super::layout::{ClusterLayout, LocalRole, NodeEntry};
use super::lb::{Balancer, LbEntry};
use super::{ports, process, stop};
use crate::table::Table;
use crate::Error;

/// Voters of a fresh cluster when `--nodes` is not given.
pub const DEFAULT_VOTERS: u64 = 3;
/// How long each bootstrap phase (nodes answering, leader elected) may take.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the supervising tasks once every node has been stopped.
const REAP_WAIT: Duration = Duration::from_secs(5);

/// What `local up` starts.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Cluster directory: cluster.json and one `node-<id>` directory per node.
    pub data_dir: PathBuf,
    /// Voters of a fresh cluster (ids 1..=N); ignored when resuming.
    pub voters: Option<u64>,
    /// Edges of a fresh cluster (ids N+1..=N+M); ignored when resuming.
    pub edges: Option<u64>,
    /// The chat-node executable; found next to chatctl or on PATH if `None`.
    pub node_bin: Option<PathBuf>,
    /// Fixed ports from here instead of free ones (see [`ports::base_node_addr`]).
    pub base_port: Option<u16>,
    pub ready_timeout: Duration,
    /// Whether an HAProxy will front the nodes (`--lb`): they then trust one proxy hop
    /// of `X-Forwarded-For`.
    pub behind_lb: bool,
}

impl UpOptions {
    pub fn new(data_dir: impl Into<PathBuf>, voters: u64, edges: u64) -> Self {
        Self {
            data_dir: data_dir.into(),
            voters: Some(voters),
            edges: Some(edges),
            node_bin: None,
            base_port: None,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            behind_lb: false,
        }
    }
}

/// The node processes this value spawned: running ones by pid (until reaped), and
/// how the others ended (exit status and log path) if nobody asked them to.
#[derive(Debug, Default)]
struct Children {
    running: stop::Children,
    exited: BTreeMap<NodeId, (String, PathBuf)>,
}

type SharedChildren = Arc<Mutex<Children>>;

/// A running local cluster whose first processes this value owns. Dropping it
/// without [`LocalCluster::stop`] SIGKILLs every node still running.
pub struct LocalCluster {
    dir: PathBuf,
    client: ClusterClient,
    ready_timeout: Duration,
    supervisors: JoinSet<()>,
    children: SharedChildren,
    stopping: Arc<AtomicBool>,
    stopped: bool,
    /// HAProxy in front of the nodes (`local up --lb`); stopped before them.
    lb: Option<Balancer>,
}

impl std::fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl LocalCluster {
    /// Launch and bootstrap; on failure every started node is stopped again.
    pub async fn start(opts: UpOptions) -> Result<Self, Error> {
        let mut cluster = Self::launch(opts)?;
        match cluster.bootstrap().await {
            Ok(_) => Ok(cluster),
            Err(e) => {
                cluster.stop_nodes().await;
                Err(e)
            }
        }
    }

    /// Create (or resume) the cluster directory and start every active node,
    /// without waiting for them.
    pub fn launch(opts: UpOptions) -> Result<Self, Error> {
        let binary = process::find_node_binary(opts.node_bin.as_deref())?;
        let (dir, mut layout) = prepare(&opts)?;
        let hops = usize::from(opts.behind_lb);
        if layout.trusted_proxy_hops != hops {
            layout.trusted_proxy_hops = hops;
            layout.save(&dir)?;
        }
        let mut cluster = LocalCluster {
            client: ClusterClient::new(layout.secret.clone()),
            dir,
            ready_timeout: opts.ready_timeout,
            supervisors: JoinSet::new(),
            children: Arc::default(),
            stopping: Arc::default(),
            stopped: false,
            lb: None,
        };
        for node in layout.active() {
            let child = process::spawn_child(&binary, &layout, node)?;
            let pid = child.id().expect("a child that was just spawned has a pid");
            cluster.children.lock().expect("children lock").running.insert(node.id, pid);
            ClusterLayout::set_pid(&cluster.dir, node.id, pid)?;
            tracing::info!(node = node.id, pid, role = node.role.as_flag(), log = %node.log_path().display(), "node started");
            cluster.supervisors.spawn(supervise(
                node.clone(),
                child,
                cluster.children.clone(),
                cluster.stopping.clone(),
            ));
        }
        Ok(cluster)
    }

    /// Wait until every node answers, initialize the membership if it never was, add
    /// missing learners, wait for a leader. Returns the leader's id.
    pub async fn bootstrap(&self) -> Result<NodeId, Error> {
        let layout = self.layout()?;
        let children = self.children.clone();
        let check = move || match children.lock().expect("children lock").exited.iter().next() {
            Some((id, (status, log))) => Err(Error::NodeExited { id: *id, status: status.clone(), log: log.clone() }),
            None => Ok(()),
        };
        bootstrap(&layout, &self.client, self.ready_timeout, &check).await
    }

    /// The cluster directory (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// cluster.json as it is now (pids included).
    pub fn layout(&self) -> Result<ClusterLayout, Error> {
        ClusterLayout::load(&self.dir)
    }

    /// A client carrying the cluster secret.
    pub fn client(&self) -> &ClusterClient {
        &self.client
    }

    /// Start HAProxy in front of every node's public listener (see [`super::lb`]);
    /// it is stopped with the cluster. `port`: a fixed frontend port (stats on the next).
    /// Returns its recorded addresses.
    pub async fn start_lb(
        &mut self,
        haproxy: Option<&Path>,
        port: Option<u16>,
        timeout: Duration,
    ) -> Result<LbEntry, Error> {
        let balancer = Balancer::start(&self.dir, haproxy, port, timeout).await?;
        let entry = balancer.entry.clone();
        self.lb = Some(balancer);
        Ok(entry)
    }

    /// Keep the cluster running until `shutdown` completes, then stop it.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        shutdown.await;
        tracing::info!("shutting down the local cluster");
        self.stop().await
    }

    /// Stop every node listed in cluster.json (restarted ones too): edges first,
    /// then voters; SIGTERM, then SIGKILL after the grace period.
    pub async fn stop(mut self) -> Result<(), Error> {
        self.stop_nodes().await;
        Ok(())
    }

    async fn stop_nodes(&mut self) {
        if let Some(lb) = self.lb.take() {
            lb.stop().await;
        }
        self.stopping.store(true, Ordering::SeqCst);
        let running = self.children.lock().expect("children lock").running.clone();
        if let Err(e) = stop::stop_all_with(&self.dir, &running).await {
            tracing::error!(error = %e, "stopping the nodes");
        }
        let reaped = tokio::time::timeout(REAP_WAIT, async { while self.supervisors.join_next().await.is_some() {} });
        if reaped.await.is_err() {
            tracing::warn!("some node processes were not reaped in time");
        }
        self.stopped = true;
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if !self.stopped {
            let running = self.children.lock().map(|c| c.running.clone()).unwrap_or_default();
            stop::kill_all_now(&self.dir, &running);
        }
    }
}

/// Await one child so it is reaped as soon as it exits, and report the exit.
async fn supervise(
    node: NodeEntry,
    mut child: tokio::process::Child,
    children: SharedChildren,
    stopping: Arc<AtomicBool>,
) {
    let status = match child.wait().await {
        Ok(status) => status.to_string(),
        Err(e) => format!("unknown status ({e})"),
    };
    let mut children = children.lock().expect("children lock");
    // Reaped: from now on the pid may be reused by another process.
    children.running.remove(&node.id);
    if stopping.load(Ordering::SeqCst) {
        tracing::debug!(node = node.id, %status, "node exited");
        return;
    }
    let log = node.log_path();
    tracing::warn!(node = node.id, %status, log = %log.display(), "node exited; chatctl does not restart it (see `chatctl local restart`)");
    children.exited.insert(node.id, (status, log));
}

/// Resume the layout in `opts.data_dir`, or create a fresh one there.
fn prepare(opts: &UpOptions) -> Result<(PathBuf, ClusterLayout), Error> {
    std::fs::create_dir_all(&opts.data_dir).map_err(Error::io(&opts.data_dir))?;
    let dir = std::fs::canonicalize(&opts.data_dir).map_err(Error::io(&opts.data_dir))?;
    if let Some(layout) = ClusterLayout::load_if_exists(&dir)? {
        resume_checks(&dir, opts, &layout)?;
        tracing::info!(dir = %dir.display(), nodes = layout.active().count(), "resuming the cluster recorded in cluster.json");
        return Ok((dir, layout));
    }
    let layout = fresh_layout(&dir, opts)?;
    layout.save(&dir)?;
    tracing::info!(dir = %dir.display(), "created a new cluster");
    Ok((dir, layout))
}

fn resume_checks(dir: &Path, opts: &UpOptions, layout: &ClusterLayout) -> Result<(), Error> {
    if let Some((id, pid)) = layout.active().find_map(|n| process::running_pid(n).map(|pid| (n.id, pid))) {
        return Err(Error::ClusterRunning { dir: dir.to_path_buf(), id, pid });
    }
    let voters = layout.with_role(LocalRole::Voter).count() as u64;
    let edges = layout.with_role(LocalRole::Edge).count() as u64;
    if opts.voters.is_some_and(|v| v != voters) || opts.edges.is_some_and(|e| e != edges) {
        tracing::warn!(voters, edges, "resuming the recorded cluster; --nodes and --edges apply to new clusters only");
    }
    Ok(())
}

/// A new cluster's layout in `dir`: ids, free (or fixed) ports, new secrets.
pub(crate) fn fresh_layout(dir: &Path, opts: &UpOptions) -> Result<ClusterLayout, Error> {
    let voters = opts.voters.unwrap_or(DEFAULT_VOTERS);
    let edges = opts.edges.unwrap_or(0);
    if voters == 0 {
        return Err(Error::Usage("--nodes must be at least 1".into()));
    }
    let free = match opts.base_port {
        Some(_) => Vec::new(),
        None => ports::free_addrs(2 * (voters + edges) as usize)?,
    };
    let nodes = (1..=voters + edges)
        .map(|id| {
            let addr = match opts.base_port {
                Some(base) => ports::base_node_addr(base, id)?,
                None => {
                    let i = 2 * (id - 1) as usize;
                    chat_raft::NodeAddr { public: free[i].clone(), cluster: free[i + 1].clone() }
                }
            };
            let role = if id <= voters { LocalRole::Voter } else { LocalRole::Edge };
            Ok(NodeEntry {
                id,
                role,
                pid: None,
                public: addr.public,
                cluster: addr.cluster,
                data_dir: dir.join(format!("node-{id}")),
                removed: false,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(ClusterLayout { secret: random_secret(), jwt_secret: random_secret(), nodes, lb: None, trusted_proxy_hops: 0 })
}

/// 32 random bytes as 64 hex digits.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The table `local up` prints once the cluster is ready.
pub fn nodes_table(layout: &ClusterLayout) -> String {
    let mut table = Table::new(&["id", "role", "public", "cluster", "pid"]);
    for n in layout.active() {
        let pid = n.pid.map_or_else(|| "-".to_string(), |p| p.to_string());
        table.row(vec![n.id.to_string(), n.role.as_flag().into(), n.public.clone(), n.cluster.clone(), pid]);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_layout_numbers_voters_then_edges() {
        let dir = Path::new("/c");
        let opts = UpOptions { base_port: Some(5001), ..UpOptions::new(dir, 3, 2) };
        let layout = fresh_layout(dir, &opts).unwrap();
        let ids_roles: Vec<_> = layout.nodes.iter().map(|n| (n.id, n.role)).collect();
        assert_eq!(
            ids_roles,
            vec![
                (1, LocalRole::Voter),
                (2, LocalRole::Voter),
                (3, LocalRole::Voter),
                (4, LocalRole::Edge),
                (5, LocalRole::Edge)
            ]
        );
        assert_eq!(layout.nodes[4].public, "127.0.0.1:5005");
        assert_eq!(layout.nodes[4].data_dir, Path::new("/c/node-5"));
        assert_eq!(layout.secret.len(), 64);
        assert_ne!(layout.secret, layout.jwt_secret);
    }

    #[test]
    fn fresh_layout_with_free_ports_has_distinct_addresses() {
        let layout = fresh_layout(Path::new("/c"), &UpOptions::new("/c", 2, 1)).unwrap();
        let addrs: std::collections::BTreeSet<_> =
            layout.nodes.iter().flat_map(|n| [n.public.clone(), n.cluster.clone()]).collect();
        assert_eq!(addrs.len(), 6);
    }

    #[test]
    fn zero_voters_is_refused() {
        assert!(matches!(fresh_layout(Path::new("/c"), &UpOptions::new("/c", 0, 1)), Err(Error::Usage(_))));
    }
}
