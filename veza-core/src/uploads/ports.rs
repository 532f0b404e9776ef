use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AppendOutcome, NewUpload, RemoveIf, Upload, UploadPart};
use crate::blobs::BlobKey;
use crate::jobs::NewJob;
use crate::store::StoreError;

/// Persistence of resumable uploads and their parts. Every method is one atomic operation.
#[async_trait]
pub trait UploadStore: Send + Sync {
    /// Records the upload at offset 0 and enqueues `expiry` (its removal at `expires_at`) in
    /// the same transaction: both are written or neither.
    /// # Errors
    /// A backend error (an unknown owner included); nothing is written then.
    async fn insert_upload(
        &self,
        upload: &NewUpload,
        expiry: &NewJob,
    ) -> Result<Upload, StoreError>;

    /// The upload with this id, expired or not; `None` if there is none.
    async fn upload_by_id(&self, id: Uuid) -> Result<Option<Upload>, StoreError>;

    /// Records `part` and advances the offset by its size, only if the upload is at
    /// `part.offset`, the part ends within the length, and the upload has not expired at
    /// `now`. Of concurrent appends at one offset, exactly one is `Appended`.
    async fn append_upload_part(
        &self,
        id: Uuid,
        part: &UploadPart,
        now: OffsetDateTime,
    ) -> Result<AppendOutcome, StoreError>;

    /// The upload's parts in offset order.
    async fn upload_parts(&self, id: Uuid) -> Result<Vec<UploadPart>, StoreError>;

    /// The part blobs of every upload `owner_id` has in progress (what an account's erasure
    /// must remove: the rows go with the account, the blobs would stay).
    async fn owner_upload_part_keys(&self, owner_id: Uuid) -> Result<Vec<BlobKey>, StoreError>;

    /// Reserves a complete, unexpired upload for one request to turn into a track, until
    /// `until` (so a crashed request does not hold it forever). `false` if it is not there,
    /// not complete, expired, or already reserved.
    async fn claim_upload(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Ends a reservation (the track could not be made; the upload stays).
    async fn release_upload(&self, id: Uuid) -> Result<(), StoreError>;

    /// Deletes the upload and its parts if `rule` allows at `now`, returning the parts (whose
    /// blobs the caller removes); `None` if nothing was deleted.
    async fn remove_upload(
        &self,
        id: Uuid,
        rule: RemoveIf,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<UploadPart>>, StoreError>;
}
