//! The checks on one append's body as it streams to its part blob: it may not run past the
//! upload's length, and with a declared checksum its digest must match at its end. A body that
//! breaks either fails the stream, so the blob store keeps nothing of it.

use bytes::Bytes;
use sha1::{Digest, Sha1};

use super::UploadChecksum;
use crate::blobs::{BlobBody, BodyCheck, CheckedOutcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// More bytes than the upload has left.
    TooLong,
    ChecksumMismatch,
}

/// The checks on one append's body.
pub(crate) struct Verification {
    remaining: u64,
    seen: u64,
    hasher: Option<(Sha1, [u8; 20])>,
}

impl Verification {
    /// Wraps `body` so that it fails at the chunk that takes it past `remaining` bytes, and
    /// at its end if its digest differs from `checksum`.
    pub fn wrap(
        body: BlobBody,
        remaining: u64,
        checksum: Option<UploadChecksum>,
    ) -> (BlobBody, CheckedOutcome<Self>) {
        let hasher = checksum.map(|UploadChecksum::Sha1(expected)| (Sha1::new(), expected));
        body.checked(Self { remaining, seen: 0, hasher })
    }
}

impl BodyCheck for Verification {
    type Refusal = Failure;

    fn chunk(&mut self, chunk: &Bytes) -> Result<(), Failure> {
        self.seen += chunk.len() as u64;
        if let Some((hasher, _)) = &mut self.hasher {
            hasher.update(chunk);
        }
        if self.seen > self.remaining { Err(Failure::TooLong) } else { Ok(()) }
    }

    fn end(&mut self) -> Result<(), Failure> {
        match self.hasher.take() {
            Some((hasher, expected)) => {
                if hasher.finalize()[..] == expected[..] {
                    Ok(())
                } else {
                    Err(Failure::ChecksumMismatch)
                }
            }
            None => Ok(()),
        }
    }
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

    fn sha1(bytes: &[u8]) -> UploadChecksum {
        UploadChecksum::Sha1(Sha1::digest(bytes).into())
    }

    #[tokio::test]
    async fn a_body_within_its_length_and_matching_its_checksum_passes_whole() {
        let (body, verification) =
            Verification::wrap(body(&[b"hello ", b"world"]), 11, Some(sha1(b"hello world")));
        assert_eq!(body.collect().await.unwrap(), b"hello world");
        assert_eq!(verification.refusal(), None);
    }

    #[tokio::test]
    async fn a_wrong_checksum_fails_the_body_at_its_end() {
        let (body, verification) =
            Verification::wrap(body(&[b"hello ", b"world"]), 100, Some(sha1(b"hello there")));
        assert!(body.collect().await.is_err());
        assert_eq!(verification.refusal(), Some(Failure::ChecksumMismatch));
    }

    #[tokio::test]
    async fn a_body_longer_than_what_is_left_fails_at_the_chunk_that_crosses() {
        let (body, verification) = Verification::wrap(body(&[b"1234", b"5678", b"9"]), 6, None);
        assert!(body.collect().await.is_err());
        assert_eq!(verification.refusal(), Some(Failure::TooLong));
    }
}
