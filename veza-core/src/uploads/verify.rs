//! The checks on one append's body as it streams to its part blob: it may not run past the
//! upload's length, and with a declared checksum its digest must match at its end. A body that
//! breaks either fails the stream, so the blob store keeps nothing of it.

use bytes::Bytes;
use futures_core::Stream;
use sha1::{Digest, Sha1};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use super::UploadChecksum;
use crate::blobs::{BlobBody, BlobError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// More bytes than the upload has left.
    TooLong,
    ChecksumMismatch,
}

#[derive(Default)]
struct State {
    seen: u64,
    hasher: Option<(Sha1, [u8; 20])>,
    failure: Option<Failure>,
}

/// The outcome half of a verified body.
#[derive(Clone)]
pub(crate) struct Verification(Arc<Mutex<State>>);

impl Verification {
    /// Wraps `body` so that it fails at the chunk that takes it past `remaining` bytes, and
    /// at its end if its digest differs from `checksum`.
    pub fn wrap(
        body: BlobBody,
        remaining: u64,
        checksum: Option<UploadChecksum>,
    ) -> (BlobBody, Self) {
        let hasher = checksum.map(|UploadChecksum::Sha1(expected)| (Sha1::new(), expected));
        let verification = Self(Arc::new(Mutex::new(State { hasher, ..State::default() })));
        let stream = VerifiedBody { inner: body, remaining, verification: verification.clone() };
        (BlobBody::new(stream), verification)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn failure(&self) -> Option<Failure> {
        self.lock().failure
    }
}

struct VerifiedBody {
    inner: BlobBody,
    remaining: u64,
    verification: Verification,
}

impl Stream for VerifiedBody {
    type Item = Result<Bytes, BlobError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.verification.failure().is_some() {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        let mut state = self.verification.lock();
        let failure = match &polled {
            Poll::Ready(Some(Ok(chunk))) => {
                state.seen += chunk.len() as u64;
                if let Some((hasher, _)) = &mut state.hasher {
                    hasher.update(chunk);
                }
                (state.seen > self.remaining).then_some(Failure::TooLong)
            }
            Poll::Ready(None) => state.hasher.take().and_then(|(hasher, expected)| {
                (hasher.finalize()[..] != expected[..]).then_some(Failure::ChecksumMismatch)
            }),
            Poll::Ready(Some(Err(_))) | Poll::Pending => None,
        };
        match failure {
            None => polled,
            Some(failure) => {
                state.failure = Some(failure);
                Poll::Ready(Some(Err(BlobError::backend(format!("append refused: {failure:?}")))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: &[&'static [u8]]) -> BlobBody {
        let chunks: Vec<Result<Bytes, BlobError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        BlobBody::new(futures_util::stream::iter(chunks))
    }

    fn sha1(bytes: &[u8]) -> UploadChecksum {
        UploadChecksum::Sha1(Sha1::digest(bytes).into())
    }

    #[tokio::test]
    async fn a_body_within_its_length_and_matching_its_checksum_passes_whole() {
        let (body, verification) =
            Verification::wrap(body(&[b"hello ", b"world"]), 11, Some(sha1(b"hello world")));
        assert_eq!(body.collect().await.unwrap(), b"hello world");
        assert_eq!(verification.failure(), None);
    }

    #[tokio::test]
    async fn a_wrong_checksum_fails_the_body_at_its_end() {
        let (body, verification) =
            Verification::wrap(body(&[b"hello ", b"world"]), 100, Some(sha1(b"hello there")));
        assert!(body.collect().await.is_err());
        assert_eq!(verification.failure(), Some(Failure::ChecksumMismatch));
    }

    #[tokio::test]
    async fn a_body_longer_than_what_is_left_fails_at_the_chunk_that_crosses() {
        let (body, verification) = Verification::wrap(body(&[b"1234", b"5678", b"9"]), 6, None);
        assert!(body.collect().await.is_err());
        assert_eq!(verification.failure(), Some(Failure::TooLong));
    }
}
