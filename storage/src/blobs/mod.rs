//! The file plane's storage (architecture §3.2): the bytes of chat uploads and profile
//! images. Their metadata (who uploaded what, which rooms may read it, which nodes hold
//! it) is control state in `chat_raft::state::Files`.
//!
//! - `name.rs`: [`BlobName`], the only names a store accepts (server-generated);
//! - `dir.rs`: [`DirBlobStore`], one directory on this node's disk;
//! - `staged.rs`: [`StagedBlob`], an incoming blob streamed to a temporary file;
//! - `embedded.rs`: [`EmbeddedBlobStore`], a directory per node with every blob copied
//!   to at least two nodes before `put` returns, readable from any node;
//! - `gridfs.rs`: [`GridFsBlobStore`], blobs in MongoDB GridFS when MongoDB is configured;
//! - [`conformance`]: the checks every implementation must pass.

pub mod conformance;
mod dir;
mod embedded;
mod gridfs;
mod name;
mod staged;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use chat_raft::NodeId;
use futures::Stream;

pub use dir::DirBlobStore;
pub use embedded::{EmbeddedBlobStore, BLOBS_PATH, MIN_COPIES};
pub use gridfs::GridFsBlobStore;
pub use name::{BlobName, InvalidBlobName, PROFILES};
pub use staged::{StagedBlob, MAX_BLOB_BYTES};

/// The bytes of a blob as they are read: chunks, never the whole file in memory.
pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// An open blob.
pub struct Blob {
    pub size: u64,
    pub body: BlobStream,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob").field("size", &self.size).finish_non_exhaustive()
    }
}

/// Where a stored blob ended up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The cluster nodes that hold a copy (recorded in the file's metadata so readers
    /// know whom to ask). Empty for stores that are not node-local (one directory,
    /// GridFS).
    pub holders: Vec<NodeId>,
}

/// Why a blob operation failed. Callers branch on it: `Unreplicated` may succeed when
/// retried (a peer comes back), `Io` means this node's disk is broken.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes could not be copied to enough nodes; nothing was acknowledged.
    #[error("stored on {stored} node(s), {wanted} needed")]
    Unreplicated { stored: usize, wanted: usize },
    /// This node is already asking peers for as many blobs as it allows at once; nothing
    /// was asked (a flood of reads of copies held elsewhere must not tie the node up).
    #[error("too many blob reads from peers in progress")]
    Busy,
}

/// Bytes by [`BlobName`]. Object safe (`Arc<dyn BlobStore>`).
///
/// Rules for implementations (checked by [`conformance`]):
/// - `put` is durable and atomic when it returns: a reader sees the whole blob or none,
///   never a prefix. Putting an existing name replaces it.
/// - `get` of a missing name is `Ok(None)`, never an error.
/// - `delete` is idempotent and reports whether something was deleted.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, name: &BlobName, bytes: Bytes) -> Result<Placement, BlobError>;

    /// Store a blob that was streamed to disk ([`DirBlobStore::stage`]) under `name`,
    /// with the rules of `put`, without reading it whole into memory: the node-local
    /// stores move the file into place and stream it to peers, GridFS reads it in
    /// batches of chunks. The staged file is gone afterwards, whatever the result.
    async fn put_staged(&self, name: &BlobName, staged: StagedBlob) -> Result<Placement, BlobError>;

    async fn get(&self, name: &BlobName) -> Result<Option<Blob>, BlobError>;

    async fn delete(&self, name: &BlobName) -> Result<bool, BlobError>;

    async fn exists(&self, name: &BlobName) -> Result<bool, BlobError>;
}

/// Read a whole blob into memory (tests, small files).
pub async fn read_all(blob: Blob) -> Result<Vec<u8>, BlobError> {
    use futures::TryStreamExt;
    let mut out = Vec::with_capacity(blob.size as usize);
    let mut body = blob.body;
    while let Some(chunk) = body.try_next().await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
