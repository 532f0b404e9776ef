//! Receiving an original, whichever edge it comes through (a multipart upload, a finished
//! tus upload, `veza track import`): the bytes stream into a staging object while they are
//! counted against the upload limit, recognised by their first bytes and hashed; a body that
//! breaks a rule is refused at the chunk that breaks it and nothing is kept. The staged object
//! is then scanned and, if clean, moved to its content-addressed key
//! `tracks/<sha256[..2]>/<sha256>.<ext>`, so the same file uploaded twice is stored once.

use bytes::Bytes;
use futures_core::Stream;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use crate::blobs::{BlobBody, BlobError, BlobKey};
use crate::media::{AudioFormat, SNIFF_LEN, detect_audio_format};

/// An original that passed every check and is stored under its content-addressed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOriginal {
    pub blob: BlobKey,
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

#[derive(Default)]
struct Tally {
    seen: u64,
    head: Vec<u8>,
    format: Option<AudioFormat>,
    hasher: Sha256,
    refusal: Option<Refusal>,
    ended: bool,
}

/// The shared view of an inspected body: the stream half goes to the blob store, this half
/// reads the outcome once the store is done with it.
#[derive(Clone)]
pub(crate) struct Inspection(Arc<Mutex<Tally>>);

impl Inspection {
    /// Wraps `body` so that it fails, at the first chunk that breaks a rule, once it exceeds
    /// `limit` bytes or its first bytes are not a supported audio format, and at its end if it
    /// was empty.
    pub fn wrap(body: BlobBody, limit: u64) -> (BlobBody, Self) {
        let inspection = Self(Arc::default());
        let stream = InspectedBody { inner: body, limit, inspection: inspection.clone() };
        (BlobBody::new(stream), inspection)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rule the body broke, if it broke one.
    pub fn refusal(&self) -> Option<Refusal> {
        self.lock().refusal
    }

    /// The outcome of a body read to its end within the rules; `None` otherwise.
    pub fn finish(&self) -> Option<Inspected> {
        let mut tally = self.lock();
        if !tally.ended || tally.refusal.is_some() {
            return None;
        }
        let hasher = std::mem::take(&mut tally.hasher);
        Some(Inspected {
            format: tally.format?,
            size_bytes: tally.seen,
            sha256: hex(&hasher.finalize()),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Tally {
    /// Takes one chunk; `Err` with the rule it breaks.
    fn take(&mut self, chunk: &Bytes, limit: u64) -> Result<(), Refusal> {
        self.seen += chunk.len() as u64;
        if self.seen > limit {
            return Err(Refusal::TooLarge { limit });
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

    /// The end of the body: a short file is judged on the bytes it has.
    fn end(&mut self) -> Result<(), Refusal> {
        self.ended = true;
        if self.seen == 0 {
            return Err(Refusal::Empty);
        }
        if self.format.is_none() {
            self.format = Some(detect_audio_format(&self.head).ok_or(Refusal::NotAudio)?);
        }
        Ok(())
    }
}

struct InspectedBody {
    inner: BlobBody,
    limit: u64,
    inspection: Inspection,
}

impl InspectedBody {
    fn refuse(&self, refusal: Refusal) -> Poll<Option<Result<Bytes, BlobError>>> {
        self.inspection.lock().refusal = Some(refusal);
        Poll::Ready(Some(Err(BlobError::backend(format!("upload refused: {refusal:?}")))))
    }
}

impl Stream for InspectedBody {
    type Item = Result<Bytes, BlobError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.inspection.lock().refusal.is_some() {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        let outcome = match &polled {
            Poll::Ready(Some(Ok(chunk))) => self.inspection.lock().take(chunk, self.limit),
            Poll::Ready(None) => self.inspection.lock().end(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => Ok(()),
        };
        match outcome {
            Ok(()) => polled,
            Err(refusal) => self.refuse(refusal),
        }
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

    fn body(chunks: &[&'static [u8]]) -> BlobBody {
        let chunks: Vec<Result<Bytes, BlobError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        BlobBody::new(futures_util::stream::iter(chunks))
    }

    async fn inspect(
        chunks: &[&'static [u8]],
        limit: u64,
    ) -> (Result<Vec<u8>, BlobError>, Inspection) {
        let (body, inspection) = Inspection::wrap(body(chunks), limit);
        (body.collect().await, inspection)
    }

    #[tokio::test]
    async fn audio_split_into_tiny_chunks_is_recognised_counted_and_hashed() {
        let (read, inspection) =
            inspect(&[b"f", b"La", b"C\0\0\0", b"\x22\0\0\0\0", b"rest of the file"], 1000).await;
        assert_eq!(read.unwrap().len(), 28);
        let inspected = inspection.finish().expect("accepted");
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
        assert!(inspection.finish().is_none());
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
