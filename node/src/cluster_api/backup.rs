//! `GET /admin/backup` on the cluster listener: the leader streams a backup of the
//! cluster (chat-raft `backup` for the file format, docs/operations.md "Backup and
//! restore"). `chatctl backup` finds the leader and saves the stream to a file.
//!
//! The backup reflects one committed index: the control state is copied at the
//! leader's applied index (everything applied is committed), the message store is
//! exported as of that index (later appends are left out) and the bytes of every file
//! recorded at that point are copied in. The cluster keeps serving meanwhile: only the
//! copy of the control state is taken under the state machine's lock.
//!
//! The body is produced on a blocking thread and handed to the response through a
//! small bounded channel, so a backup is never held in memory and a slow reader slows
//! the producer instead of filling memory. A failure mid-way ends the stream with an
//! error: the client sees a cut-off body, never a file that looks complete.

use std::io::{self, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::Response;
use chat_raft::backup::{BackupCounts, BackupHeader, BackupWriter, MessageStoreKind, FORMAT_VERSION};
use chat_raft::state_machine::BackupPoint;
use chat_raft::Error;
use chat_storage::BlobName;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::error::ApiError;
use crate::Node;

/// Bytes per chunk handed to the response, and chunks buffered between the producer
/// and the socket: at most about 1 MiB of a backup is in memory at once.
const CHUNK: usize = 64 * 1024;
const CHUNKS_IN_FLIGHT: usize = 16;
/// Response header carrying the backup's index (also in the file's header).
pub(crate) const INDEX_HEADER: &str = "x-backup-index";

type Chunks = mpsc::Sender<io::Result<Bytes>>;

pub(super) async fn backup(State(node): State<Arc<Node>>) -> Result<Response, ApiError> {
    match node.cluster.leader_addr() {
        Some((leader, _)) if leader == node.cluster.id() => {}
        Some((leader, _)) => return Err(Error::NotLeader { leader: Some(leader) }.into()),
        None => return Err(Error::NoLeader.into()),
    }
    let sm = node.cluster.state_machine().clone();
    let point = sm.backup_point();
    let Some(last) = point.last_log_id else {
        return Err(Error::Invalid("the cluster has committed nothing yet".into()).into());
    };
    let embedded = sm.has_message_store();
    let blobs: Vec<String> =
        if embedded { point.state.files.iter().map(|f| f.filename.clone()).collect() } else { Vec::new() };
    let counted = sm.clone();
    let messages = tokio::task::spawn_blocking(move || counted.count_messages_upto(last.index))
        .await
        .map_err(|e| Error::Storage(e.to_string()))?
        .map_err(|e| Error::Storage(e.to_string()))?;
    let header = BackupHeader {
        format_version: FORMAT_VERSION,
        index: last.index,
        term: last.leader_id.term,
        last_log_id: Some(last),
        leader: node.cluster.id(),
        created_at_ms: chrono::Utc::now().timestamp_millis().max(0) as u64,
        message_store: if embedded { MessageStoreKind::Embedded } else { MessageStoreKind::Mongodb },
        counts: BackupCounts { messages, blobs: blobs.len() as u64, ..BackupCounts::of_state(&point.state) },
    };
    tracing::info!(index = header.index, term = header.term, counts = ?header.counts, "backup started");

    let (tx, mut rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let producer = Producer { node: node.clone(), point, header, blobs };
    tokio::task::spawn_blocking(move || {
        let failed = tx.clone();
        if let Err(e) = producer.run(ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) }) {
            tracing::error!(error = %e, "backup failed; the stream is cut off");
            let _ = failed.blocking_send(Err(e));
        }
    });
    let body = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    response.headers_mut().insert(INDEX_HEADER, HeaderValue::from(last.index));
    Ok(response)
}

/// Everything the blocking producer needs.
struct Producer {
    node: Arc<Node>,
    point: BackupPoint,
    header: BackupHeader,
    blobs: Vec<String>,
}

impl Producer {
    fn run(self, out: ChannelWriter) -> io::Result<()> {
        let Producer { node, point, header, blobs } = self;
        let mut writer = BackupWriter::start(out, &header)?;
        let mut section = writer.state_section();
        let messages = node.cluster.state_machine().write_backup_state(&point.state, header.index, &mut section)?;
        section.finish()?;
        // The copy of the control state is the largest thing held: not while files stream.
        drop(point);
        if messages != header.counts.messages {
            return Err(io::Error::other(format!("{messages} messages exported, {} counted", header.counts.messages)));
        }
        for name in &blobs {
            copy_blob(&node, &mut writer, name)?;
        }
        let (out, size) = writer.finish()?;
        out.close()?;
        tracing::info!(index = header.index, size, "backup streamed");
        Ok(())
    }
}

/// Copy one file's bytes, read through the blob store (from a peer if this node holds
/// no copy).
fn copy_blob(node: &Node, writer: &mut BackupWriter<ChannelWriter>, name: &str) -> io::Result<()> {
    let blob_name = BlobName::parse(name).map_err(|e| io::Error::other(format!("file {name}: {e}")))?;
    let blobs = node.blobs.clone();
    let clients = &node.clients;
    let blob = clients
        .block_on(async { blobs.get(&blob_name).await })
        .map_err(io::Error::other)?
        .ok_or_else(|| io::Error::other(format!("file {name} is on no reachable node (deleted meanwhile?)")))?;
    writer.begin_blob(name, blob.size)?;
    let mut body = blob.body;
    let mut copied = 0u64;
    while let Some(chunk) = clients.block_on(body.next()) {
        let chunk = chunk?;
        copied += chunk.len() as u64;
        if copied > blob.size {
            break;
        }
        writer.blob_bytes(&chunk)?;
    }
    if copied != blob.size {
        return Err(io::Error::other(format!("file {name}: {copied} bytes read, {} expected", blob.size)));
    }
    Ok(())
}

/// A `Write` that hands chunks of [`CHUNK`] bytes to the response body, waiting while
/// the channel is full.
struct ChannelWriter {
    tx: Chunks,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the backup client went away"))
    }

    /// Send what is buffered; the stream ends when the writer is dropped.
    fn close(mut self) -> io::Result<()> {
        self.send()
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks go out when full or at the end; a flush mid-stream would only make
        // them smaller.
        Ok(())
    }
}
