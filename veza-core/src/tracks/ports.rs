use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    NewTrack, NewTrackVersion, RankedTrack, StreamState, Track, TrackChanges, TrackQuery,
    TrackVersion, Waveform,
};
use crate::blobs::BlobKey;
use crate::jobs::NewJob;
use crate::media::AudioAnalysis;
use crate::pagination::PageRequest;
use crate::store::StoreError;

/// Persistence of tracks. Every method is one atomic operation; updates bump `version` and
/// write only what they name, so concurrent edits of different fields all land.
#[async_trait]
pub trait TrackStore: Send + Sync {
    /// Inserts the track in `processing`, its version 1 (id: the track's) over its original,
    /// and enqueues `job` (its processing) in the same transaction: all are written or none.
    /// # Errors
    /// A backend error (an unknown owner included); nothing is written then.
    async fn insert_track(&self, track: &NewTrack, job: &NewJob) -> Result<Track, StoreError>;

    /// The track with this id, whatever its visibility and status; `None` if there is none.
    async fn track_by_id(&self, id: Uuid) -> Result<Option<Track>, StoreError>;

    /// Public ready tracks matching `query`, in its order, strictly after its cursor, at most
    /// `query.fetch_limit`. With `query.q`, only tracks where every search word starts a
    /// word of the title, the owner's username, a tag or the description, each with its
    /// score (title matches weigh most); without, every score is 0.
    async fn list_tracks(&self, query: &TrackQuery) -> Result<Vec<RankedTrack>, StoreError>;

    /// Writes the `Some` fields of `changes`; `None` if no such track.
    async fn update_track(
        &self,
        id: Uuid,
        changes: &TrackChanges,
        now: OffsetDateTime,
    ) -> Result<Option<Track>, StoreError>;

    /// Records a successful analysis of `blob`: `ready`, its facts and waveform, no failure
    /// reason, no stream state (the stream server has yet to package this audio) — and
    /// enqueues `then` (telling the stream server) in the same transaction. `None`, writing
    /// nothing and enqueuing no job, if there is no such track (deleted while processing) or
    /// it no longer serves `blob` (a newer version arrived meanwhile).
    async fn mark_track_ready(
        &self,
        id: Uuid,
        blob: &BlobKey,
        analysis: &AudioAnalysis,
        then: Option<&NewJob>,
        now: OffsetDateTime,
    ) -> Result<Option<Track>, StoreError>;

    /// Records the stream server's report on the track's packaging, replacing any earlier
    /// one. `false` if no such track.
    async fn record_stream_state(
        &self,
        id: Uuid,
        state: &StreamState,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Records a failed analysis of `blob`: `failed` with `reason`. `None` as for
    /// `mark_track_ready`.
    async fn mark_track_failed(
        &self,
        id: Uuid,
        blob: &BlobKey,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Track>, StoreError>;

    /// Adds `version` as the track's newest (numbered after the last, even under concurrent
    /// adds), makes the track serve it — original, format and size replaced, back to
    /// `processing` with its facts and waveform cleared — and enqueues `job` (its processing),
    /// all in one transaction. `None` (nothing written) if there is no such track.
    async fn add_track_version(
        &self,
        version: &NewTrackVersion,
        job: &NewJob,
        now: OffsetDateTime,
    ) -> Result<Option<TrackVersion>, StoreError>;

    /// The track's versions, newest first, strictly older than `page`'s cursor, at most
    /// `page.fetch_limit()`.
    async fn track_versions(
        &self,
        track_id: Uuid,
        page: PageRequest,
    ) -> Result<Vec<TrackVersion>, StoreError>;

    /// Version `number` of the track; `None` if there is none.
    async fn track_version(
        &self,
        track_id: Uuid,
        number: u32,
    ) -> Result<Option<TrackVersion>, StoreError>;

    /// The waveform measured at processing; `None` if no such track or it is not ready.
    async fn track_waveform(&self, id: Uuid) -> Result<Option<Waveform>, StoreError>;

    /// Deletes the track with its versions and enqueues `jobs` (the removal of their blobs)
    /// in the same transaction; `false` (and no job) if there was no such track.
    async fn delete_track(&self, id: Uuid, jobs: &[NewJob]) -> Result<bool, StoreError>;

    /// The originals of every version of every track `owner_id` has, each once (what an
    /// account's erasure must remove).
    async fn owner_blob_keys(&self, owner_id: Uuid) -> Result<Vec<BlobKey>, StoreError>;

    /// The originals of every version of one track, each once (what its deletion removes).
    async fn track_blob_keys(&self, track_id: Uuid) -> Result<Vec<BlobKey>, StoreError>;

    /// Whether any version of any track still has `key` as its original.
    async fn track_blob_in_use(&self, key: &BlobKey) -> Result<bool, StoreError>;
}
