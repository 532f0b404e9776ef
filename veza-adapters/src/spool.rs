//! `TempFileSpool`: makes a stored blob seekable for the analyzer by copying it, chunk by
//! chunk as the blob store streams it, into an anonymous temporary file (unlinked at
//! creation, so it disappears when the analyzer drops it, crash included). Memory stays flat
//! whatever the file's size; the cost is one local copy per analysis. A reader issuing
//! ranged `BlobStore::get`s would avoid that copy on S3 and can replace this adapter behind
//! the same port.

use async_trait::async_trait;
use futures_util::StreamExt as _;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt as _;
use veza_core::blobs::{BlobError, BlobKey, BlobStore};
use veza_core::media::{MediaSource, MediaSpool};

#[derive(Clone)]
pub struct TempFileSpool {
    blobs: Arc<dyn BlobStore>,
    dir: PathBuf,
}

impl std::fmt::Debug for TempFileSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempFileSpool").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl TempFileSpool {
    /// Spools into `dir` (created on first use): on the data disk rather than the system's
    /// temporary directory, which may be memory-backed.
    pub fn new(blobs: Arc<dyn BlobStore>, dir: impl Into<PathBuf>) -> Self {
        Self { blobs, dir: dir.into() }
    }
}

#[async_trait]
impl MediaSpool for TempFileSpool {
    async fn open(&self, key: &BlobKey) -> Result<Box<dyn MediaSource>, BlobError> {
        let mut read = self.blobs.get(key, None).await?;
        let dir = self.dir.clone();
        let file = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            tempfile::tempfile_in(&dir)
        })
        .await
        .map_err(BlobError::backend)?
        .map_err(BlobError::backend)?;
        let mut file = tokio::fs::File::from_std(file);
        while let Some(chunk) = read.body.next().await {
            file.write_all(&chunk?).await.map_err(BlobError::backend)?;
        }
        file.flush().await.map_err(BlobError::backend)?;
        let mut file = file.into_std().await;
        file.seek(SeekFrom::Start(0)).map_err(BlobError::backend)?;
        Ok(Box::new(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::io::Read;

    #[tokio::test]
    async fn a_spooled_blob_reads_back_from_its_first_byte() {
        let dir = tempfile::tempdir().unwrap();
        let blobs: Arc<dyn BlobStore> =
            Arc::new(crate::fs_blobs::FsBlobs::open(dir.path().join("blobs")).unwrap());
        let key = BlobKey::parse("tracks/x.mp3").unwrap();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        blobs.put(&key, Bytes::from(bytes.clone())).await.unwrap();
        let spool = TempFileSpool::new(blobs, dir.path().join("tmp"));

        let mut source = spool.open(&key).await.unwrap();
        let mut back = Vec::new();
        source.read_to_end(&mut back).unwrap();

        assert_eq!(back, bytes);
        let missing = BlobKey::parse("tracks/none.mp3").unwrap();
        assert!(matches!(spool.open(&missing).await, Err(BlobError::NotFound)));
    }
}
