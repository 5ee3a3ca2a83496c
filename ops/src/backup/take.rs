//! `chatctl backup`: find the leader, stream its `/admin/backup` into `FILE.part`,
//! verify the whole file, then rename it to `FILE`. A backup cut off or damaged on
//! the way never gets the final name.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chat_raft::api::SECRET_HEADER;
use chat_raft::backup::{BackupCounts, BackupHeader, MessageStoreKind};
use chat_raft::NodeId;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::progress::Progress;
use super::verify;
use crate::status;
use crate::target::Target;
use crate::Error;

/// Tries when the leader changes between finding it and asking it.
const ATTEMPTS: usize = 3;
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// Time for the leader to start answering (it counts the messages first).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What `chatctl backup --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    pub file: PathBuf,
    /// The committed log index the backup reflects.
    pub index: u64,
    pub term: u64,
    /// The leader that produced it.
    pub leader: NodeId,
    pub message_store: MessageStoreKind,
    pub counts: BackupCounts,
    /// Size of the file in bytes.
    pub bytes: u64,
    pub took_ms: u64,
}

impl BackupSummary {
    fn new(file: &Path, header: BackupHeader, bytes: u64, took: Duration) -> Self {
        Self {
            file: file.to_path_buf(),
            index: header.index,
            term: header.term,
            leader: header.leader,
            message_store: header.message_store,
            counts: header.counts,
            bytes,
            took_ms: took.as_millis() as u64,
        }
    }
}

/// Take a backup of `target` into `out` (which must not exist yet).
pub async fn take(target: &Target, out: &Path) -> Result<BackupSummary, Error> {
    if out.exists() {
        return Err(Error::Usage(format!("{} exists already; give a new file name", out.display())));
    }
    let started = Instant::now();
    let part = part_path(out);
    let secret = target.secret()?;
    let http =
        reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().map_err(network("chatctl"))?;
    let mut attempt = 0;
    let response = loop {
        attempt += 1;
        let (_, _, merged) = status::gather(target).await?;
        let leader = merged.leader_node().ok_or(Error::NoLeader)?;
        let label = format!("{} ({})", leader.id, leader.cluster);
        tracing::info!(leader = %label, "taking a backup through the leader");
        let sent = http.get(format!("http://{}/admin/backup", leader.cluster)).header(SECRET_HEADER, &secret).send();
        // Only the start is bounded: the body of a large backup takes what it takes.
        let response = tokio::time::timeout(START_TIMEOUT, sent)
            .await
            .map_err(|_| Error::Timeout { what: format!("node {label} to start the backup"), after: START_TIMEOUT })?;
        let response = response.map_err(network(&label))?;
        if response.status().is_success() {
            break (label, response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let error = serde_json::from_str::<chat_raft::api::ErrorBody>(&body).map(|b| b.error).unwrap_or(body);
        let moved = status == chat_raft::client::NOT_LEADER || status == reqwest::StatusCode::SERVICE_UNAVAILABLE;
        if moved && attempt < ATTEMPTS {
            tracing::info!(%error, "the leader moved; asking again");
            tokio::time::sleep(RETRY_AFTER).await;
            continue;
        }
        return Err(Error::Api {
            node: label,
            source: chat_raft::Error::Remote { status: status.as_u16(), message: error },
        });
    };
    let (label, response) = response;
    let downloaded = download(response, &part).await.map_err(|e| match e {
        Download::Stream(e) => Error::Api {
            node: label.clone(),
            source: chat_raft::Error::Network(format!("the backup stream broke off: {e}")),
        },
        Download::File(e) => Error::Io { path: part.clone(), source: e },
    });
    let verified = downloaded.and_then(|_| verify(&part));
    let (header, bytes) = match verified {
        Ok(verified) => verified,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, out).map_err(Error::io(out))?;
    Ok(BackupSummary::new(out, header, bytes, started.elapsed()))
}

/// `FILE.part` next to `FILE`.
fn part_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    out.with_file_name(name)
}

enum Download {
    Stream(reqwest::Error),
    File(std::io::Error),
}

async fn download(mut response: reqwest::Response, part: &Path) -> Result<(), Download> {
    let mut file = tokio::fs::File::create(part).await.map_err(Download::File)?;
    let mut progress = Progress::new("backup received", None);
    while let Some(chunk) = response.chunk().await.map_err(Download::Stream)? {
        file.write_all(&chunk).await.map_err(Download::File)?;
        progress.add(chunk.len() as u64);
    }
    file.flush().await.map_err(Download::File)?;
    file.sync_all().await.map_err(Download::File)
}

fn network(node: &str) -> impl FnOnce(reqwest::Error) -> Error + '_ {
    move |e| Error::Api { node: node.to_owned(), source: chat_raft::Error::Network(e.to_string()) }
}
