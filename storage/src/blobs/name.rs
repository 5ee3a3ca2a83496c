//! Blob names: the only names a blob store accepts are the ones the server generates
//! (protocol §5.2), so a name from a URL can never reach outside the store's directory.

use std::fmt;

use chat_raft::command::Millis;

/// Prefix of profile images inside a store.
pub const PROFILES: &str = "profiles/";

/// A validated blob name: `<epochMillis>_<16 lowercase hex>[.<ext>]`, or the same under
/// `profiles/`. `ext` is 1..=16 lowercase ASCII letters or digits. Nothing else (no
/// `..`, no other slash, no backslash, no NUL, no absolute path, no uppercase) parses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobName(String);

/// A name that is not of the server-generated shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a stored file name")]
pub struct InvalidBlobName;

impl BlobName {
    pub fn parse(name: &str) -> Result<Self, InvalidBlobName> {
        let base = name.strip_prefix(PROFILES).unwrap_or(name);
        if is_base_name(base) {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidBlobName)
        }
    }

    /// A fresh name for an upload at `now` with the (already lowercased) extension.
    pub fn generate(profile: bool, now: Millis, ext: Option<&str>) -> Result<Self, InvalidBlobName> {
        let prefix = if profile { PROFILES } else { "" };
        let suffix = ext.map(|e| format!(".{e}")).unwrap_or_default();
        Self::parse(&format!("{prefix}{now}_{:016x}{suffix}", rand::random::<u64>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_profile(&self) -> bool {
        self.0.starts_with(PROFILES)
    }

    /// The name without the `profiles/` prefix.
    pub fn base(&self) -> &str {
        self.0.strip_prefix(PROFILES).unwrap_or(&self.0)
    }

    /// The extension, if any.
    pub fn extension(&self) -> Option<&str> {
        self.base().split_once('.').map(|(_, ext)| ext)
    }
}

impl fmt::Display for BlobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_base_name(name: &str) -> bool {
    let (stem, ext) = match name.split_once('.') {
        Some((stem, ext)) => (stem, Some(ext)),
        None => (name, None),
    };
    let Some((millis, hex)) = stem.split_once('_') else {
        return false;
    };
    let millis_ok = (1..=16).contains(&millis.len()) && millis.bytes().all(|b| b.is_ascii_digit());
    let hex_ok = hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ext_ok = ext
        .is_none_or(|e| (1..=16).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    millis_ok && hex_ok && ext_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_parse_and_others_do_not() {
        for good in [
            "1731900000123_0123456789abcdef.jpg",
            "1731900000123_0123456789abcdef",
            "profiles/1731900000123_0123456789abcdef.png",
            "1_ffffffffffffffff.mp4",
        ] {
            assert!(BlobName::parse(good).is_ok(), "{good} must parse");
        }
        for bad in [
            "",
            "..",
            "../1731900000123_0123456789abcdef.jpg",
            "1731900000123_0123456789abcdef.jpg/..",
            "/1731900000123_0123456789abcdef.jpg",
            "/etc/passwd",
            "1731900000123_0123456789abcdef.jpg\0",
            "1731900000123_0123456789abcdef.j\0g",
            "profiles\\1731900000123_0123456789abcdef.jpg",
            "profiles/profiles/1731900000123_0123456789abcdef.jpg",
            "other/1731900000123_0123456789abcdef.jpg",
            "1731900000123_0123456789ABCDEF.jpg",
            "1731900000123_0123456789abcde.jpg",
            "1731900000123_0123456789abcdef.JPG",
            "1731900000123_0123456789abcdef.",
            "1731900000123_0123456789abcdef.tar.gz",
            "x1731900000123_0123456789abcdef.jpg",
            "1731900000123-0123456789abcdef.jpg",
            "1731900000123_0123456789abcdef.jpg ",
        ] {
            assert_eq!(BlobName::parse(bad), Err(InvalidBlobName), "{bad:?} must not parse");
        }
    }

    #[test]
    fn generate_and_accessors() {
        let name = BlobName::generate(true, 1_731_900_000_123, Some("webp")).unwrap();
        assert!(name.is_profile());
        assert!(name.as_str().starts_with("profiles/1731900000123_"));
        assert_eq!(name.extension(), Some("webp"));
        assert!(!name.base().contains('/'));
        let plain = BlobName::generate(false, 5, None).unwrap();
        assert!(!plain.is_profile() && plain.extension().is_none());
        assert!(BlobName::generate(false, 5, Some("../x")).is_err());
    }
}
