//! What the tus endpoints and `POST /tracks/from-upload` do. Only an upload's creator may see
//! or touch it; to anyone else, and once expired, it does not exist.

use time::Duration;
use uuid::Uuid;

use super::expiry::{delete_part_blobs, expire_payload};
use super::verify::{Failure, Verification};
use super::{
    AppendOutcome, NewUpload, RemoveIf, Upload, UploadChecksum, UploadError, UploadExpirer,
    UploadMetadata, UploadPart,
};
use crate::Ports;
use crate::audit::Actor;
use crate::auth::Principal;
use crate::blobs::{BlobBody, BlobKey};
use crate::jobs::NewJob;
use crate::tracks::{
    NewTrackInput, Track, TrackDetails, TrackService, TracksError, check_new_track,
};

/// Job kind that removes an unfinished upload at its expiry; payload `{"upload_id":"<uuid>"}`.
pub const EXPIRE_JOB: &str = "upload.expire";

/// How long an upload may take, from its creation.
pub const UPLOAD_LIFETIME: Duration = Duration::hours(24);

/// How long one request may hold a complete upload while it becomes a track.
const CLAIM_LEASE: Duration = Duration::hours(1);

/// Attempts of an expiry job: one that finds the upload claimed is retried with backoff, and
/// twelve attempts (5 s doubling, capped at 1 h) outlast a claim's hour.
const EXPIRE_ATTEMPTS: u32 = 12;

/// `POST /tracks/from-upload` as the client sent it. Without a title, the upload's metadata
/// names the track (its `title`, else its file name).
#[derive(Debug, Clone, Default)]
pub struct FromUploadInput {
    pub upload_id: Uuid,
    pub title: Option<String>,
    pub details: TrackDetails,
}

/// Where one append's bytes are stored: under the upload, named by where they start.
fn part_key(upload: Uuid, offset: u64, nonce: Uuid) -> BlobKey {
    BlobKey::parse(&format!("uploads/{upload}/{offset}-{nonce}")).expect("uuids make valid keys")
}

/// Content no request could ever make a track of: the upload is removed with the refusal.
fn refuses_the_content(err: &TracksError) -> bool {
    matches!(
        err,
        TracksError::TooLarge { .. }
            | TracksError::NotAudio
            | TracksError::EmptyFile
            | TracksError::Infected { .. }
    )
}

#[derive(Clone)]
pub struct UploadService {
    ports: Ports,
    tracks: TrackService,
}

impl UploadService {
    pub fn new(ports: Ports, tracks: TrackService) -> Self {
        Self { ports, tracks }
    }

    /// The largest upload accepted (`VEZA_MAX_UPLOAD_BYTES`, as for one-shot uploads).
    pub fn max_size(&self) -> u64 {
        self.tracks.config().max_upload_bytes
    }

    /// The `EXPIRE_JOB` handler over this service's ports.
    pub fn expirer(&self) -> UploadExpirer {
        UploadExpirer {
            uploads: self.ports.uploads.clone(),
            blobs: self.ports.blobs.clone(),
            clock: self.ports.clock.clone(),
        }
    }

    /// Declares an upload of `length` bytes for `owner`, with its expiry job.
    ///
    /// # Errors
    /// `TooLarge` over the upload limit.
    pub async fn create(
        &self,
        owner: &Principal,
        length: u64,
        metadata: UploadMetadata,
    ) -> Result<Upload, UploadError> {
        let limit = self.max_size();
        if length > limit {
            return Err(UploadError::TooLarge { limit });
        }
        let now = self.ports.clock.now();
        let upload = NewUpload {
            id: self.ports.ids.new_id(),
            owner_id: owner.user.id,
            length,
            metadata,
            created_at: now,
            expires_at: now + UPLOAD_LIFETIME,
        };
        let job = NewJob {
            id: self.ports.ids.new_id(),
            kind: EXPIRE_JOB.to_owned(),
            payload: expire_payload(upload.id),
            run_at: upload.expires_at,
            max_attempts: EXPIRE_ATTEMPTS,
            created_at: now,
        };
        Ok(self.ports.uploads.insert_upload(&upload, &job).await?)
    }

    /// The caller's unexpired upload.
    ///
    /// # Errors
    /// `NotFound` if there is none, it is someone else's, or it has expired.
    pub async fn status(&self, caller: &Principal, id: Uuid) -> Result<Upload, UploadError> {
        let upload = self.ports.uploads.upload_by_id(id).await?.ok_or(UploadError::NotFound)?;
        if upload.owner_id != caller.user.id || upload.expires_at <= self.ports.clock.now() {
            return Err(UploadError::NotFound);
        }
        Ok(upload)
    }

