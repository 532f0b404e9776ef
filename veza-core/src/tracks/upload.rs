//! Receiving an original, whichever edge it comes through (a multipart upload, a finished
//! tus upload, `veza track import`): the bytes stream into a staging object while they are
//! counted against the upload limit, recognised by their first bytes and hashed; a body that
//! breaks a rule is refused at the chunk that breaks it and nothing is kept. The staged object
//! is then scanned and, if clean, moved to its content-addressed key
//! `tracks/<sha256[..2]>/<sha256>.<ext>`, so the same file uploaded twice is stored once.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::blobs::{BlobBody, BlobKey, BodyCheck, CheckedOutcome};
use crate::media::{AudioFormat, SNIFF_LEN, detect_audio_format};

/// An original that passed every check and is stored under its content-addressed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOriginal {
    pub blob: BlobKey,
    /// The staged object `blob` was copied from, kept until a track version names `blob`
    /// (see `removal::settle`).
    pub staged: BlobKey,
    pub format: AudioFormat,
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
}

/// Why a body was refused while it streamed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    TooLarge { limit: u64 },
    NotAudio,
    Empty,
}

/// What the inspection learnt of a body that streamed to its end within the rules.
pub(crate) struct Inspected {
    pub format: AudioFormat,
    pub size_bytes: u64,
    pub sha256: String,
}

/// The checks on an original as it streams in: the upload limit, the format from its first
/// bytes, not empty; hashing it on the way.
pub(crate) struct Inspection {
    limit: u64,
    seen: u64,
    head: Vec<u8>,
    format: Option<AudioFormat>,
    hasher: Sha256,
}

impl Inspection {
    /// Wraps `body` so that it fails, at the first chunk that breaks a rule, once it exceeds
    /// `limit` bytes or its first bytes are not a supported audio format, and at its end if it
    /// was empty.
    pub fn wrap(body: BlobBody, limit: u64) -> (BlobBody, CheckedOutcome<Self>) {
        let inspection =
            Self { limit, seen: 0, head: Vec::new(), format: None, hasher: Sha256::new() };
        body.checked(inspection)
    }

    /// What was learnt of a body that passed (`CheckedOutcome::passed`): its `end` named
    /// the format or refused the body.
    pub fn finish(&mut self) -> Inspected {
        let hasher = std::mem::take(&mut self.hasher);
        Inspected {
            format: self.format.expect("a body that passed its end has a format"),
            size_bytes: self.seen,
            sha256: hex(&hasher.finalize()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl BodyCheck for Inspection {
    type Refusal = Refusal;

    fn chunk(&mut self, chunk: &Bytes) -> Result<(), Refusal> {
        self.seen += chunk.len() as u64;
        if self.seen > self.limit {
            return Err(Refusal::TooLarge { limit: self.limit });
        }
        if self.format.is_none() {
            let wanted = SNIFF_LEN - self.head.len();
            self.head.extend_from_slice(&chunk[..wanted.min(chunk.len())]);
            if self.head.len() == SNIFF_LEN {
                self.format = Some(detect_audio_format(&self.head).ok_or(Refusal::NotAudio)?);
            }
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// A short file is judged on the bytes it has.
    fn end(&mut self) -> Result<(), Refusal> {
        if self.seen == 0 {
            return Err(Refusal::Empty);
        }
        if self.format.is_none() {
            self.format = Some(detect_audio_format(&self.head).ok_or(Refusal::NotAudio)?);
        }
        Ok(())
    }
}

/// The key a checked original is stored under.
pub(crate) fn original_key(inspected: &Inspected) -> BlobKey {
    let digest = &inspected.sha256;
    BlobKey::parse(&format!("tracks/{}/{digest}.{}", &digest[..2], inspected.format.extension()))
        .expect("hex digests and known extensions make valid keys")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::BlobError;

    fn body(chunks: &[&'static [u8]]) -> BlobBody {
        let chunks: Vec<Result<Bytes, BlobError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        BlobBody::new(futures_util::stream::iter(chunks))
    }

    async fn inspect(
        chunks: &[&'static [u8]],
        limit: u64,
    ) -> (Result<Vec<u8>, BlobError>, CheckedOutcome<Inspection>) {
        let (body, inspection) = Inspection::wrap(body(chunks), limit);
        (body.collect().await, inspection)
    }

    #[tokio::test]
    async fn audio_split_into_tiny_chunks_is_recognised_counted_and_hashed() {
        let (read, inspection) =
            inspect(&[b"f", b"La", b"C\0\0\0", b"\x22\0\0\0\0", b"rest of the file"], 1000).await;
        assert_eq!(read.unwrap().len(), 28);
        let inspected = inspection.passed(Inspection::finish).expect("accepted");
        assert_eq!(inspected.format, AudioFormat::Flac);
        assert_eq!(inspected.size_bytes, 28);
        let expected = hex(&Sha256::digest(b"fLaC\0\0\0\x22\0\0\0\0rest of the file"));
        assert_eq!(inspected.sha256, expected);
        let key = original_key(&inspected);
        assert_eq!(key.as_str(), format!("tracks/{}/{expected}.flac", &expected[..2]));
    }

    #[tokio::test]
    async fn a_body_over_the_limit_fails_at_the_chunk_that_crosses_it() {
        let (read, inspection) = inspect(&[b"ID3\x04\0\0\0\0\0\0\0\0", b"12345", b"x"], 14).await;
        assert!(read.is_err());
        assert_eq!(inspection.refusal(), Some(Refusal::TooLarge { limit: 14 }));
        assert!(inspection.passed(Inspection::finish).is_none());
    }

    #[tokio::test]
    async fn non_audio_fails_as_soon_as_its_first_bytes_are_in() {
        let (read, inspection) = inspect(&[b"%PDF-1.7\n%\xe2\xe3\xcf", b"never read"], 1000).await;
        assert!(read.is_err());
        assert_eq!(inspection.refusal(), Some(Refusal::NotAudio));
        let (_, short) = inspect(&[b"%PDF"], 1000).await;
        assert_eq!(short.refusal(), Some(Refusal::NotAudio), "judged at the end when short");
    }

    #[tokio::test]
    async fn an_empty_body_is_refused() {
        let (read, inspection) = inspect(&[], 1000).await;
        assert!(read.is_err());
        assert_eq!(inspection.refusal(), Some(Refusal::Empty));
    }
}
