//! Removing an original no track version uses, without losing one an upload of the very same
//! bytes is giving to a new track at that moment. Keys are content hashes, so a removal of
//! `K` (a deleted track, a refused request, the safety net of `store_original`) can race an
//! upload whose bytes hash to `K` as well; "check unused, then delete" would delete the
//! upload's blob if the upload's version row landed between the two.
//!
//! Two halves make it safe, whatever the interleaving:
//! - the removal moves `K` aside (to `removing/K`) before it checks a second time, and puts it
//!   back if a version started using `K` meanwhile; otherwise the aside copy goes;
//! - the upload copies its staged object to `K` (the staged object stays), records its
//!   version, then `settle`s: if `K` is missing now, a removal that checked before the
//!   version existed took it, and the staged copy puts it back. Only then does the staged
//!   object go.
//!
//! Once the version row exists no removal can decide `K` is unused, and any removal that
//! decided so earlier moved `K` away before its second check, that is before the row: so
//! `settle`, which runs after the row, sees the result. A removal interrupted by a crash is
//! finished by its job's retry (the aside key is derived from `K`).

use std::future::Future;

use super::{StoredOriginal, TracksError};
use crate::blobs::{BlobError, BlobKey, BlobStore};
use crate::store::StoreError;

/// Where a removal keeps `key` while it makes sure nothing started using it.
fn aside_key(key: &BlobKey) -> BlobKey {
    BlobKey::parse(&format!("removing/{}", key.as_str()))
        .expect("a valid key under a valid segment is a valid key")
}

/// A move or copy whose source is gone already did its part (another removal got there).
fn unless_missing(result: Result<(), BlobError>) -> Result<(), BlobError> {
    match result {
        Err(BlobError::NotFound) => Ok(()),
        other => other,
    }
}

/// Removes `key` unless `in_use` says a track version names it, asked twice: before `key`
/// is moved aside and after. Idempotent; a retry finishes an interrupted removal.
///
/// # Errors
/// `Store` or `Blob` when a check or a blob operation fails; the job is retried then.
pub(crate) async fn remove_unless_used<F, Fut>(
    blobs: &dyn BlobStore,
    key: &BlobKey,
    mut in_use: F,
) -> Result<(), TracksError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, StoreError>>,
{
    let aside = aside_key(key);
    if !in_use().await? {
        unless_missing(blobs.rename(key, &aside).await)?;
        if !in_use().await? {
            return Ok(blobs.delete(&aside).await?);
        }
    }
    // Used after all: put back what this removal, or an earlier attempt of it, moved aside.
    Ok(unless_missing(blobs.rename(&aside, key).await)?)
}