    /// Appends `body` at `offset`: stored as one part once it has streamed in whole, within
    /// the upload's length and matching `checksum` if one was declared, then recorded if the
    /// upload is still at `offset`. A body that fails any of these leaves nothing behind and
    /// the offset unchanged. Returns the upload at its new offset.
    ///
    /// # Errors
    /// `NotFound`, `OffsetMismatch`, `PastLength`, `ChecksumMismatch`,
    /// `Blob` (including a body that broke off).
    pub async fn append(
        &self,
        caller: &Principal,
        id: Uuid,
        offset: u64,
        checksum: Option<UploadChecksum>,
        body: BlobBody,
    ) -> Result<Upload, UploadError> {
        let upload = self.status(caller, id).await?;
        if offset != upload.offset {
            return Err(UploadError::OffsetMismatch { offset: upload.offset });
        }
        let blobs = &self.ports.blobs;
        let key = part_key(id, offset, self.ports.ids.new_id());
        let (body, verification) = Verification::wrap(body, upload.length - offset, checksum);
        let stored = blobs.put_stream(&key, body).await;
        let size = match (stored, verification.refusal()) {
            (_, Some(Failure::TooLong)) => {
                return Err(UploadError::PastLength { length: upload.length });
            }
            (_, Some(Failure::ChecksumMismatch)) => return Err(UploadError::ChecksumMismatch),
            (Err(err), None) => return Err(err.into()),
            (Ok(size), None) => size,
        };
        let part = UploadPart { offset, blob: key, size };
        let recorded = if size == 0 {
            Ok(AppendOutcome::Refused { offset })
        } else {
            self.ports.uploads.append_upload_part(id, &part, self.ports.clock.now()).await
        };
        if !matches!(recorded, Ok(AppendOutcome::Appended { .. })) {
            delete_part_blobs(&**blobs, std::slice::from_ref(&part)).await;
        }
        match recorded? {
            AppendOutcome::Appended { offset } => Ok(Upload { offset, ..upload }),
            // An empty body appends nothing, and is no error.
            AppendOutcome::Refused { .. } if size == 0 => Ok(upload),
            AppendOutcome::Refused { offset } => Err(UploadError::OffsetMismatch { offset }),
            AppendOutcome::Missing => Err(UploadError::NotFound),
        }
    }

    /// Removes the caller's upload and its parts (tus termination).
    ///
    /// # Errors
    /// `NotFound`, or `Busy` while a request turns it into a track.
    pub async fn terminate(&self, caller: &Principal, id: Uuid) -> Result<(), UploadError> {
        self.status(caller, id).await?;
        let now = self.ports.clock.now();
        match self.ports.uploads.remove_upload(id, RemoveIf::Unclaimed, now).await? {
            Some(parts) => {
                delete_part_blobs(&*self.ports.blobs, &parts).await;
                Ok(())
            }
            None if self.ports.uploads.upload_by_id(id).await?.is_some() => Err(UploadError::Busy),
            None => Err(UploadError::NotFound),
        }
    }

    /// Makes a track of the caller's complete upload: its parts stream, in order, through the
    /// same checks as a one-shot upload (limit, format by bytes, virus scan), then the track
    /// is recorded and the upload removed. Content that is refused (too large, not audio,
    /// empty, infected) removes the upload too; other failures leave it for a retry.
    ///
    /// # Errors
    /// `NotFound`, `Incomplete`, `Busy`, `Track` (the track's refusals and validation).
    pub async fn create_track(
        &self,
        caller: &Principal,
        actor: &Actor,
        input: FromUploadInput,
    ) -> Result<Track, UploadError> {
        let id = input.upload_id;
        let upload = self.status(caller, id).await?;
        if !upload.is_complete() {
            return Err(UploadError::Incomplete { offset: upload.offset, length: upload.length });
        }
        let title = input.title.or_else(|| upload.metadata.default_title()).unwrap_or_default();
        // Checked before the bytes are read, so a bad field costs no read, hash or scan.
        check_new_track(&title, &input.details)?;
        let now = self.ports.clock.now();
        if !self.ports.uploads.claim_upload(id, now, now + CLAIM_LEASE).await? {
            return Err(UploadError::Busy);
        }
        let made = async {
            let parts = self.ports.uploads.upload_parts(id).await?;
            let keys = parts.into_iter().map(|part| part.blob).collect();
            let body = BlobBody::of_objects(self.ports.blobs.clone(), keys);
            let original = self.tracks.store_original(actor, body).await?;
            let input = NewTrackInput { title, details: input.details, original };
            Ok::<_, UploadError>(self.tracks.create(caller, input).await?)
        }
        .await;
        let finished = match &made {
            Ok(_) => true,
            Err(UploadError::Track(err)) => refuses_the_content(err),
            Err(_) => false,
        };
        if finished {
            let now = self.ports.clock.now();
            if let Some(parts) = self.ports.uploads.remove_upload(id, RemoveIf::Any, now).await? {
                delete_part_blobs(&*self.ports.blobs, &parts).await;
            }
        } else if let Err(err) = self.ports.uploads.release_upload(id).await {
            tracing::warn!(error = %err, upload = %id, "upload reservation not released");
        }
        made
    }
}
