//! Virus scanning: the port an upload passes through before it is stored. A scanner reads
//! the content as a stream of chunks — the same `BlobBody` the blob port hands out, so a
//! staged blob, an upload being received or a file being imported can all be scanned without
//! ever holding a whole file in memory — and answers `Clean` or `Infected` with the
//! signature's name. Anything else is a `ScanError`: a scanner that cannot vouch for a file
//! never calls it clean, and the caller refuses the upload rather than store it unscanned.
//! `NoScanner` is the embedded default (`VEZA_CLAMD_URL` unset): it vouches for everything.

use async_trait::async_trait;

use crate::blobs::{BlobBody, BlobError};
use crate::store::BoxError;

/// What a scanner concluded about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanVerdict {
    Clean,
    /// `signature` is the scanner's name for what it found (`Win.Test.EICAR_HDB-1`).
    Infected {
        signature: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The scanner could not be reached, or made no progress in time.
    #[error("virus scanner unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The scanner answered without a verdict: a size limit it enforces (an error reply, or
    /// the connection closed while the content was still flowing), a scan it cut short, an
    /// internal error, a reply it should not have sent.
    #[error("virus scanner gave no verdict: {0}")]
    NoVerdict(String),
    /// Reading the content to scan failed; the scanner saw only part of it.
    #[error("reading the content to scan failed: {0}")]
    Source(#[source] BlobError),
}

impl ScanError {
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }
}

/// Scans files for malware: ClamAV's daemon, or nothing.
#[async_trait]
pub trait VirusScanner: Send + Sync {
    /// Scans `content` as one file, reading it as it streams in.
    ///
    /// An implementation that inspects content MUST return `Clean` only for content it read
    /// to its end and found nothing in; it may return without reading everything once it
    /// knows the answer (`NoScanner` reads nothing), so callers must not rely on the stream
    /// being drained.
    ///
    /// # Errors
    /// `Source` with the stream's own error if reading `content` failed; `Unavailable` if the
    /// scanner cannot be reached or stalls; `NoVerdict` if it answers without a verdict (e.g.
    /// the file exceeds its size limit). Never `Ok(Clean)` in any of those cases.
    async fn scan(&self, content: BlobBody) -> Result<ScanVerdict, ScanError>;

    /// Checks that the scanner answers (`veza doctor`, readiness).
    ///
    /// # Errors
    /// `Unavailable` or `NoVerdict` as for `scan`.
    async fn ping(&self) -> Result<(), ScanError>;

    /// Short name for logs and `veza doctor`: `clamd`, or `none`.
    fn name(&self) -> &'static str;
}

/// The embedded default: no scanning, every file is clean. It does no I/O and reads none of
/// the content, so an installation without ClamAV pays nothing for the port.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoScanner;

#[async_trait]
impl VirusScanner for NoScanner {
    async fn scan(&self, _content: BlobBody) -> Result<ScanVerdict, ScanError> {
        Ok(ScanVerdict::Clean)
    }

    async fn ping(&self) -> Result<(), ScanError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "none"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures_core::Stream;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A source that fails if anything polls it: proves `NoScanner` reads nothing.
    struct Untouchable;

    impl Stream for Untouchable {
        type Item = Result<Bytes, BlobError>;

        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            panic!("NoScanner read the content")
        }
    }

    #[tokio::test]
    async fn no_scanner_calls_everything_clean_without_reading_it() {
        let scanner: &dyn VirusScanner = &NoScanner;
        assert_eq!(scanner.scan(BlobBody::new(Untouchable)).await.unwrap(), ScanVerdict::Clean);
        scanner.ping().await.expect("nothing to reach");
        assert_eq!(scanner.name(), "none");
    }
}
