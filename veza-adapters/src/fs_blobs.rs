//! `FsBlobs`: the blob store on the local file system, under one root directory
//! (`DATA_DIR/blobs` by default), through `object_store`'s `LocalFileSystem` — the same
//! `ObjectStore` trait its S3 client implements, so this adapter only builds the store and
//! `ObjectBlobs` does the rest, for files and S3 alike. Writes, whole or streamed, go to a
//! staging file beside the target (`key#n`, a name no `BlobKey` can have), are fsynced, then
//! renamed over it (atomic on POSIX). Keys arrive as `BlobKey`s, which cannot name `..` or an
//! absolute path; `object_store::path::Path` refuses those again, and the root is
//! canonicalised once.

use object_store::local::LocalFileSystem;
use std::path::Path;
use std::sync::Arc;
use veza_core::blobs::BlobError;

use crate::object_blobs::ObjectBlobs;

/// The local-files adapter: a constructor of the shared `ObjectBlobs`, never a value itself.
pub enum FsBlobs {}

impl FsBlobs {
    /// Opens (creating, owner-only, if needed) the root directory.
    ///
    /// # Errors
    /// If the directory cannot be created or resolved.
    pub fn open(root: impl AsRef<Path>) -> Result<ObjectBlobs, BlobError> {
        let root = root.as_ref();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(root).map_err(BlobError::backend)?;
        let store = LocalFileSystem::new_with_prefix(root).map_err(BlobError::backend)?;
        let root = std::fs::canonicalize(root).map_err(BlobError::backend)?;
        let description = format!("files under {}", root.display());
        Ok(ObjectBlobs::local(Arc::new(store.with_fsync(true)), description))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use bytes::Bytes;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};
    use veza_core::blobs::{BlobBody, BlobKey, BlobMeta, BlobRead, BlobStore, ByteRange};

    /// A store on a temporary directory removed when the case drops it: the streaming cases
    /// write tens of mebibytes each.
    struct TempBlobs {
        blobs: ObjectBlobs,
        _dir: tempfile::TempDir,
    }

    #[async_trait]
    impl BlobStore for TempBlobs {
        async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError> {
            self.blobs.put(key, bytes).await
        }
        async fn put_stream(&self, key: &BlobKey, body: BlobBody) -> Result<u64, BlobError> {
            self.blobs.put_stream(key, body).await
        }
        async fn get(
            &self,
            key: &BlobKey,
            range: Option<ByteRange>,
        ) -> Result<BlobRead, BlobError> {
            self.blobs.get(key, range).await
        }
        async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
            self.blobs.head(key).await
        }
        async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
            self.blobs.delete(key).await
        }
        async fn rename(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError> {
            self.blobs.rename(from, to).await
        }
        async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError> {
            self.blobs.copy(from, to).await
        }
    }

    async fn fresh() -> Arc<dyn BlobStore> {
        let dir = tempfile::tempdir().expect("temp dir");
        let blobs = FsBlobs::open(dir.path().join("blobs")).expect("open");
        Arc::new(TempBlobs { blobs, _dir: dir })
    }

    veza_core::blob_store_contract!(fresh);

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
        found
    }

    fn key(raw: &str) -> BlobKey {
        BlobKey::parse(raw).unwrap()
    }

    #[tokio::test]
    async fn every_file_lands_under_the_root_and_no_staging_file_remains() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(dir.path().join("blobs")).unwrap();
        for raw in ["avatars/ab.png", "a..b/c", "x/y/z.bin", "x/y/z.bin"] {
            blobs.put(&key(raw), Bytes::from_static(b"data")).await.unwrap();
        }
        let big = BlobBody::new(futures_util::stream::iter(
            (0..3u8).map(|i| Ok(Bytes::from(vec![i; crate::object_blobs::PART_SIZE]))),
        ));
        blobs.put_stream(&key("x/streamed.bin"), big).await.unwrap();
        let mut files = files_under(dir.path());
        files.sort();
        let root = std::fs::canonicalize(dir.path().join("blobs")).unwrap();
        assert_eq!(
            files,
            [
                root.join("a..b/c"),
                root.join("avatars/ab.png"),
                root.join("x/streamed.bin"),
                root.join("x/y/z.bin")
            ],
            "one file per key, inside the root, no '#n' staging leftovers"
        );
    }

    #[tokio::test]
    async fn failed_and_abandoned_streams_leave_no_staging_file() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(FsBlobs::open(dir.path().join("blobs")).unwrap());
        let part = || Ok(Bytes::from(vec![7; crate::object_blobs::PART_SIZE]));
        let failing = futures_util::stream::iter([part(), part(), Err(BlobError::backend("cut"))]);
        assert!(blobs.put_stream(&key("a/failed.bin"), BlobBody::new(failing)).await.is_err());

        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let body = BlobBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        }));
        let writer = tokio::spawn({
            let blobs = Arc::clone(&blobs);
            async move { blobs.put_stream(&key("b/abandoned.bin"), body).await }
        });
        for _ in 0..3 {
            tx.send(part()).await.unwrap();
        }
        writer.abort();
        let _ = writer.await;

        // The abandoned upload is removed by a task of its own.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let files = files_under(dir.path());
            if files.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "staging files remain: {files:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_root_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        FsBlobs::open(dir.path().join("blobs")).unwrap();
        let mode = std::fs::metadata(dir.path().join("blobs")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
