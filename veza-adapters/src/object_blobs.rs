//! `ObjectBlobs`: the one `BlobStore` implementation, over any `object_store::ObjectStore`.
//! `FsBlobs` (local files) and `S3Blobs` (S3 and compatible servers) only build the
//! `ObjectStore` and hand it here, so both adapters run this code: key mapping, ranges,
//! not-found, metadata, and streamed writes.
//!
//! Invariants: a put is atomic on both backends (a staging file renamed into place; an S3
//! `PutObject` or completed multipart upload), and a streamed put holds at most one part being
//! filled plus `PARTS_IN_FLIGHT` parts uploading, whatever the object's size. A streamed put
//! that fails, or whose future is dropped, aborts its multipart upload: no object appears, the
//! old one stays, and on S3 no orphaned parts are left to bill.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};
use std::sync::Arc;
use time::OffsetDateTime;
use veza_core::blobs::{BlobBody, BlobError, BlobKey, BlobMeta, BlobRead, BlobStore, ByteRange};

/// Size of a multipart upload's parts. S3 wants 5 MiB to 5 GiB for all but the last, and at
/// most 10 000 parts: 8 MiB parts allow objects up to 78 GiB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts uploading at once per streamed put. Two keep S3 busy while the next part fills;
/// each costs a part of memory.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, Clone)]
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    description: String,
    /// The same store when it is local files: reads then open, stat and read their first
    /// chunk in one trip to the blocking pool (`object_store` takes one to open, then one per
    /// chunk), which is most of the cost of a small ranged read.
    local: Option<Arc<LocalFileSystem>>,
}

impl ObjectBlobs {
    /// `description` names where the blobs live, for logs and `veza doctor` (no secrets).
    pub fn new(store: Arc<dyn ObjectStore>, description: String) -> Self {
        Self { store, description, local: None }
    }

    /// Over local files, with their faster reads.
    pub fn local(store: Arc<LocalFileSystem>, description: String) -> Self {
        Self { store: store.clone(), description, local: Some(store) }
    }

