//! [`EmbeddedBlobStore`]: the blob store when no external database is configured
//! (architecture §3.2). Every node keeps a [`DirBlobStore`]; a `put` writes the local
//! copy (moved into place from a [`StagedBlob`]), then streams it from that file to other members over the cluster listener
//! (`PUT /cluster/blobs/{name}`) until [`MIN_COPIES`] nodes hold them, and only then
//! returns the holders (which the caller records in the file's metadata before it
//! acknowledges the upload). A `get` on a node without a copy streams it from a holder
//! (`GET /cluster/blobs/{name}`), so any node serves any file and losing one holder
//! loses no acknowledged file.
//!
//! Why the bytes do not go through the Raft log: a 50 MiB upload would be appended to
//! every node's log, kept until the next snapshot and then copied into snapshots; two
//! copies pushed directly cost one transfer and leave the log small.
//!
//! A read from peers asks the recorded holders one at a time (every other member only
//! when there is no record), each for at most [`PEER_ASK`], and gives up after
//! [`PEER_READ`] in all; at most [`MAX_PEER_READS`] such reads run at a time on a node, more
//! are refused ([`BlobError::Busy`]) rather than queued.
//!
//! Read-through copies are not kept: the holders stay what the record says. A holder
//! that is lost for good reduces the copies of its files to one until re-replication,
//! which is not implemented yet.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chat_raft::{Cluster, NodeId};
use futures::TryStreamExt;
use rand::seq::SliceRandom;
use reqwest::StatusCode;
use tokio::sync::Semaphore;
use tokio_util::io::ReaderStream;

use super::{Blob, BlobError, BlobName, BlobStore, DirBlobStore, Placement, StagedBlob};

/// Route prefix of the blob copies on the cluster listener; the name follows.
pub const BLOBS_PATH: &str = "/cluster/blobs/";
/// Nodes that must hold a blob before a `put` returns (fewer only when the cluster has
/// fewer members).
pub const MIN_COPIES: usize = 2;

/// Time for a peer to answer a `HEAD` or `DELETE`.
const READ_START: Duration = Duration::from_secs(5);
/// Time for the holders of a blob this node lacks to start sending it (the body then
/// streams): one bound for the whole read, however many holders are asked.
pub const PEER_READ: Duration = Duration::from_secs(2);
/// Time for one holder to start sending a blob before the next is asked.
const PEER_ASK: Duration = Duration::from_secs(1);
/// Reads from peers that may wait for a holder at once on one node.
pub const MAX_PEER_READS: usize = 32;
/// Time for a whole copy to a peer (50 MiB at a slow 10 MB/s is 5 s).
const COPY_TIMEOUT: Duration = Duration::from_secs(60);
/// Read chunk size when streaming a copy to a peer.
const COPY_CHUNK: usize = 64 * 1024;

#[derive(Clone)]
pub struct EmbeddedBlobStore {
    local: DirBlobStore,
    cluster: Cluster,
    http: reqwest::Client,
    secret: String,
    /// One permit per read from peers waiting for a holder's answer.
    peer_reads: Arc<Semaphore>,
}

impl std::fmt::Debug for EmbeddedBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBlobStore").field("local", &self.local).finish_non_exhaustive()
    }
}

impl EmbeddedBlobStore {
    pub fn new(local: DirBlobStore, cluster: Cluster, secret: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .build()
            .expect("HTTP client configuration is static");
        Self { local, cluster, http, secret: secret.into(), peer_reads: Arc::new(Semaphore::new(MAX_PEER_READS)) }
    }

    /// This node's copies: what the cluster listener serves to peers.
    pub fn local(&self) -> &DirBlobStore {
        &self.local
    }

    /// Other members, in the order to try them for a new copy: nodes not declared down
    /// first, voters before edges, random within each group to spread the load.
    fn copy_targets(&self) -> Vec<(NodeId, String)> {
        let me = self.cluster.id();
        let down = self.cluster.read_local(|s| s.down_nodes.clone());
        let voters = self.cluster.voters();
        let mut peers: Vec<(NodeId, String)> =
            self.cluster.members().into_iter().filter(|(id, _)| *id != me).map(|(id, a)| (id, a.cluster)).collect();
        peers.shuffle(&mut rand::thread_rng());
        peers.sort_by_key(|(id, _)| (down.contains(id), !voters.contains(id)));
        peers
    }

    /// Members to ask for a blob this node lacks: its recorded holders, or every other
    /// member when no record names one (a record not applied here yet).
    fn holders(&self, name: &BlobName) -> Vec<(NodeId, String)> {
        let holders = self
            .cluster
            .read_local(|s| s.files.by_filename(name.as_str()).map(|f| f.holders.clone()))
            .unwrap_or_default();
        let peers = self.copy_targets();
        let recorded: Vec<_> = peers.iter().filter(|(id, _)| holders.contains(id)).cloned().collect();
        if recorded.is_empty() {
            peers
        } else {
            recorded
        }
    }

    /// Members to ask whether a blob exists: its recorded holders first.
    fn read_targets(&self, name: &BlobName) -> Vec<(NodeId, String)> {
        let holders = self
            .cluster
            .read_local(|s| s.files.by_filename(name.as_str()).map(|f| f.holders.clone()))
            .unwrap_or_default();
        let mut peers = self.copy_targets();
        peers.sort_by_key(|(id, _)| !holders.contains(id));
        peers
    }

    fn url(addr: &str, name: &BlobName) -> String {
        let base = if addr.starts_with("http://") { addr.to_owned() } else { format!("http://{addr}") };
        format!("{base}{BLOBS_PATH}{name}")
    }

