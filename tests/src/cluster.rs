//! The `TestCluster` harness: real `chat-node` processes driven over their cluster
//! listeners.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use chat_raft::api::{FaultRequest, NodeStatus, ProposeResponse, ServerState};
use chat_raft::client::ClusterClient;
use chat_raft::{ClusterState, NodeAddr, NodeId};
use tempfile::TempDir;

use crate::wait::wait_until;

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How to start a cluster: voters, edges, and extra `chat-node` flags for every node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub voters: usize,
    pub edges: usize,
    pub extra_args: Vec<String>,
    /// Environment variables every node starts with (configuration by environment).
    pub env: Vec<(String, String)>,
}

impl NodeSpec {
    pub fn voters(voters: usize) -> Self {
        Self { voters, edges: 0, extra_args: Vec::new(), env: Vec::new() }
    }

    pub fn with_edges(mut self, edges: usize) -> Self {
        self.edges = edges;
        self
    }

    pub fn with_args(mut self, args: &[&str]) -> Self {
        self.extra_args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// One node process of a [`TestCluster`].
#[derive(Debug)]
pub struct TestNode {
    pub id: NodeId,
    pub edge: bool,
    pub data_dir: PathBuf,
    pub addr: NodeAddr,
    /// The second Socket.IO listener, when started with `--socket-addr`.
    pub socket: Option<String>,
    child: Option<Child>,
}

impl TestNode {
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A cluster of real `chat-node` processes on loopback.
pub struct TestCluster {
    dir: TempDir,
    secret: String,
    jwt_secret: String,
    extra_args: Vec<String>,
    env: Vec<(String, String)>,
    nodes: BTreeMap<NodeId, TestNode>,
    client: ClusterClient,
}

impl TestCluster {
    /// Start `spec.voters` voters (ids 1..) and `spec.edges` learners, bootstrap the
    /// voters, add the edges, and wait until every node is fresh.
    pub async fn start(spec: NodeSpec) -> Result<Self> {
        let secret = format!("test-cluster-secret-{:016x}", rand::random::<u64>());
        let mut cluster = Self {
            dir: tempfile::Builder::new().prefix("chat-cluster-").tempdir()?,
            jwt_secret: format!("{:064x}", rand::random::<u128>()),
            client: ClusterClient::new(secret.clone()),
            secret,
            extra_args: spec.extra_args.clone(),
            env: spec.env.clone(),
            nodes: BTreeMap::new(),
        };
        let total = spec.voters + spec.edges;
        for n in 1..=total as NodeId {
            cluster.spawn_new(n, n as usize > spec.voters)?;
        }
        for id in cluster.ids() {
            cluster.await_listening(id).await?;
        }
        let voters: BTreeMap<NodeId, NodeAddr> =
            cluster.nodes.values().filter(|n| !n.edge).map(|n| (n.id, n.addr.clone())).collect();
        cluster.client.init(&cluster.node(1).addr.cluster, voters).await.context("bootstrap the voters")?;
        cluster.wait_for_leader(START_TIMEOUT).await?;
        let edges: Vec<(NodeId, NodeAddr)> =
            cluster.nodes.values().filter(|n| n.edge).map(|n| (n.id, n.addr.clone())).collect();
        for (id, addr) in edges {
            // Right after an election the leader may not be known everywhere yet.
            wait_until(&format!("edge {id} to be added"), START_TIMEOUT, || {
                let (client, via, addr) = (cluster.client.clone(), cluster.node(1).addr.cluster.clone(), addr.clone());
                async move { client.add_learner(&via, id, addr).await.ok().map(|_| ()) }
            })
            .await
            .context("add an edge")?;
        }
        for id in cluster.ids() {
            cluster.wait_fresh(id, START_TIMEOUT).await?;
        }
        Ok(cluster)
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn client(&self) -> &ClusterClient {
        &self.client
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    pub fn running_ids(&self) -> Vec<NodeId> {
        self.nodes.values().filter(|n| n.is_running()).map(|n| n.id).collect()
    }

    pub fn node(&self, id: NodeId) -> &TestNode {
        self.nodes.get(&id).unwrap_or_else(|| panic!("no node {id} in this cluster"))
    }

    fn cluster_addr(&self, id: NodeId) -> String {
        self.node(id).addr.cluster.clone()
    }

    /// The path of the `chat-node` binary: `CHAT_NODE_BIN`, else next to the test
    /// executable's target directory (the test command builds it first).
    pub fn node_bin() -> Result<PathBuf> {
        if let Ok(path) = std::env::var("CHAT_NODE_BIN") {
            return Ok(PathBuf::from(path));
        }
        let exe = std::env::current_exe()?;
        let profile_dir = exe.parent().and_then(Path::parent).ok_or_else(|| anyhow!("odd test path {exe:?}"))?;
        let bin = profile_dir.join("chat-node");
        if !bin.exists() {
            bail!("{} not found: build it first (cargo build -p chat-node) or set CHAT_NODE_BIN", bin.display());
        }
        Ok(bin)
    }

    fn spawn_new(&mut self, id: NodeId, edge: bool) -> Result<()> {
        let data_dir = self.dir.path().join(format!("node-{id}"));
        fs::create_dir_all(&data_dir)?;
        let mut node = TestNode { id, edge, data_dir, addr: NodeAddr::default(), socket: None, child: None };
        node.child = Some(self.spawn(&node, "127.0.0.1:0", "127.0.0.1:0")?);
        self.nodes.insert(id, node);
        Ok(())
    }

    fn spawn(&self, node: &TestNode, public: &str, cluster: &str) -> Result<Child> {
        let _ = fs::remove_file(node.data_dir.join("listening.json"));
        let log = fs::OpenOptions::new().create(true).append(true).open(node.data_dir.join("node.log"))?;
        let child = Command::new(Self::node_bin()?)
            .arg("--id")
            .arg(node.id.to_string())
            .arg("--role")
            .arg(if node.edge { "edge" } else { "voter" })
            .arg("--public-addr")
            .arg(public)
            .arg("--cluster-addr")
            .arg(cluster)
            .arg("--data-dir")
            .arg(&node.data_dir)
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("CHAT_CLUSTER_SECRET", &self.secret)
            .env("CHAT_JWT_SECRET", &self.jwt_secret)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info,openraft=warn".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn chat-node")?;
        Ok(child)
    }

    async fn await_listening(&mut self, id: NodeId) -> Result<()> {
        let path = self.node(id).data_dir.join("listening.json");
        let addr = wait_until(&format!("node {id} to listen"), START_TIMEOUT, || {
            let path = path.clone();
            async move {
                let text = fs::read_to_string(path).ok()?;
                let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                let addr =
                    NodeAddr { public: v["public"].as_str()?.to_owned(), cluster: v["cluster"].as_str()?.to_owned() };
                Some((addr, v["socket"].as_str().map(str::to_owned)))
            }
        })
        .await?;
        let node = self.nodes.get_mut(&id).expect("node exists");
        (node.addr, node.socket) = addr;
        Ok(())
    }

    /// SIGKILL a node and reap it.
    pub fn kill(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM a node (a planned stop) and wait until it exited; returns its exit status.
    pub async fn terminate(&mut self, id: NodeId) -> Result<std::process::ExitStatus> {
        let node = self.nodes.get_mut(&id).expect("node exists");
        let mut child = node.child.take().ok_or_else(|| anyhow!("node {id} is not running"))?;
        // The child is not reaped yet, so its pid cannot have been reused.
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
        if !sent.success() {
            bail!("kill -TERM node {id} (pid {}) failed: {sent}", child.id());
        }
        Ok(tokio::task::spawn_blocking(move || child.wait()).await??)
    }

    /// Start a stopped node again on the same ports and data directory.
    pub async fn restart(&mut self, id: NodeId) -> Result<()> {
        let node = self.node(id);
        if node.is_running() {
            bail!("node {id} is still running");
        }
        let (public, cluster) = (node.addr.public.clone(), node.addr.cluster.clone());
        let child = self.spawn(node, &public, &cluster)?;
        self.nodes.get_mut(&id).expect("node exists").child = Some(child);
        self.await_listening(id).await
    }

    /// Cut a node off from its peers (both directions), or heal it.
    pub async fn isolate(&self, id: NodeId, isolated: bool) -> Result<()> {
        self.client.fault(&self.cluster_addr(id), FaultRequest { isolated, clients: false }).await?;
        Ok(())
    }

    /// Node `id`'s Prometheus text, from its cluster listener (with the secret).
    pub async fn metrics(&self, id: NodeId) -> Result<String> {
        Ok(self.client.metrics(&self.cluster_addr(id), Duration::from_secs(5)).await?)
    }

    /// The value of node `id`'s first metric line starting with `series` (a name, with
    /// its labels when it has them).
    pub async fn metric(&self, id: NodeId, series: &str) -> Result<u64> {
        let text = self.metrics(id).await?;
        let line = text.lines().find(|l| l.starts_with(series)).with_context(|| format!("{series} in /metrics"))?;
        Ok(line.rsplit(' ').next().context("a value")?.parse()?)
    }

    pub async fn status(&self, id: NodeId) -> Result<NodeStatus> {
        Ok(self.client.status(&self.cluster_addr(id)).await?)
    }

    /// The leader as reported by the running nodes (highest term wins).
    pub async fn leader(&self) -> Option<NodeId> {
        let mut best: Option<(u64, NodeId)> = None;
        for id in self.running_ids() {
            if let Ok(s) = self.status(id).await {
                if s.state == ServerState::Leader && !s.isolated && best.is_none_or(|(t, _)| s.term > t) {
                    best = Some((s.term, id));
                }
            }
        }
        best.map(|(_, id)| id)
    }

    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId> {
        Ok(wait_until("a leader", timeout, || self.leader()).await?)
    }

    /// Wait until `id` serves fresh reads.
    pub async fn wait_fresh(&self, id: NodeId, timeout: Duration) -> Result<()> {
        wait_until(&format!("node {id} to be fresh"), timeout, || async {
            self.status(id).await.ok().filter(|s| s.fresh).map(|_| ())
        })
        .await?;
        Ok(())
    }

    /// Commit a command through node `id`.
    pub async fn propose(&self, id: NodeId, command: chat_raft::Command) -> Result<ProposeResponse> {
        Ok(self.client.propose(&self.cluster_addr(id), command).await?)
    }

    /// A client-grade read of the whole state on node `id`.
    pub async fn state(&self, id: NodeId) -> Result<ClusterState> {
        Ok(self.client.state(&self.cluster_addr(id)).await?)
    }

    /// Node `id`'s replica as it is, fresh or not.
    pub async fn local_state(&self, id: NodeId) -> Result<ClusterState> {
        Ok(self.client.local_state(&self.cluster_addr(id)).await?)
    }

    /// The last lines of every node's log, for failure reports.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for node in self.nodes.values() {
            let text = fs::read_to_string(node.data_dir.join("node.log")).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(lines).collect();
            out.push_str(&format!("----- node {} -----\n", node.id));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tails(40));
        }
        for id in self.ids() {
            self.kill(id);
        }
    }
}