    /// Where `key` lives on this machine's file system, for a store of local files; `None`
    /// for a remote store (S3).
    ///
    /// # Errors
    /// A key the store cannot map to a path.
    pub fn local_path(&self, key: &BlobKey) -> Option<Result<std::path::PathBuf, BlobError>> {
        let local = self.local.as_ref()?;
        Some(location(key).and_then(|path| local.path_to_filesystem(&path).map_err(backend)))
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether the store answers: a listing (which, unlike a head of a missing key, fails when
    /// an S3 bucket does not exist) and a head of a key nobody writes (`None` is healthy).
    ///
    /// # Errors
    /// Why the store cannot be used: unreachable, refused credentials, no such bucket.
    pub async fn check(&self) -> Result<(), BlobError> {
        const PROBE: &str = "veza-doctor-probe";
        let listing = self.store.list_with_delimiter(Some(&ObjectPath::from(PROBE))).await;
        listing.map_err(BlobError::backend)?;
        let probe = BlobKey::parse(PROBE).map_err(BlobError::backend)?;
        self.head(&probe).await.map(drop)
    }
}

impl ObjectBlobs {
    /// Every key under `prefix` (a whole segment path, `avatars`), or every key, sorted: what
    /// an operator's inventory or a backup walks.
    ///
    /// # Errors
    /// A backend failure.
    pub async fn keys(&self, prefix: Option<&str>) -> Result<Vec<String>, BlobError> {
        let prefix = prefix.map(ObjectPath::from);
        let mut listing = self.store.list(prefix.as_ref());
        let mut keys = Vec::new();
        while let Some(object) = listing.next().await {
            keys.push(object.map_err(backend)?.location.to_string());
        }
        keys.sort();
        Ok(keys)
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

/// Chunk size of local file reads. object_store's own stream reads 8 KiB per trip to the
/// blocking pool, which held a whole-file read to a fraction of what the page cache and the
/// socket can do. 256 KiB chunks stream a 500 MiB file at 102–115% of nginx's speed
/// (`benches/media_load.sh`; 1 MiB chunks: 124–139%) and bound what a reader holds to about
/// 768 KiB rather than 3 MiB: a paused player keeps its connection, and its chunks, for
/// minutes, so memory per listener is what decides.
#[cfg(unix)]
const FILE_CHUNK: usize = 256 * 1024;

/// Reads of a local file under way at once: the next chunk is read while the last one is
/// being sent.
#[cfg(unix)]
const FILE_READS_AHEAD: usize = 2;

/// Reads of at most this many bytes from a local file are served on the calling task, not
/// the blocking pool: open, stat and a positioned read of 64 KiB are answered from the
/// kernel's caches in microseconds, less than the two thread switches of a trip to the pool,
/// which halved the rate of small ranged reads (a player seeking). A cold read may block the
/// task for a disk access, as nginx's reads do without `aio threads`.
#[cfg(unix)]
const INLINE_READ: u64 = 64 * 1024;

/// `get` on local files: open, stat, resolve the range and read its first chunk on the
/// calling task when the range is small (see `INLINE_READ`), otherwise in one trip to the
/// blocking pool; the rest follows as `file_body`. Metadata as `LocalFileSystem::head`
/// reports it (same ETag scheme), so a read and a head agree.
#[cfg(unix)]
async fn local_get(
    local: &LocalFileSystem,
    key: &BlobKey,
    range: Option<ByteRange>,
) -> Result<BlobRead, BlobError> {
    let path = local.path_to_filesystem(&location(key)?).map_err(backend)?;
    let small = match range {
        Some(ByteRange::Bounded { start, end }) => end.saturating_sub(start) <= INLINE_READ,
        Some(ByteRange::Last(n)) => n <= INLINE_READ,
        Some(ByteRange::From(_)) | None => false,
    };
    let (file, meta, served, first) = if small {
        open_local(&path, range)?
    } else {
        let opened = tokio::task::spawn_blocking(move || open_local(&path, range));
        opened.await.map_err(BlobError::backend)??
    };
    let rest = served.start + first.len() as u64..served.end;
    let first = (!first.is_empty()).then_some(Ok(first));
    let body = futures_util::stream::iter(first).chain(file_body(file, rest));
    Ok(BlobRead { meta, range: served, body: BlobBody::new(body) })
}

/// Opens a local file and reads the first `FILE_CHUNK` of `range`: the file, its metadata,
/// the bytes served and that first chunk.
#[cfg(unix)]
fn open_local(
    path: &std::path::Path,
    range: Option<ByteRange>,
) -> Result<(std::fs::File, BlobMeta, std::ops::Range<u64>, Bytes), BlobError> {
    use std::os::unix::fs::{FileExt as _, MetadataExt as _};
    let file = std::fs::File::open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => BlobError::NotFound,
        _ => BlobError::backend(err),
    })?;
    let metadata = file.metadata().map_err(BlobError::backend)?;
    if !metadata.is_file() {
        return Err(BlobError::NotFound);
    }
    let size = metadata.len();
    let modified = metadata.modified().map_err(BlobError::backend)?;
    let micros = modified.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros();
    let meta = BlobMeta {
        size,
        last_modified: OffsetDateTime::from(modified),
        etag: Some(format!("\"{:x}-{micros:x}-{size:x}\"", metadata.ino())),
    };
    let served = match range {
        None => 0..size,
        Some(range) => range.resolve(size).ok_or(BlobError::RangeNotSatisfiable { size })?,
    };
    let first_len = (served.end - served.start).min(FILE_CHUNK as u64) as usize;
    let mut first = vec![0; first_len];
    file.read_exact_at(&mut first, served.start).map_err(BlobError::backend)?;
    Ok((file, meta, served, Bytes::from(first)))
}

/// The bytes `range` of an open local file, in `FILE_CHUNK` positioned reads on the blocking
/// pool (positioned, so reads ahead need no shared cursor). A file that turns out shorter
/// than its metadata said fails the stream rather than ending it early.
#[cfg(unix)]
fn file_body(file: std::fs::File, range: std::ops::Range<u64>) -> BlobBody {
    use std::os::unix::fs::FileExt as _;
    let file = Arc::new(file);
    let chunks = range.clone().step_by(FILE_CHUNK).map(move |offset| {
        let len = (range.end - offset).min(FILE_CHUNK as u64) as usize;
        (offset, len)
    });
    let reads = futures_util::stream::iter(chunks).map(move |(offset, len)| {
        let file = Arc::clone(&file);
        async move {
            let read = tokio::task::spawn_blocking(move || {
                let mut buffer = vec![0; len];
                file.read_exact_at(&mut buffer, offset).map(|()| Bytes::from(buffer))
            });
            read.await.map_err(BlobError::backend)?.map_err(BlobError::backend)
        }
    });
    BlobBody::new(reads.buffered(FILE_READS_AHEAD))
}

fn backend(err: object_store::Error) -> BlobError {
    match err {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::backend(other),
    }
}

/// A multipart upload that is aborted unless it is finished, including when the future
/// driving it is dropped (a client disconnecting mid-upload). The parts of an S3 upload never
/// completed nor aborted stay stored, invisible and billed, until a lifecycle rule removes them.
struct Upload(Option<WriteMultipart>);

impl Upload {
    fn writer(&mut self) -> &mut WriteMultipart {
        self.0.as_mut().expect("an upload is used only until it finishes or aborts")
    }

    async fn finish(mut self) -> Result<(), BlobError> {
        let writer = self.0.take().expect("an upload finishes once");
        // `finish` aborts the upload itself when a part or the completion fails.
        writer.finish().await.map(drop).map_err(backend)
    }

    async fn abort(mut self) {
        if let Some(writer) = self.0.take()
            && let Err(err) = writer.abort().await
        {
            tracing::warn!(error = %err, "could not abort a multipart upload");
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(err) = writer.abort().await {
                    tracing::warn!(error = %err, "could not abort an abandoned multipart upload");
                }
            });
        }
    }
}

