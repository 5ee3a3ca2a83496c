//! The banned-word filter (protocol §6.7): a message is rejected when its trimmed,
//! lowercased content contains any listed word as a substring. One Aho–Corasick
//! automaton checks all words in a single pass over the message, instead of one
//! substring search per word (protocol §10.17).

use std::path::Path;

use aho_corasick::AhoCorasick;

use crate::Error;

#[derive(Debug)]
pub(crate) struct BannedWords {
    matcher: AhoCorasick,
    count: usize,
}

impl BannedWords {
    /// Load a list: one word per line; blank lines and surrounding spaces ignored.
    pub(crate) fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read banned words file {}: {e}", path.display())))?;
        Self::from_words(text.lines().map(str::trim).filter(|w| !w.is_empty()).map(str::to_lowercase))
    }

    pub(crate) fn from_words(words: impl IntoIterator<Item = String>) -> Result<Self, Error> {
        let words: Vec<String> = words.into_iter().collect();
        let matcher = AhoCorasick::new(&words).map_err(|e| Error::Config(format!("banned words: {e}")))?;
        Ok(Self { matcher, count: words.len() })
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Whether `content` must be rejected.
    pub(crate) fn matches(&self, content: &str) -> bool {
        self.matcher.is_match(&content.trim().to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(words: &[&str]) -> BannedWords {
        BannedWords::from_words(words.iter().map(|w| w.to_string())).unwrap()
    }

    #[test]
    fn substrings_match_case_insensitively() {
        let banned = list(&["spam", "scam99"]);
        assert!(banned.matches("this is SPAM"));
        assert!(banned.matches("antispammer"));
        assert!(banned.matches("  Scam99  "));
        assert!(!banned.matches("spa m"));
        assert!(!banned.matches("hello"));
    }

    #[test]
    fn every_word_of_the_compatibility_list_is_rejected() {
        // The 10k-word list the existing clients are tested with, kept in the repository.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/banned_words_10k.txt");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let banned = BannedWords::load(&path).unwrap();
        assert!(banned.len() >= 10_000);
        for word in text.lines().map(str::trim).filter(|w| !w.is_empty()) {
            assert!(banned.matches(&format!("xx {} yy", word.to_uppercase())), "{word} not rejected");
        }
    }
}
