//! Blobs: opaque bytes under validated keys — avatars now, audio, waveforms and exports
//! later. The port is shaped for streaming from the start: a read names an optional byte
//! range (what HTTP `Range` requests need) and hands back a stream of chunks with the object's
//! size, so serving a track never needs the whole file in memory. Writes come whole (`put`, for
//! small objects) or as a stream of chunks (`put_stream`, for uploads of any size), and both are
//! atomic: a reader sees the old object or the new one, never a mix, and a write that fails or
//! is abandoned leaves no object behind.

mod checked;
mod key;

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use std::fmt;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use time::OffsetDateTime;

use crate::store::BoxError;

pub use checked::{BodyCheck, CheckedOutcome};
pub use key::{BlobKey, BlobKeyError};

/// Part of an object, as an HTTP `Range: bytes=…` request names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=start-(end-1)`: `end` is exclusive.
    Bounded { start: u64, end: u64 },
    /// `bytes=start-`: from `start` to the end.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Last(u64),
}

impl ByteRange {
    /// The bytes this names in an object of `size` bytes, clamped to its end; `None` when
    /// nothing can be served (RFC 9110 §14.1.1: a start at or past the end, an empty range,
    /// a suffix of zero bytes).
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        match self {
            ByteRange::Bounded { start, end } if start < end && start < size => {
                Some(start..end.min(size))
            }
            ByteRange::From(start) if start < size => Some(start..size),
            ByteRange::Last(n) if n > 0 && size > 0 => Some(size - n.min(size)..size),
            _ => None,
        }
    }
}

/// What a store knows about an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub size: u64,
    pub last_modified: OffsetDateTime,
    /// The backend's version tag (S3's ETag, a file's inode/mtime), when it has one.
    pub etag: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no blob under this key")]
    NotFound,
    #[error("range not satisfiable in a blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("blob storage failed: {0}")]
    Backend(#[source] BoxError),
}

impl BlobError {
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(err.into())
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send>>;

/// The bytes of a read or of a streamed write, as chunks in order. Implements `Stream`, so an
/// HTTP edge can send a read as it comes and hand an upload's body straight to `put_stream`.
pub struct BlobBody(ChunkStream);

impl BlobBody {
    pub fn new(stream: impl Stream<Item = Result<Bytes, BlobError>> + Send + 'static) -> Self {
        Self(Box::pin(stream))
    }

    /// Reads every chunk into one buffer.
    ///
    /// # Errors
    /// The first error the stream yields.
    pub async fn collect(mut self) -> Result<Vec<u8>, BlobError> {
        let mut out = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| self.0.as_mut().poll_next(cx)).await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }
}

impl BlobBody {
    /// The objects under `keys`, one after the other, each opened only when the reader gets
    /// to it (a reader that stops early opens nothing more). The body ends at the first error.
    pub fn of_objects(blobs: Arc<dyn BlobStore>, keys: Vec<BlobKey>) -> Self {
        let bodies = futures_util::stream::iter(keys).then(move |key| {
            let blobs = Arc::clone(&blobs);
            async move { blobs.get(&key, None).await.map(|read| read.body) }
        });
        let mut failed = false;
        Self::new(bodies.try_flatten().take_while(move |item| {
            let go = !failed;
            failed |= item.is_err();
            std::future::ready(go)
        }))
    }
}

impl fmt::Debug for BlobBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlobBody(..)")
    }
}

impl Stream for BlobBody {
    type Item = Result<Bytes, BlobError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// An open read: the object's metadata, the bytes served (`range`, half-open, absolute in
/// the object) and their stream.
#[derive(Debug)]
pub struct BlobRead {
    pub meta: BlobMeta,
    pub range: Range<u64>,
    pub body: BlobBody,
}

/// Where blobs live: local files, S3, ….
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing any object there. Atomic: no reader ever sees
    /// part of it. Storing the same bytes again is harmless (keys may be content hashes).
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError>;

    /// Stores the chunks `body` yields under `key`, replacing any object there, without ever
    /// holding the whole object (an adapter buffers a bounded number of parts). Atomic like
    /// `put`: the object appears whole once the stream has ended, and not before. Returns the
    /// number of bytes stored.
    /// # Errors
    /// The first error `body` yields, or a backend failure. Either way nothing is stored and an
    /// object already under `key` stays as it was; so too when the returned future is dropped
    /// before it completes.
    async fn put_stream(&self, key: &BlobKey, body: BlobBody) -> Result<u64, BlobError>;

    /// Opens the object, or the part `range` names.
    /// # Errors
    /// `NotFound` if there is no object; `RangeNotSatisfiable` (with the object's size) if
    /// `range` names no byte of it.
    async fn get(&self, key: &BlobKey, range: Option<ByteRange>) -> Result<BlobRead, BlobError>;

    /// The object's metadata; `None` if there is no object.
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError>;

    /// Removes the object. Removing one that is not there is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;

    /// Moves the object at `from` to `to`, replacing any object there; readers of `to` see
    /// the old object or the new one, never a mix. Used by removals to move an original
    /// aside while they make sure no track uses it (`tracks::removal`).
    /// # Errors
    /// `NotFound` if there is no object at `from`.
    async fn rename(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError>;

    /// Copies the object at `from` to `to`, replacing any object there; `from` stays.
    /// Readers of `to` see the old object or the new one, never a mix. The bytes do not pass
    /// through Veza (a hard link on files, a server-side copy on S3). Used to give a checked
    /// upload its content-addressed name while the staged object is kept until its track
    /// exists (see `tracks::removal`).
    /// # Errors
    /// `NotFound` if there is no object at `from`.
    async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_like_http_byte_ranges() {
        let r = |range: ByteRange| range.resolve(10);
        assert_eq!(r(ByteRange::Bounded { start: 2, end: 5 }), Some(2..5));
        assert_eq!(r(ByteRange::Bounded { start: 8, end: 50 }), Some(8..10), "clamped");
        assert_eq!(r(ByteRange::Bounded { start: 10, end: 11 }), None);
        assert_eq!(r(ByteRange::Bounded { start: 3, end: 3 }), None);
        assert_eq!(r(ByteRange::From(9)), Some(9..10));
        assert_eq!(r(ByteRange::From(10)), None);
        assert_eq!(r(ByteRange::Last(3)), Some(7..10));
        assert_eq!(r(ByteRange::Last(30)), Some(0..10));
        assert_eq!(r(ByteRange::Last(0)), None);
        assert_eq!(ByteRange::Last(1).resolve(0), None, "an empty object has no bytes");
    }
}