#[async_trait]
impl BlobStore for ObjectBlobs {
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError> {
        self.store
            .put(&location(key)?, PutPayload::from_bytes(bytes))
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn put_stream(&self, key: &BlobKey, mut body: BlobBody) -> Result<u64, BlobError> {
        let path = location(key)?;
        // A body that ends within one part is one plain PUT: an avatar or a short file never
        // pays for creating and completing a multipart upload.
        let mut first = Vec::new();
        let mut size: u64 = 0;
        loop {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    size += chunk.len() as u64;
                    first.push(chunk);
                    if size >= PART_SIZE as u64 {
                        break;
                    }
                }
                None => {
                    let payload = PutPayload::from_iter(first);
                    self.store.put(&path, payload).await.map_err(backend)?;
                    return Ok(size);
                }
            }
        }
        let upload = self.store.put_multipart(&path).await.map_err(backend)?;
        let mut upload = Upload(Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE)));
        for chunk in first {
            upload.writer().put(chunk);
        }
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    upload.abort().await;
                    return Err(err);
                }
            };
            // Back-pressure: the body is not read faster than parts go out.
            if let Err(err) = upload.writer().wait_for_capacity(PARTS_IN_FLIGHT).await {
                upload.abort().await;
                return Err(backend(err));
            }
            size += chunk.len() as u64;
            upload.writer().put(chunk);
        }
        upload.finish().await?;
        Ok(size)
    }

    async fn get(&self, key: &BlobKey, range: Option<ByteRange>) -> Result<BlobRead, BlobError> {
        #[cfg(unix)]
        if let Some(local) = &self.local {
            return local_get(local, key, range).await;
        }
        let path = location(key)?;
        let open = |range: Option<GetRange>| {
            self.store.get_opts(&path, GetOptions { range, ..GetOptions::default() })
        };
        let result = match (open(range.map(get_range)).await, range) {
            (Ok(result), _) => result,
            (Err(err @ object_store::Error::NotFound { .. }), _) | (Err(err), None) => {
                return Err(backend(err));
            }
            // object_store does not expose a range error of its own (S3 answers 416, local
            // files a generic error): the size tells whether it was one.
            (Err(err), Some(range)) => {
                let Some(size) = self.head(key).await?.map(|meta| meta.size) else {
                    return Err(BlobError::NotFound);
                };
                let Some(bytes) = range.resolve(size) else {
                    return Err(BlobError::RangeNotSatisfiable { size });
                };
                if matches!(range, ByteRange::Bounded { .. }) {
                    return Err(backend(err));
                }
                // A satisfiable range the store failed to serve (s3s-fs 0.14.1 answers 500 to
                // a suffix longer than the object: it seeks before the start), asked once
                // more as the bounded range it names.
                open(Some(GetRange::Bounded(bytes))).await.map_err(backend)?
            }
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
        // Local files on unix never get here (`local_get`): this is S3, or files elsewhere.
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

    /// A `rename(2)` on local files; on S3 a server-side `CopyObject` then a delete, so the
    /// bytes never travel through this process.
    async fn rename(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError> {
        self.store.rename(&location(from)?, &location(to)?).await.map_err(backend)
    }

    async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError> {
        self.store.copy(&location(from)?, &location(to)?).await.map_err(backend)
    }
}
