//! Blob keys: the only names a blob store accepts. Parsed once, so no adapter ever sees a key
//! that could climb out of its root (`..`, an absolute path, a backslash, a NUL) or collide
//! with an adapter's own temporary files (names starting with `.` or holding `#`).

use std::fmt;

/// A `/`-separated key of 1–8 segments, each 1–128 of `[A-Za-z0-9._-]` starting with a
/// letter or digit, at most 512 bytes in all (`avatars/3f…9a.png`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid blob key: {0}")]
pub struct BlobKeyError(&'static str);

impl BlobKey {
    pub const MAX_LEN: usize = 512;
    const MAX_SEGMENTS: usize = 8;
    const MAX_SEGMENT_LEN: usize = 128;

    /// # Errors
    /// `BlobKeyError` naming the first rule `raw` breaks.
    pub fn parse(raw: &str) -> Result<Self, BlobKeyError> {
        if raw.is_empty() {
            return Err(BlobKeyError("empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(BlobKeyError("longer than 512 bytes"));
        }
        let segments: Vec<&str> = raw.split('/').collect();
        if segments.len() > Self::MAX_SEGMENTS {
            return Err(BlobKeyError("more than 8 segments"));
        }
        for segment in segments {
            if segment.is_empty() {
                return Err(BlobKeyError("empty segment (leading, trailing or double '/')"));
            }
            if segment.len() > Self::MAX_SEGMENT_LEN {
                return Err(BlobKeyError("segment longer than 128 bytes"));
            }
            if !segment.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                return Err(BlobKeyError("segment must start with a letter or digit"));
            }
            if !segment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
                return Err(BlobKeyError("segment may only hold letters, digits, '.', '_', '-'"));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment's text after its last `.`, if any (`png` of `avatars/ab.png`).
    pub fn extension(&self) -> Option<&str> {
        self.file_name().rsplit_once('.').map(|(_, ext)| ext)
    }

    /// The last segment without its extension (`ab` of `avatars/ab.png`).
    pub fn file_stem(&self) -> &str {
        let name = self.file_name();
        name.rsplit_once('.').map_or(name, |(stem, _)| stem)
    }

    fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobKey({})", self.0)
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_escape_a_root_are_refused() {
        for bad in [
            "",
            "..",
            "../etc/passwd",
            "avatars/../../etc/passwd",
            "/etc/passwd",
            "avatars//a.png",
            "avatars/",
            "a\\b",
            "..\\..\\windows",
            "a/./b",
            ".hidden",
            "avatars/a.png#1",
            "a\0b",
            "avatars/%2e%2e/x",
            "ä",
            "C:/x",
            &"a".repeat(129),
            &["a"; 9].join("/"),
        ] {
            assert!(BlobKey::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ordinary_keys_parse_and_expose_their_parts() {
        let key = BlobKey::parse("avatars/3f9a.png").unwrap();
        assert_eq!(key.as_str(), "avatars/3f9a.png");
        assert_eq!(key.extension(), Some("png"));
        assert_eq!(key.file_stem(), "3f9a");
        let bare = BlobKey::parse("tracks/01J/original").unwrap();
        assert_eq!(bare.extension(), None);
        assert_eq!(bare.file_stem(), "original");
        assert!(BlobKey::parse("a..b/c-d_e.f").is_ok(), "dots inside a segment are harmless");
    }
}
