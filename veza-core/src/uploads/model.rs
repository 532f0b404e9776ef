use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use uuid::Uuid;

use super::UploadError;
use crate::blobs::BlobKey;

/// An upload in progress: `offset` of its `length` bytes are stored, as parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub length: u64,
    pub offset: u64,
    pub metadata: UploadMetadata,
    pub created_at: OffsetDateTime,
    /// After this instant the upload is gone for its owner too; a job removes it then.
    pub expires_at: OffsetDateTime,
}

impl Upload {
    pub fn is_complete(&self) -> bool {
        self.offset == self.length
    }
}

/// An upload to record, at offset 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub length: u64,
    pub metadata: UploadMetadata,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// One append: `size` bytes at `offset`, stored under `blob`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPart {
    pub offset: u64,
    pub blob: BlobKey,
    pub size: u64,
}

/// What recording an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Recorded; the upload is now at `offset`.
    Appended { offset: u64 },
    /// Not recorded: the upload is at `offset`, not where the part starts, or the part would
    /// run past its length.
    Refused { offset: u64 },
    /// Not recorded: no such upload, or it has expired.
    Missing,
}

/// Which uploads a removal may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveIf {
    /// One no request is turning into a track (termination).
    Unclaimed,
    /// An expired one no request is turning into a track (the expiry job).
    ExpiredAndUnclaimed,
    /// Whatever its state (the request that turned it into a track).
    Any,
}

/// Largest `Upload-Metadata` accepted: tus clients send a name and a type, not essays.
const MAX_METADATA_BYTES: usize = 4096;

/// What Veza keeps of the client's `Upload-Metadata`: the file name and a title, either
/// of which can name the track when the final request gives no title.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadMetadata {
    pub filename: Option<String>,
    pub title: Option<String>,
}

