//! The background work of tracks: analysing a new upload (`track.process`), telling the
//! stream server a track is ready for packaging (`track.notify_stream`) and removing a
//! deleted track's original (`track.delete_blobs`). All are idempotent, as the job queue
//! requires: a finished track is left alone, a notice may be sent twice (the stream server
//! keys on the track id), an absent blob is already removed.

use async_trait::async_trait;
use std::sync::Arc;
use uuid::Uuid;

use super::removal::remove_unless_used;
use super::{TrackStatus, TrackStore};
use crate::blobs::{BlobError, BlobKey, BlobStore};
use crate::clock::{Clock, IdGenerator};
use crate::jobs::{Job, JobHandler, NewJob, one_field_payload, payload_field};
use crate::media::{AudioAnalyzer, MediaSpool};
use crate::stream::{ReadyForPackaging, StreamNotifier};

/// Job kind that tells the stream server a track is ready; payload `{"track_id":"<uuid>"}`.
pub const NOTIFY_STREAM_JOB: &str = "track.notify_stream";

/// Attempts of a `track.notify_stream` job. The stream server is another service that may be
/// down for a while: with the queue's backoff (5 s doubling, capped at 1 h) 12 attempts span
/// about 2.4 hours before the job is dead and left for `veza jobs retry`.
const NOTIFY_STREAM_ATTEMPTS: u32 = 12;

/// The payload of a `track.process` job.
pub(crate) fn process_payload(track_id: Uuid) -> String {
    one_field_payload("track_id", &track_id.to_string())
}

/// The payload of a `track.delete_blobs` job: the key itself, since the row is gone by then.
pub(crate) fn delete_blobs_payload(key: &BlobKey) -> String {
    one_field_payload("blob_key", key.as_str())
}

/// Analyses a `processing` track and records `ready` with what it measured, or `failed`
/// with the analyzer's reason. Only infrastructure failures (storage, a blob store that does
/// not answer) are job errors, retried with backoff; bad audio is an outcome, not an error.
///
/// When a stream server is configured, the `track.notify_stream` job is enqueued by the same
/// store transaction that marks the track ready: a crash between the two cannot lose the
/// notice, and a mark that rolls back sends none. Calling the stream server from here instead
/// would tie this job's retries (a whole re-analysis) to another service's availability.
pub struct TrackProcessor {
    pub tracks: Arc<dyn TrackStore>,
    pub spool: Arc<dyn MediaSpool>,
    pub analyzer: Arc<dyn AudioAnalyzer>,
    pub stream: Arc<dyn StreamNotifier>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

impl TrackProcessor {
    /// The `track.notify_stream` job for `track_id`, or `None` without a stream server.
    fn notify_job(&self, track_id: Uuid) -> Option<NewJob> {
        self.stream.is_configured().then(|| {
            let now = self.clock.now();
            NewJob {
                id: self.ids.new_id(),
                kind: NOTIFY_STREAM_JOB.to_owned(),
                payload: process_payload(track_id),
                run_at: now,
                max_attempts: NOTIFY_STREAM_ATTEMPTS,
                created_at: now,
            }
        })
    }
}

#[async_trait]
impl JobHandler for TrackProcessor {
    async fn handle(&self, job: &Job) -> Result<(), String> {
        let id = payload_field(&job.payload, "track_id")
            .and_then(|id| Uuid::try_parse(id).ok())
            .ok_or_else(|| format!("malformed payload {:?}", job.payload))?;
        let Some(track) = self.tracks.track_by_id(id).await.map_err(|e| e.to_string())? else {
            return Ok(()); // deleted while queued
        };
        let blob = &track.blob;
        let fail = |reason: String| async move {
            self.tracks
                .mark_track_failed(id, blob, &reason, self.clock.now())
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        };
        if track.status != TrackStatus::Processing {
            return Ok(()); // a previous attempt finished it
        }
        let source = match self.spool.open(&track.blob).await {
            Ok(source) => source,
            Err(BlobError::NotFound) => return fail("the uploaded file is missing".into()).await,
            Err(err) => return Err(err.to_string()),
        };
        let analyzer = Arc::clone(&self.analyzer);
        let (size, format) = (track.size_bytes, track.format);
        let analysis =
            tokio::task::spawn_blocking(move || analyzer.analyze(source, size, format)).await;
        match analysis {
            Ok(Ok(analysis)) => self
                .tracks
                .mark_track_ready(
                    id,
                    blob,
                    &analysis,
                    self.notify_job(id).as_ref(),
                    self.clock.now(),
                )
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Ok(Err(reason)) => fail(reason.to_string()).await,
            // The analyzer promises not to panic; if it does, the file is what broke it.
            Err(_) => fail("the audio could not be analysed".into()).await,
        }
    }
}

/// Tells the stream server a ready track can be packaged. A track deleted or no longer ready
/// since the job was queued needs no notice; a stream server that is unreachable or answers
/// other than 2xx fails the job, which the queue retries with backoff.
pub struct StreamNotification {
    pub tracks: Arc<dyn TrackStore>,
    pub stream: Arc<dyn StreamNotifier>,
}

#[async_trait]
impl JobHandler for StreamNotification {
    async fn handle(&self, job: &Job) -> Result<(), String> {
        let id = payload_field(&job.payload, "track_id")
            .and_then(|id| Uuid::try_parse(id).ok())
            .ok_or_else(|| format!("malformed payload {:?}", job.payload))?;
        let Some(track) = self.tracks.track_by_id(id).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        if track.status != TrackStatus::Ready {
            return Ok(());
        }
        let notice = ReadyForPackaging {
            track_id: track.id,
            owner_id: track.owner.id,
            format: track.format,
            size_bytes: track.size_bytes,
            duration_ms: track.facts.duration_ms,
            blob: track.blob,
        };
        self.stream.track_ready(&notice).await.map_err(|e| e.to_string())
    }
}

/// Removes a deleted track's original, unless another track still uses the same blob (keys
/// may be content hashes), safe against an upload of the same bytes racing it
/// (`removal::remove_unless_used`).
pub struct TrackBlobRemover {
    pub tracks: Arc<dyn TrackStore>,
    pub blobs: Arc<dyn BlobStore>,
}

#[async_trait]
impl JobHandler for TrackBlobRemover {
    async fn handle(&self, job: &Job) -> Result<(), String> {
        let key = payload_field(&job.payload, "blob_key")
            .and_then(|key| BlobKey::parse(key).ok())
            .ok_or_else(|| format!("malformed payload {:?}", job.payload))?;
        let in_use = || self.tracks.track_blob_in_use(&key);
        remove_unless_used(&*self.blobs, &key, in_use).await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(payload_field(&process_payload(id), "track_id"), Some(id.to_string().as_str()));
        let key = BlobKey::parse("tracks/ab/cd.mp3").unwrap();
        assert_eq!(
            payload_field(&delete_blobs_payload(&key), "blob_key"),
            Some("tracks/ab/cd.mp3")
        );
        assert_eq!(payload_field(&process_payload(id), "blob_key"), None);
        assert_eq!(payload_field("{}", "track_id"), None);
    }
}
