//! The one error type of chat-storage. Every variant means "this node's disk or data is
//! broken": there is nothing here a caller could retry elsewhere.

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// sled could not open, read, write or flush.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A value could not be turned into JSON.
    #[error("cannot encode {what}")]
    Encode { what: &'static str, source: serde_json::Error },
    /// Stored bytes are not the JSON we wrote: the data is corrupt or from another format.
    #[error("cannot decode {what}")]
    Decode { what: &'static str, source: serde_json::Error },
}
