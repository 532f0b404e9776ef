//! `BlobSpool`: makes a stored blob seekable for the analyzer. An original in local files
//! already is: the file is opened as it is. One in a remote store (S3) is copied, chunk by
//! chunk as the store streams it, into an anonymous temporary file (unlinked at creation, so
//! it disappears when the analyzer drops it, crash included). Memory stays flat whatever the
//! file's size; the cost on S3 is one local copy per analysis, which a reader issuing ranged
//! `BlobStore::get`s would avoid, behind the same port.

use async_trait::async_trait;
use futures_util::StreamExt as _;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt as _;
use veza_core::blobs::{BlobError, BlobKey, BlobStore};
use veza_core::media::{MediaSource, MediaSpool};

use crate::object_blobs::ObjectBlobs;

#[derive(Clone)]
pub struct BlobSpool {
    blobs: Arc<ObjectBlobs>,
    dir: PathBuf,
}

impl std::fmt::Debug for BlobSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobSpool").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl BlobSpool {
    /// Copies of remote blobs go into `dir` (created on first use): on the data disk rather
    /// than the system's temporary directory, which may be memory-backed.
    pub fn new(blobs: Arc<ObjectBlobs>, dir: impl Into<PathBuf>) -> Self {
        Self { blobs, dir: dir.into() }
    }

    /// A copy of the remote blob `key` in an anonymous temporary file, at its first byte.
    async fn copy(&self, key: &BlobKey) -> Result<std::fs::File, BlobError> {
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
        Ok(file)
    }
}

#[async_trait]
impl MediaSpool for BlobSpool {
    async fn open(&self, key: &BlobKey) -> Result<Box<dyn MediaSource>, BlobError> {
        let file = match self.blobs.local_path(key) {
            Some(path) => {
                let path = path?;
                let opened = tokio::task::spawn_blocking(move || std::fs::File::open(path));
                opened.await.map_err(BlobError::backend)?.map_err(|err| match err.kind() {
                    std::io::ErrorKind::NotFound => BlobError::NotFound,
                    _ => BlobError::backend(err),
                })?
            }
            None => self.copy(key).await?,
        };
        Ok(Box::new(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::io::Read;

    /// Reads `key` back through `spool` and checks a missing key is `NotFound`.
    async fn reads_back(spool: &BlobSpool, blobs: &ObjectBlobs) {
        let key = BlobKey::parse("tracks/x.mp3").unwrap();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        blobs.put(&key, Bytes::from(bytes.clone())).await.unwrap();

        let mut source = spool.open(&key).await.unwrap();
        let mut back = Vec::new();
        source.read_to_end(&mut back).unwrap();

        assert_eq!(back, bytes);
        let missing = BlobKey::parse("tracks/none.mp3").unwrap();
        assert!(matches!(spool.open(&missing).await, Err(BlobError::NotFound)));
    }

    #[tokio::test]
    async fn a_local_blob_is_opened_where_it_is_without_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(crate::fs_blobs::FsBlobs::open(dir.path().join("blobs")).unwrap());
        let scratch = dir.path().join("tmp");
        reads_back(&BlobSpool::new(blobs.clone(), &scratch), &blobs).await;
        assert!(!scratch.exists(), "nothing was copied");
    }

    #[tokio::test]
    async fn a_remote_blob_is_copied_and_reads_back_from_its_first_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(object_store::memory::InMemory::new());
        let blobs = Arc::new(ObjectBlobs::new(store, "memory".into()));
        let scratch = dir.path().join("tmp");
        reads_back(&BlobSpool::new(blobs.clone(), &scratch), &blobs).await;
        assert!(scratch.is_dir(), "copied into the scratch directory");
    }
}
