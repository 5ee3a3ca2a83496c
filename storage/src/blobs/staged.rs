//! [`StagedBlob`]: an incoming blob written to disk chunk by chunk, before it has a
//! place in a store.
//!
//! Why: an upload of up to [`MAX_BLOB_BYTES`] used to be collected whole in memory,
//! then copied to a peer as one in-memory body; with several at once a node's memory
//! grew by their sum. A staged blob costs one chunk of memory at a time. It lives as a
//! hidden temporary file in the store's directory (the same file system, so moving it
//! into place is a rename), and it removes itself when dropped unless a store took it:
//! a refused or aborted upload leaves no file behind.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

/// Largest blob a node accepts, from a client or from a peer (protocol §3.7: the whole
/// upload request is capped at 50 MiB, so no single file is larger).
pub const MAX_BLOB_BYTES: u64 = 50 * 1024 * 1024;

/// Prefix of staged files; never a valid [`super::BlobName`], so never served.
pub(super) const STAGING_PREFIX: &str = ".tmp-";

#[derive(Debug)]
pub struct StagedBlob {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    size: u64,
    /// Set once a store moved the file into place: nothing left to remove.
    taken: bool,
}

impl StagedBlob {
    /// A new empty staged file in `dir`.
    pub(super) async fn create(dir: &Path) -> io::Result<Self> {
        let path = dir.join(format!("{STAGING_PREFIX}{:016x}", rand::random::<u64>()));
        let file = tokio::fs::File::create(&path).await?;
        Ok(Self { path, file: Some(file), size: 0, taken: false })
    }

    /// Append a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("staged blob already finished"))?;
        file.write_all(chunk).await?;
        self.size += chunk.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flush and sync the bytes: after this the file is complete on disk.
    pub(super) async fn finish(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush().await?;
            file.sync_all().await?;
        }
        Ok(())
    }

    /// Move the finished file to `target` (same file system); from now on it is the
    /// store's, not this value's.
    pub(super) async fn rename_to(mut self, target: &Path) -> io::Result<()> {
        self.finish().await?;
        tokio::fs::rename(&self.path, target).await?;
        self.taken = true;
        Ok(())
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if !self.taken {
            // Synchronous, but only an unlink: the refused upload's file must not outlive it.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