/// Called once a track version names `original.blob`: puts the blob back from the staged
/// copy if a removal took it before the version existed, then removes the staged copy.
/// Failures are logged, not returned: the track exists either way, and the staged copy is
/// removed by the safety-net job of `store_original` if not here.
pub(crate) async fn settle(blobs: &dyn BlobStore, original: &StoredOriginal) {
    let restored = match blobs.head(&original.blob).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => {
            tracing::warn!(key = %original.blob, "original removed under a new upload; restored");
            blobs.copy(&original.staged, &original.blob).await
        }
        Err(err) => Err(err),
    };
    match restored {
        Ok(()) => {
            if let Err(err) = blobs.delete(&original.staged).await {
                tracing::warn!(error = %err, key = %original.staged, "staged upload not removed");
            }
        }
        Err(err) => {
            // The staged copy stays for an operator: it is the only copy if the blob is gone.
            tracing::error!(error = %err, key = %original.blob, "original not verified");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::{BlobBody, BlobMeta, BlobRead, ByteRange};
    use crate::media::AudioFormat;
    use async_trait::async_trait;
    use bytes::Bytes;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use time::OffsetDateTime;

    /// Objects in a map: enough to replay interleavings step by step. The adapters' own
    /// behaviour of these operations is pinned by the blob store contract suite.
    #[derive(Default)]
    struct MapBlobs(Mutex<HashMap<String, Bytes>>);

    impl MapBlobs {
        fn objects(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
            self.0.lock().unwrap()
        }
        fn holds(&self, key: &BlobKey) -> Option<Bytes> {
            self.objects().get(key.as_str()).cloned()
        }
        fn keys(&self) -> Vec<String> {
            let mut keys: Vec<String> = self.objects().keys().cloned().collect();
            keys.sort();
            keys
        }
    }

    #[async_trait]
    impl BlobStore for MapBlobs {
        async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError> {
            self.objects().insert(key.as_str().to_owned(), bytes);
            Ok(())
        }
        async fn put_stream(&self, key: &BlobKey, body: BlobBody) -> Result<u64, BlobError> {
            let bytes = Bytes::from(body.collect().await?);
            let size = bytes.len() as u64;
            self.put(key, bytes).await.map(|()| size)
        }
        async fn get(&self, _: &BlobKey, _: Option<ByteRange>) -> Result<BlobRead, BlobError> {
            unreachable!("removals never read")
        }
        async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
            Ok(self.holds(key).map(|bytes| BlobMeta {
                size: bytes.len() as u64,
                last_modified: OffsetDateTime::UNIX_EPOCH,
                etag: None,
            }))
        }
        async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
            self.objects().remove(key.as_str());
            Ok(())
        }
        async fn rename(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError> {
            let bytes = self.objects().remove(from.as_str()).ok_or(BlobError::NotFound)?;
            self.objects().insert(to.as_str().to_owned(), bytes);
            Ok(())
        }
        async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError> {
            let bytes = self.holds(from).ok_or(BlobError::NotFound)?;
            self.objects().insert(to.as_str().to_owned(), bytes);
            Ok(())
        }
    }

    const BYTES: &[u8] = b"the same audio, uploaded twice";

    fn key(name: &str) -> BlobKey {
        BlobKey::parse(name).unwrap()
    }

    /// An original whose bytes are staged, not yet copied to its key.
    async fn staged(blobs: &MapBlobs) -> StoredOriginal {
        let original = StoredOriginal {
            blob: key("tracks/ab/abcd.mp3"),
            staged: key("staging/upload"),
            format: AudioFormat::Mp3,
            size_bytes: BYTES.len() as u64,
            sha256: "abcd".into(),
        };
        blobs.put(&original.staged, Bytes::from_static(BYTES)).await.unwrap();
        original
    }

    /// An original as `store_original` leaves it: staged, and copied to its key.
    async fn stored(blobs: &MapBlobs) -> StoredOriginal {
        let original = staged(blobs).await;
        blobs.copy(&original.staged, &original.blob).await.unwrap();
        original
    }

    /// Answers to the removal's two checks, in order; `on_check(n)` runs just before answer
    /// `n`, so a test can slot the other party's steps between the removal's.
    fn checks(
        answers: &'static [bool],
        on_check: impl Fn(usize) + Send + Sync,
    ) -> impl FnMut() -> std::future::Ready<Result<bool, StoreError>> {
        let mut asked = 0;
        move || {
            on_check(asked);
            let answer = answers[asked];
            asked += 1;
            std::future::ready(Ok(answer))
        }
    }

    #[tokio::test]
    async fn an_unused_blob_is_removed_and_leaves_nothing_aside() {
        let blobs = MapBlobs::default();
        let blob = key("tracks/cd/cdef.wav");
        blobs.put(&blob, Bytes::from_static(BYTES)).await.unwrap();
        remove_unless_used(&blobs, &blob, checks(&[false, false], |_| {})).await.unwrap();
        assert_eq!(blobs.keys(), Vec::<String>::new());
        remove_unless_used(&blobs, &blob, checks(&[false, false], |_| {})).await.unwrap();
    }

    #[tokio::test]
    async fn a_used_blob_stays() {
        let blobs = MapBlobs::default();
        let blob = key("tracks/cd/cdef.wav");
        blobs.put(&blob, Bytes::from_static(BYTES)).await.unwrap();
        remove_unless_used(&blobs, &blob, checks(&[true], |_| {})).await.unwrap();
        assert_eq!(blobs.keys(), vec![blob.as_str().to_owned()]);
    }

    /// The upload's version lands between the removal's two checks: the removal had already
    /// moved the blob aside, and puts it back.
    #[tokio::test]
    async fn a_version_recorded_between_the_checks_makes_the_removal_put_the_blob_back() {
        let blobs = MapBlobs::default();
        let original = stored(&blobs).await;
        // The removal's first check says unused (the version is not in yet) and its second
        // says used (it is now).
        remove_unless_used(&blobs, &original.blob, checks(&[false, true], |_| {})).await.unwrap();
        settle(&blobs, &original).await;
        assert_eq!(blobs.holds(&original.blob).as_deref(), Some(BYTES));
        assert_eq!(blobs.keys(), vec![original.blob.as_str().to_owned()], "staged copy gone");
    }

    /// The removal checks twice before the upload's version lands and removes the blob the
    /// upload had just copied into place; `settle`, after the version, restores it.
    #[tokio::test]
    async fn a_blob_removed_before_the_version_was_recorded_is_restored_by_settle() {
        let blobs = MapBlobs::default();
        let original = stored(&blobs).await;
        remove_unless_used(&blobs, &original.blob, checks(&[false, false], |_| {})).await.unwrap();
        assert_eq!(blobs.holds(&original.blob), None, "what check-then-delete alone would lose");
        settle(&blobs, &original).await;
        assert_eq!(blobs.holds(&original.blob).as_deref(), Some(BYTES));
        assert_eq!(blobs.keys(), vec![original.blob.as_str().to_owned()]);
    }

    /// The upload copies its bytes into place after the removal's first check: the removal
    /// moves the fresh copy aside, and whichever way its second check goes, the blob is
    /// there once the upload has settled.
    #[tokio::test]
    async fn an_upload_landing_after_the_first_check_keeps_its_blob_either_way() {
        for second_check in [false, true] {
            let blobs = Arc::new(MapBlobs::default());
            let original = staged(&blobs).await;
            let uploader = Arc::clone(&blobs);
            let (blob, staged) = (original.blob.clone(), original.staged.clone());
            let answers: &'static [bool] =
                if second_check { &[false, true] } else { &[false, false] };
            let copy_after_first = checks(answers, move |asked| {
                if asked == 0 {
                    // The upload's copy lands at the first check, before the move aside.
                    let bytes = uploader.holds(&staged).unwrap();
                    uploader.objects().insert(blob.as_str().to_owned(), bytes);
                }
            });
            remove_unless_used(&*blobs, &original.blob, copy_after_first).await.unwrap();
            settle(&*blobs, &original).await;
            assert_eq!(blobs.holds(&original.blob).as_deref(), Some(BYTES), "{second_check}");
            assert_eq!(blobs.keys(), vec![original.blob.as_str().to_owned()], "{second_check}");
        }
    }

    /// The whole upload (copy, version, settle) happens between the removal's first check
    /// and its move aside: the second check sees the version, and the blob goes back. A
    /// check-then-delete removal would delete it here, after the upload had settled.
    #[tokio::test]
    async fn an_upload_settled_between_the_first_check_and_the_move_keeps_its_blob() {
        let blobs = Arc::new(MapBlobs::default());
        let original = staged(&blobs).await;
        let uploader = Arc::clone(&blobs);
        let (blob, staged) = (original.blob.clone(), original.staged.clone());
        let upload_at_first_check = checks(&[false, true], move |asked| {
            if asked == 0 {
                // Copied into place and settled: the blob is there, the staged copy gone.
                let mut objects = uploader.objects();
                let bytes = objects.remove(staged.as_str()).unwrap();
                objects.insert(blob.as_str().to_owned(), bytes);
            }
        });
        remove_unless_used(&*blobs, &original.blob, upload_at_first_check).await.unwrap();
        assert_eq!(blobs.holds(&original.blob).as_deref(), Some(BYTES));
        assert_eq!(blobs.keys(), vec![original.blob.as_str().to_owned()]);
    }

    /// A removal that stopped after moving the blob aside (a crash) is finished by its retry:
    /// put back if the blob is in use by then, removed for good if not.
    #[tokio::test]
    async fn a_retry_finishes_a_removal_interrupted_after_the_move() {
        for used in [false, true] {
            let blobs = MapBlobs::default();
            let blob = key("tracks/cd/cdef.wav");
            blobs.put(&aside_key(&blob), Bytes::from_static(BYTES)).await.unwrap();
            let answers: &'static [bool] = if used { &[true] } else { &[false, false] };
            remove_unless_used(&blobs, &blob, checks(answers, |_| {})).await.unwrap();
            let expected = if used { vec![blob.as_str().to_owned()] } else { Vec::new() };
            assert_eq!(blobs.keys(), expected, "used: {used}");
        }
    }
}
