//! How processing gets at a stored original: the analyzer needs `Read + Seek`, the blob store
//! hands out async streams. An adapter bridges the two (today by copying the blob into an
//! anonymous temporary file chunk by chunk, so memory stays flat whatever the size); a
//! ranged reader over `BlobStore::get` with byte ranges can replace it without touching the
//! core.

use async_trait::async_trait;

use super::MediaSource;
use crate::blobs::{BlobError, BlobKey};

#[async_trait]
pub trait MediaSpool: Send + Sync {
    /// The blob under `key` as a seekable source positioned at its first byte.
    /// # Errors
    /// `NotFound` if there is no such blob; `Backend` if it cannot be read or spooled.
    async fn open(&self, key: &BlobKey) -> Result<Box<dyn MediaSource>, BlobError>;
}
