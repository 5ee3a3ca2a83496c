//! [`DirBlobStore`]: blobs as files in one directory (`<data_dir>/blobs`), profile
//! images in its `profiles/` subdirectory.
//!
//! A put writes a temporary file ([`StagedBlob`]) in the directory, flushes it and
//! renames it into place, so a concurrent reader sees the old blob, the new one or none, never a
//! prefix; the directory is flushed too so the rename survives a crash.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use tokio_util::io::ReaderStream;

use super::staged::STAGING_PREFIX;
use super::{Blob, BlobError, BlobName, BlobStore, Placement, StagedBlob};

/// Read chunk size when streaming a blob out.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct DirBlobStore {
    root: PathBuf,
}

impl DirBlobStore {
    /// Open (creating) the store in `root`. Staged files left by an earlier run (a
    /// crash during an upload) are removed: nothing else writes them, and no blob is
    /// ever named like one.
    pub fn open(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root.join(super::PROFILES))?;
        for dir in [root.to_owned(), root.join(super::PROFILES)] {
            for entry in std::fs::read_dir(&dir)?.flatten() {
                if entry.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(Self { root: root.to_owned() })
    }

    /// An empty [`StagedBlob`] in this directory, for an incoming blob to be written
    /// to chunk by chunk and then given to `put_staged`.
    pub async fn stage(&self) -> io::Result<StagedBlob> {
        StagedBlob::create(&self.root).await
    }

    /// The file of a stored blob (to stream a copy from).
    pub(super) fn file_path(&self, name: &BlobName) -> PathBuf {
        self.path(name)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Blobs of this directory last written before `before` (staged files and
    /// anything not named like a blob are skipped): what a clean-up of copies that no
    /// record points to looks at.
    pub async fn written_before(&self, before: SystemTime) -> io::Result<Vec<BlobName>> {
        let mut found = Vec::new();
        for (dir, prefix) in [(self.root.clone(), ""), (self.root.join(super::PROFILES), super::PROFILES)] {
            let mut entries = tokio::fs::read_dir(&dir).await?;
            while let Some(entry) = entries.next_entry().await? {
                let Ok(name) = BlobName::parse(&format!("{prefix}{}", entry.file_name().to_string_lossy())) else {
                    continue;
                };
                let metadata = entry.metadata().await?;
                if metadata.is_file() && metadata.modified()? < before {
                    found.push(name);
                }
            }
        }
        Ok(found)
    }

    /// Safe by construction: a `BlobName` has no `..`, no leading `/` and at most the
    /// one `profiles/` directory.
    fn path(&self, name: &BlobName) -> PathBuf {
        self.root.join(name.as_str())
    }
}

#[async_trait]
impl BlobStore for DirBlobStore {
    async fn put(&self, name: &BlobName, bytes: Bytes) -> Result<Placement, BlobError> {
        let mut staged = self.stage().await?;
        staged.write(&bytes).await?;
        self.put_staged(name, staged).await
    }

    async fn put_staged(&self, name: &BlobName, staged: StagedBlob) -> Result<Placement, BlobError> {
        let target = self.path(name);
        let dir = target.parent().expect("a blob path has a parent").to_owned();
        // On an error the staged file removes itself when dropped.
        staged.rename_to(&target).await?;
        tokio::fs::File::open(&dir).await?.sync_all().await?;
        Ok(Placement::default())
    }

    async fn get(&self, name: &BlobName) -> Result<Option<Blob>, BlobError> {
        let file = match tokio::fs::File::open(self.path(name)).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        Ok(Some(Blob { size, body: Box::pin(ReaderStream::with_capacity(file, CHUNK)) }))
    }

    async fn delete(&self, name: &BlobName) -> Result<bool, BlobError> {
        match tokio::fs::remove_file(self.path(name)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn exists(&self, name: &BlobName) -> Result<bool, BlobError> {
        Ok(tokio::fs::try_exists(self.path(name)).await?)
    }
}
