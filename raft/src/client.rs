//! HTTP client of the cluster listener, used by nodes (Raft RPCs, forwarded writes),
//! by the operator CLI and by the tests. Every request carries the cluster secret.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::*;
use crate::command::{Command, Proposal};
use crate::state::ClusterState;
use crate::types::{NodeAddr, NodeId};
use crate::Error;

/// Status code the cluster listener uses for "send this to the leader".
pub const NOT_LEADER: StatusCode = StatusCode::MISDIRECTED_REQUEST;

#[derive(Clone)]
pub struct ClusterClient {
    http: reqwest::Client,
    secret: String,
    from: Option<NodeId>,
    traffic: Arc<Traffic>,
}

/// Body bytes this client sent and received (HTTP framing and headers excluded): the
/// cluster-wire cost that `/metrics` reports per node.
#[derive(Debug, Default)]
pub struct Traffic {
    sent: AtomicU64,
    received: AtomicU64,
}

impl Traffic {
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient").field("from", &self.from).finish_non_exhaustive()
    }
}

impl ClusterClient {
    /// A client for operators and tests.
    pub fn new(secret: impl Into<String>) -> Self {
        Self::build(secret.into(), None)
    }

    /// A client for node `from`; its requests name the sender (fault injection uses it).
    pub fn for_node(secret: impl Into<String>, from: NodeId) -> Self {
        Self::build(secret.into(), Some(from))
    }

    fn build(secret: String, from: Option<NodeId>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .expect("HTTP client configuration is static");
        Self { http, secret, from, traffic: Arc::default() }
    }

