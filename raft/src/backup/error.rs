//! Why a backup file is refused. Every variant names what was wrong, so an operator
//! can tell a copy cut short from a damaged one from a file of another version.

/// A backup file that cannot be read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum BackupFormatError {
    #[error("not a chat cluster backup (the file does not start with the backup magic)")]
    NotABackup,
    #[error("backup format version {found} is not supported (this chatctl reads version {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("the backup file is truncated: it ends inside {0}")]
    Truncated(&'static str),
    #[error("the backup file is corrupt: {0}")]
    Corrupt(String),
    #[error("the backup file is corrupt: its sha256 checksum does not match its contents")]
    ChecksumMismatch,
    #[error("backup i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl BackupFormatError {
    /// An end of file met while reading `what` is truncation, not an i/o failure.
    pub(super) fn reading(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Self::Truncated(what),
            _ => match e.get_ref().and_then(|inner| inner.downcast_ref::<SectionCorrupt>()) {
                Some(corrupt) => Self::Corrupt(corrupt.0.clone()),
                None => Self::Io(e),
            },
        }
    }
}

/// Carried inside an `io::Error` by a section reader (whose `Read` impl can only
/// return `io::Error`), turned back into [`BackupFormatError::Corrupt`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct SectionCorrupt(pub String);
