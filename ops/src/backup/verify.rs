//! Reading a whole backup file and checking it before anything trusts it: the
//! magic, version and header, the framing of every section, and the sha256 over
//! every byte. Nothing is written.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use chat_raft::backup::{BackupFormatError, BackupHeader, BackupReader};

use super::progress::{Counted, Progress};
use crate::Error;

/// Verify the backup at `path`; returns its header and size in bytes.
pub fn verify(path: &Path) -> Result<(BackupHeader, u64), Error> {
    let file = File::open(path).map_err(Error::io(path))?;
    let total = file.metadata().map_err(Error::io(path))?.len();
    let input = BufReader::new(Counted { inner: file, progress: Progress::new("verifying", Some(total)) });
    read_through(input).map_err(|source| Error::BadBackup { path: path.to_path_buf(), source })
}

fn read_through(input: impl std::io::Read) -> Result<(BackupHeader, u64), BackupFormatError> {
    let (mut reader, header) = BackupReader::open(input)?;
    reader.state_section().skip()?;
    let mut blobs = 0;
    while let Some((_, size)) = reader.next_blob()? {
        reader.blob_bytes(size, &mut std::io::sink())?;
        blobs += 1;
    }
    let size = reader.finish()?;
    if blobs != header.counts.blobs {
        return Err(BackupFormatError::Corrupt(format!(
            "the header announces {} files, the file holds {blobs}",
            header.counts.blobs
        )));
    }
    Ok((header, size))
}