    /// What this client (and its clones) sent and received so far.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    fn url(addr: &str, path: &str) -> String {
        if addr.starts_with("http://") {
            format!("{addr}{path}")
        } else {
            format!("http://{addr}{path}")
        }
    }

    fn request(&self, method: reqwest::Method, addr: &str, path: &str, timeout: Duration) -> reqwest::RequestBuilder {
        let mut req =
            self.http.request(method, Self::url(addr, path)).header(SECRET_HEADER, &self.secret).timeout(timeout);
        if let Some(from) = self.from {
            req = req.header(FROM_HEADER, from.to_string());
        }
        req
    }

    /// POST `body` as JSON and decode the JSON answer.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, Error> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Invalid(format!("unencodable request: {e}")))?;
        self.traffic.sent.fetch_add(body.len() as u64, Ordering::Relaxed);
        let request = self.request(reqwest::Method::POST, addr, path, timeout);
        let resp = request.header(CONTENT_TYPE, "application/json").body(body).send().await?;
        self.decode(resp).await
    }

    /// GET and decode the JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, addr: &str, path: &str, timeout: Duration) -> Result<T, Error> {
        let resp = self.request(reqwest::Method::GET, addr, path, timeout).send().await?;
        self.decode(resp).await
    }

    pub async fn status(&self, addr: &str) -> Result<NodeStatus, Error> {
        self.get(addr, "/cluster/status", Duration::from_secs(2)).await
    }

    pub async fn write(&self, addr: &str, proposal: &Proposal, timeout: Duration) -> Result<WriteAck, Error> {
        self.post(addr, "/cluster/write", proposal, timeout).await
    }

    pub async fn applied(&self, addr: &str, min: u64, wait: Duration) -> Result<u64, Error> {
        let path = format!("/cluster/applied?min={min}&wait_ms={}", wait.as_millis());
        let answer: AppliedIndex = self.get(addr, &path, wait + Duration::from_secs(1)).await?;
        Ok(answer.applied)
    }

    pub async fn init(
        &self,
        addr: &str,
        voters: std::collections::BTreeMap<NodeId, NodeAddr>,
    ) -> Result<AdminOk, Error> {
        self.post(addr, "/admin/init", &InitRequest { voters }, Duration::from_secs(10)).await
    }

    pub async fn add_learner(&self, addr: &str, id: NodeId, node: NodeAddr) -> Result<AdminOk, Error> {
        self.post(addr, "/admin/add-learner", &AddLearnerRequest { id, addr: node }, Duration::from_secs(30)).await
    }

    pub async fn promote(&self, addr: &str, id: NodeId) -> Result<AdminOk, Error> {
        self.post(addr, "/admin/promote", &NodeRequest { id }, Duration::from_secs(30)).await
    }

    pub async fn remove(&self, addr: &str, id: NodeId) -> Result<AdminOk, Error> {
        self.post(addr, "/admin/remove", &NodeRequest { id }, Duration::from_secs(30)).await
    }

    pub async fn propose(&self, addr: &str, command: Command) -> Result<ProposeResponse, Error> {
        self.post(addr, "/admin/propose", &ProposeRequest { command }, Duration::from_secs(10)).await
    }

    /// The state as a client would read it on that node (waits for freshness).
    pub async fn state(&self, addr: &str) -> Result<ClusterState, Error> {
        self.get(addr, "/admin/state", Duration::from_secs(5)).await
    }

    /// The node's replica as it is, fresh or not.
    pub async fn local_state(&self, addr: &str) -> Result<ClusterState, Error> {
        self.get(addr, "/admin/state?local=true", Duration::from_secs(5)).await
    }

    pub async fn fault(&self, addr: &str, fault: FaultRequest) -> Result<AdminOk, Error> {
        self.post(addr, "/admin/fault", &fault, Duration::from_secs(2)).await
    }

    pub async fn snapshot(&self, addr: &str) -> Result<AdminOk, Error> {
        self.post(addr, "/admin/snapshot", &(), Duration::from_secs(30)).await
    }

    /// Ask the node at `addr` (forwarded to the leader) to hand leadership over.
    pub async fn transfer_leader(&self, addr: &str, to: Option<NodeId>) -> Result<Handover, Error> {
        self.post(addr, "/admin/transfer-leader", &TransferRequest { to }, Duration::from_secs(10)).await
    }

    /// Start or end draining the node at `addr` (that node only; not forwarded).
    pub async fn drain(&self, addr: &str, drain: bool) -> Result<DrainState, Error> {
        self.post(addr, "/admin/drain", &DrainRequest { drain }, Duration::from_secs(5)).await
    }

    /// The node's Prometheus text (`GET /metrics` on its cluster listener).
    pub async fn metrics(&self, addr: &str, timeout: Duration) -> Result<String, Error> {
        let resp = self.request(reqwest::Method::GET, addr, "/metrics", timeout).send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        self.traffic.received.fetch_add(text.len() as u64, Ordering::Relaxed);
        if status.is_success() {
            return Ok(text);
        }
        Err(refusal(status, serde_json::from_str(&text).ok()))
    }

    pub async fn bench(&self, addr: &str, req: BenchRequest) -> Result<BenchReport, Error> {
        let timeout = Duration::from_millis(req.duration_ms) + Duration::from_secs(30);
        self.post(addr, "/admin/bench", &req, timeout).await
    }
}

impl ClusterClient {
    async fn decode<T: DeserializeOwned>(&self, resp: reqwest::Response) -> Result<T, Error> {
        let status = resp.status();
        let bytes = resp.bytes().await?;
        self.traffic.received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| Error::Network(format!("undecodable answer: {e}")));
        }
        Err(refusal(status, serde_json::from_slice(&bytes).ok()))
    }
}

/// The error an unsuccessful answer stands for.
fn refusal(status: StatusCode, body: Option<ErrorBody>) -> Error {
    let message = body.as_ref().map(|b| b.error.clone()).unwrap_or_default();
    match status {
        s if s == NOT_LEADER => Error::NotLeader { leader: body.and_then(|b| b.leader) },
        StatusCode::SERVICE_UNAVAILABLE => Error::NoLeader,
        StatusCode::GATEWAY_TIMEOUT => Error::Timeout(0),
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT => Error::Invalid(message),
        _ => Error::Remote { status: status.as_u16(), message },
    }
}
