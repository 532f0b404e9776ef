//! `FsBlobs`: the blob store on the local file system, under one root directory
//! (`DATA_DIR/blobs` by default), through `object_store`'s `LocalFileSystem` — the same
//! `ObjectStore` trait its S3 client implements, so an `S3Blobs` will share this mapping.
//! Writes go to a staging file beside the target, are fsynced, then renamed over it
//! (atomic on POSIX). Keys arrive as `BlobKey`s, which cannot name `..` or an absolute path;
//! `object_store::path::Path` refuses those again, and the root is canonicalised once.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use veza_core::blobs::{BlobBody, BlobError, BlobKey, BlobMeta, BlobRead, BlobStore, ByteRange};

#[derive(Debug, Clone)]
pub struct FsBlobs {
    store: std::sync::Arc<LocalFileSystem>,
    root: PathBuf,
}

impl FsBlobs {
    /// Opens (creating, owner-only, if needed) the root directory.
    ///
    /// # Errors
    /// If the directory cannot be created or resolved.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, BlobError> {
        let root = root.as_ref();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(root).map_err(BlobError::backend)?;
        let store = LocalFileSystem::new_with_prefix(root).map_err(BlobError::backend)?;
        let root = std::fs::canonicalize(root).map_err(BlobError::backend)?;
        Ok(Self { store: std::sync::Arc::new(store.with_fsync(true)), root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn location(key: &BlobKey) -> Result<ObjectPath, BlobError> {
    ObjectPath::parse(key.as_str()).map_err(BlobError::backend)
}

fn meta(object: &ObjectMeta) -> BlobMeta {
    let nanos = object.last_modified.timestamp_nanos_opt().map_or(0, i128::from);
    BlobMeta {
        size: object.size,
        last_modified: OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        etag: object.e_tag.clone(),
    }
}

fn get_range(range: ByteRange) -> GetRange {
    match range {
        ByteRange::Bounded { start, end } => GetRange::Bounded(start..end),
        ByteRange::From(start) => GetRange::Offset(start),
        ByteRange::Last(n) => GetRange::Suffix(n),
    }
}

fn backend(err: object_store::Error) -> BlobError {
    match err {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::backend(other),
    }
}

#[async_trait]
impl BlobStore for FsBlobs {
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError> {
        self.store
            .put(&location(key)?, PutPayload::from_bytes(bytes))
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn get(&self, key: &BlobKey, range: Option<ByteRange>) -> Result<BlobRead, BlobError> {
        let path = location(key)?;
        let options = GetOptions { range: range.map(get_range), ..GetOptions::default() };
        let result = match self.store.get_opts(&path, options).await {
            Ok(result) => result,
            // object_store does not expose its range error; the size tells whether it was one.
            Err(err) if range.is_some() && !matches!(err, object_store::Error::NotFound { .. }) => {
                return Err(match self.head(key).await? {
                    Some(meta) if range.and_then(|r| r.resolve(meta.size)).is_none() => {
                        BlobError::RangeNotSatisfiable { size: meta.size }
                    }
                    _ => backend(err),
                });
            }
            Err(err) => return Err(backend(err)),
        };
        let meta = meta(&result.meta);
        // A zero-byte suffix or a range of an empty object is served empty by object_store;
        // HTTP calls both unsatisfiable, and so does the port.
        if let Some(range) = range
            && range.resolve(meta.size).is_none()
        {
            return Err(BlobError::RangeNotSatisfiable { size: meta.size });
        }
        let served = result.range.clone();
        let body = BlobBody::new(result.into_stream().map(|chunk| chunk.map_err(backend)));
        Ok(BlobRead { meta, range: served, body })
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        match self.store.head(&location(key)?).await {
            Ok(object) => Ok(Some(meta(&object))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(backend(err)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match self.store.delete(&location(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(backend(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    async fn fresh() -> Arc<dyn BlobStore> {
        let dir = tempfile::tempdir().expect("temp dir");
        let blobs = FsBlobs::open(dir.path().join("blobs")).expect("open");
        // The directory must outlive the test: leak it (removed with the OS temp dir).
        std::mem::forget(dir);
        Arc::new(blobs)
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

    #[tokio::test]
    async fn every_file_lands_under_the_root_and_no_staging_file_remains() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(dir.path().join("blobs")).unwrap();
        for key in ["avatars/ab.png", "a..b/c", "x/y/z.bin", "x/y/z.bin"] {
            blobs.put(&BlobKey::parse(key).unwrap(), Bytes::from_static(b"data")).await.unwrap();
        }
        let mut files = files_under(dir.path());
        files.sort();
        let root = blobs.root().to_path_buf();
        assert_eq!(
            files,
            [root.join("a..b/c"), root.join("avatars/ab.png"), root.join("x/y/z.bin")],
            "one file per key, inside the root, no '#n' staging leftovers"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_root_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(dir.path().join("blobs")).unwrap();
        let mode = std::fs::metadata(blobs.root()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