    fn request(&self, method: reqwest::Method, addr: &str, name: &BlobName) -> reqwest::RequestBuilder {
        self.http
            .request(method, Self::url(addr, name))
            .header(chat_raft::api::SECRET_HEADER, &self.secret)
            .header(chat_raft::api::FROM_HEADER, self.cluster.id().to_string())
    }

    /// Copy this node's stored copy of `name` to a peer, streamed from the file (one
    /// chunk in memory at a time, never the whole blob).
    async fn copy_to(&self, peer: NodeId, addr: &str, name: &BlobName) -> bool {
        let file = match tokio::fs::File::open(self.local.file_path(name)).await {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!(peer, blob = %name, error = %e, "local copy to send is gone");
                return false;
            }
        };
        let size = file.metadata().await.map(|m| m.len()).unwrap_or_default();
        let body = reqwest::Body::wrap_stream(ReaderStream::with_capacity(file, COPY_CHUNK));
        let sent = self
            .request(reqwest::Method::PUT, addr, name)
            .timeout(COPY_TIMEOUT)
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => true,
            Ok(resp) => {
                tracing::warn!(peer, blob = %name, status = %resp.status(), "peer refused a blob copy");
                false
            }
            Err(e) => {
                tracing::warn!(peer, blob = %name, error = %e, "blob copy to peer failed");
                false
            }
        }
    }

    async fn fetch(&self, peer: NodeId, addr: &str, name: &BlobName, wait: Duration) -> Option<Blob> {
        let sent = tokio::time::timeout(wait, self.request(reqwest::Method::GET, addr, name).send()).await;
        let resp = match sent {
            Ok(Ok(resp)) if resp.status() == StatusCode::OK => resp,
            Ok(Ok(resp)) if resp.status() == StatusCode::NOT_FOUND => return None,
            Ok(Ok(resp)) => {
                tracing::warn!(peer, blob = %name, status = %resp.status(), "peer could not serve a blob");
                return None;
            }
            Ok(Err(e)) => {
                tracing::debug!(peer, blob = %name, error = %e, "blob read from peer failed");
                return None;
            }
            Err(_) => {
                tracing::warn!(peer, blob = %name, "peer did not answer a blob read in time");
                return None;
            }
        };
        let size = resp.content_length()?;
        let body = resp.bytes_stream().map_err(std::io::Error::other);
        Some(Blob { size, body: Box::pin(body) })
    }
}

#[async_trait]
impl BlobStore for EmbeddedBlobStore {
    async fn put(&self, name: &BlobName, bytes: Bytes) -> Result<Placement, BlobError> {
        let mut staged = self.local.stage().await?;
        staged.write(&bytes).await?;
        self.put_staged(name, staged).await
    }

    async fn put_staged(&self, name: &BlobName, staged: StagedBlob) -> Result<Placement, BlobError> {
        self.local.put_staged(name, staged).await?;
        let mut holders = vec![self.cluster.id()];
        let targets = self.copy_targets();
        let wanted = MIN_COPIES.min(targets.len() + 1);
        for (peer, addr) in targets {
            if holders.len() >= wanted {
                break;
            }
            if self.copy_to(peer, &addr, name).await {
                holders.push(peer);
            }
        }
        if holders.len() < wanted {
            // Unacknowledged: leave no copy behind that no record points to.
            let _ = self.local.delete(name).await;
            return Err(BlobError::Unreplicated { stored: holders.len(), wanted });
        }
        Ok(Placement { holders })
    }

    async fn get(&self, name: &BlobName) -> Result<Option<Blob>, BlobError> {
        if let Some(blob) = self.local.get(name).await? {
            return Ok(Some(blob));
        }
        let Ok(_permit) = self.peer_reads.try_acquire() else {
            tracing::debug!(blob = %name, "blob read from peers refused: too many in progress");
            return Err(BlobError::Busy);
        };
        // One holder at a time (asking all at once would start as many transfers), in
        // the order `copy_targets` gives (nodes declared down last).
        let deadline = tokio::time::Instant::now() + PEER_READ;
        for (peer, addr) in self.holders(name) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            if let Some(blob) = self.fetch(peer, &addr, name, left.min(PEER_ASK)).await {
                return Ok(Some(blob));
            }
        }
        Ok(None)
    }

    /// Deletes the local copy and asks every other member to delete theirs; members
    /// that cannot be reached keep an orphan copy (harmless: no record points to it).
    async fn delete(&self, name: &BlobName) -> Result<bool, BlobError> {
        let mut deleted = self.local.delete(name).await?;
        let asks = self.copy_targets().into_iter().map(|(peer, addr)| async move {
            let resp = self.request(reqwest::Method::DELETE, &addr, name).timeout(READ_START).send().await;
            match resp {
                Ok(resp) => resp.status() == StatusCode::NO_CONTENT,
                Err(e) => {
                    tracing::warn!(peer, blob = %name, error = %e, "blob delete on peer failed");
                    false
                }
            }
        });
        deleted |= futures::future::join_all(asks).await.into_iter().any(|d| d);
        Ok(deleted)
    }

    async fn exists(&self, name: &BlobName) -> Result<bool, BlobError> {
        if self.local.exists(name).await? {
            return Ok(true);
        }
        for (_, addr) in self.read_targets(name) {
            let resp = self.request(reqwest::Method::HEAD, &addr, name).timeout(READ_START).send().await;
            if resp.is_ok_and(|r| r.status() == StatusCode::OK) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
