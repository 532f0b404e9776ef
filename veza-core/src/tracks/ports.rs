use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{NewTrack, RankedTrack, StreamState, Track, TrackChanges, TrackQuery, Waveform};
use crate::blobs::BlobKey;
use crate::jobs::NewJob;
use crate::media::AudioAnalysis;
use crate::store::StoreError;

/// Persistence of tracks. Every method is one atomic operation; updates bump `version` and
/// write only what they name, so concurrent edits of different fields all land.
#[async_trait]
pub trait TrackStore: Send + Sync {
    /// Inserts the track in `processing` and enqueues `job` (its processing) in the same
    /// transaction: both are written or neither.
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

    /// Records a successful analysis: `ready`, its facts and waveform, no failure reason, no
    /// stream state (the stream server has yet to package this audio) — and enqueues `then`
    /// (telling the stream server) in the same transaction. `None`, and no job, if no such
    /// track (deleted while processing).
    async fn mark_track_ready(
        &self,
        id: Uuid,
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

    /// Records a failed analysis: `failed` with `reason`. `None` if no such track.
    async fn mark_track_failed(
        &self,
        id: Uuid,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Track>, StoreError>;

    /// The waveform measured at processing; `None` if no such track or it is not ready.
    async fn track_waveform(&self, id: Uuid) -> Result<Option<Waveform>, StoreError>;

    /// Deletes the track and enqueues `job` (the removal of its blobs) in the same
    /// transaction; `false` (and no job) if there was no such track.
    async fn delete_track(&self, id: Uuid, job: &NewJob) -> Result<bool, StoreError>;

    /// Whether any track still has `key` as its original.
    async fn track_blob_in_use(&self, key: &BlobKey) -> Result<bool, StoreError>;
}
