//! Opening the node's sled databases (the Raft log, the embedded messages) with a
//! bounded page cache. sled's own default is 1 GiB per database, which a busy node
//! fills with pages it has written once and never reads again: under a chat load the
//! resident memory grew past 800 MB. Reads that miss the cache go to the OS page
//! cache, which the kernel can reclaim.

use std::path::Path;

use crate::Error;

/// Page cache of each database when the caller does not choose one.
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

/// Open (or create) the sled database at `path` with a page cache of `cache_bytes`.
pub fn open(path: &Path, cache_bytes: u64) -> Result<sled::Db, Error> {
    Ok(sled::Config::new().path(path).cache_capacity(cache_bytes).open()?)
}
