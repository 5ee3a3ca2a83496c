//! [`DirBlobStore`]: blobs as files in one directory (`<data_dir>/blobs`), profile
//! images in its `profiles/` subdirectory.
//!
//! A put writes a temporary file next to the target, flushes it and renames it into
//! place, so a concurrent reader sees the old blob, the new one or none, never a
//! prefix; the directory is flushed too so the rename survives a crash.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::{Blob, BlobError, BlobName, BlobStore, Placement};

/// Read chunk size when streaming a blob out.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct DirBlobStore {
    root: PathBuf,
}

impl DirBlobStore {
    /// Open (creating) the store in `root`.
    pub fn open(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root.join(super::PROFILES))?;
        Ok(Self { root: root.to_owned() })
    }

    pub fn root(&self) -> &Path {
        &self.root
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
        let target = self.path(name);
        let dir = target.parent().expect("a blob path has a parent").to_owned();
        let tmp = dir.join(format!(".tmp-{:016x}", rand::random::<u64>()));
        let written = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            file.write_all(&bytes).await?;
            file.sync_all().await?;
            tokio::fs::rename(&tmp, &target).await?;
            tokio::fs::File::open(&dir).await?.sync_all().await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
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