impl UploadMetadata {
    /// Parses tus's `key base64value,key2 base64value2` (a value may be absent). Keys must be
    /// unique; other keys than `filename` and `title` (e.g. `filetype`) are accepted and
    /// dropped.
    ///
    /// # Errors
    /// `BadMetadata` for a header over 4 KiB, a repeated or malformed key, bad base64, or a
    /// kept value that is not UTF-8.
    pub fn parse(header: &str) -> Result<Self, UploadError> {
        if header.len() > MAX_METADATA_BYTES {
            return Err(UploadError::BadMetadata("longer than 4 KiB"));
        }
        let mut metadata = Self::default();
        let mut seen = Vec::new();
        for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = match pair.split_once(' ') {
                Some((key, value)) => (key, Some(value.trim())),
                None => (pair, None),
            };
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(UploadError::BadMetadata("a key is not printable ASCII"));
            }
            if seen.contains(&key) {
                return Err(UploadError::BadMetadata("a key is repeated"));
            }
            seen.push(key);
            let decoded = value
                .map(|v| STANDARD.decode(v))
                .transpose()
                .map_err(|_| UploadError::BadMetadata("a value is not base64"))?;
            let slot = match key {
                "filename" => &mut metadata.filename,
                "title" => &mut metadata.title,
                _ => continue,
            };
            *slot = decoded
                .map(String::from_utf8)
                .transpose()
                .map_err(|_| UploadError::BadMetadata("a value is not UTF-8"))?
                .filter(|v| !v.trim().is_empty());
        }
        Ok(metadata)
    }

    /// The stored form: the kept pairs in tus's own syntax, which `parse` reads back.
    pub fn to_stored(&self) -> String {
        [("filename", &self.filename), ("title", &self.title)]
            .into_iter()
            .filter_map(|(key, value)| {
                value.as_ref().map(|v| format!("{key} {}", STANDARD.encode(v)))
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads what `to_stored` wrote; anything else reads as no metadata.
    pub fn from_stored(stored: &str) -> Self {
        Self::parse(stored).unwrap_or_default()
    }

    /// The title to use when the client gives none: the declared title, else the file name
    /// without its extension.
    pub fn default_title(&self) -> Option<String> {
        self.title.clone().or_else(|| {
            self.filename.as_deref().map(|name| {
                let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
                match base.rsplit_once('.') {
                    Some((stem, _)) if !stem.is_empty() => stem.to_owned(),
                    _ => base.to_owned(),
                }
            })
        })
    }
}

/// The digest a client declared for one append (`Upload-Checksum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadChecksum {
    Sha1([u8; 20]),
}

impl UploadChecksum {
    /// Parses `<algorithm> <base64 digest>`; only `sha1` is supported.
    ///
    /// # Errors
    /// `UnsupportedChecksum` for another algorithm, `BadChecksum` for a malformed value.
    pub fn parse(header: &str) -> Result<Self, UploadError> {
        let (algorithm, digest) = header
            .trim()
            .split_once(' ')
            .ok_or(UploadError::BadChecksum("expected `sha1 <base64 digest>`"))?;
        if !algorithm.eq_ignore_ascii_case("sha1") {
            return Err(UploadError::UnsupportedChecksum);
        }
        let bytes = STANDARD
            .decode(digest.trim())
            .map_err(|_| UploadError::BadChecksum("the digest is not base64"))?;
        let digest =
            bytes.try_into().map_err(|_| UploadError::BadChecksum("a sha1 digest is 20 bytes"))?;
        Ok(Self::Sha1(digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn metadata_keeps_filename_and_title_and_drops_other_keys() {
        let header = format!(
            "filename {},filetype {},title {},is_confidential",
            b64("night drive.mp3"),
            b64("audio/mpeg"),
            b64("Night Drive")
        );
        let metadata = UploadMetadata::parse(&header).unwrap();
        assert_eq!(metadata.filename.as_deref(), Some("night drive.mp3"));
        assert_eq!(metadata.title.as_deref(), Some("Night Drive"));
        assert_eq!(UploadMetadata::from_stored(&metadata.to_stored()), metadata);
        assert_eq!(UploadMetadata::parse("").unwrap(), UploadMetadata::default());
    }

    #[test]
    fn hostile_metadata_is_refused() {
        for header in [
            "filename !!!notbase64",
            &format!("title {},title {}", b64("a"), b64("b")),
            &format!("title {}", STANDARD.encode([0xff, 0xfe])),
            &"x".repeat(5000),
            "k\u{e9}y abc=",
        ] {
            assert!(
                matches!(UploadMetadata::parse(header), Err(UploadError::BadMetadata(_))),
                "{header:?}"
            );
        }
    }

    #[test]
    fn the_default_title_is_the_title_else_the_file_stem() {
        let named =
            |filename: &str| UploadMetadata { filename: Some(filename.into()), title: None };
        assert_eq!(named("dir/Song One.flac").default_title().as_deref(), Some("Song One"));
        assert_eq!(named(".hidden").default_title().as_deref(), Some(".hidden"));
        let titled = UploadMetadata { title: Some("T".into()), ..named("x.mp3") };
        assert_eq!(titled.default_title().as_deref(), Some("T"));
        assert_eq!(UploadMetadata::default().default_title(), None);
    }

    #[test]
    fn checksums_name_sha1_and_a_20_byte_digest() {
        let digest = STANDARD.encode([7u8; 20]);
        assert_eq!(
            UploadChecksum::parse(&format!("sha1 {digest}")).unwrap(),
            UploadChecksum::Sha1([7; 20])
        );
        assert!(matches!(
            UploadChecksum::parse(&format!("md5 {digest}")),
            Err(UploadError::UnsupportedChecksum)
        ));
        for bad in ["sha1", "sha1 ***", &format!("sha1 {}", STANDARD.encode([1u8; 16]))] {
            assert!(
                matches!(UploadChecksum::parse(bad), Err(UploadError::BadChecksum(_))),
                "{bad}"
            );
        }
    }
}
