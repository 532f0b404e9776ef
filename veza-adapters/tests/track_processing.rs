//! Track processing end to end below HTTP: a track recorded in SQLite over an original in the
//! file-system blob store, analysed by Symphonia through the temp-file spool, becomes
//! `ready` with its measurements, or `failed` with the analyzer's reason; a ready track is
//! announced to a stream server (a real HTTP listener here) through the job queue, which
//! retries a stream server that answered 500.

use bytes::Bytes;
use std::sync::Arc;
use uuid::Uuid;
use veza_adapters::fs_blobs::FsBlobs;
use veza_adapters::spool::BlobSpool;
use veza_adapters::sqlite::SqliteStore;
use veza_adapters::stream_http::HttpStreamNotifier;
use veza_adapters::symphonia::SymphoniaAnalyzer;
use veza_core::blobs::{BlobKey, BlobStore};
use veza_core::clock::{Clock, ManualClock, SystemClock, UuidV7Ids};
use veza_core::jobs::{
    Job, JobHandler, JobRunner, JobStatus, JobStore, NewJob, Outcome, RunnerConfig,
};
use veza_core::media::{AudioFormat, detect_audio_format};
use veza_core::pagination::PageRequest;
use veza_core::stream::{InternalToken, NoNotifier, StreamNotifier};
use veza_core::testing::{new_user, now, unique_tag};
use veza_core::tracks::{
    NOTIFY_STREAM_JOB, NewTrack, PROCESS_JOB, StreamNotification, Tags, Title, TrackBlobRemover,
    TrackProcessor, TrackStatus, TrackStore, Visibility,
};
use veza_core::users::UserStore;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/audio");

struct Rig {
    store: Arc<SqliteStore>,
    blobs: Arc<dyn BlobStore>,
    processor: Arc<TrackProcessor>,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    rig_with(Arc::new(NoNotifier), Arc::new(SystemClock)).await
}

async fn rig_with(stream: Arc<dyn StreamNotifier>, clock: Arc<dyn Clock>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("veza.db")).unwrap());
    store.migrate().await.unwrap();
    let files = Arc::new(FsBlobs::open(dir.path().join("blobs")).unwrap());
    let blobs: Arc<dyn BlobStore> = files.clone();
    let processor = Arc::new(TrackProcessor {
        tracks: store.clone(),
        spool: Arc::new(BlobSpool::new(files, dir.path().join("tmp"))),
        analyzer: Arc::new(SymphoniaAnalyzer),
        stream,
        clock,
        ids: Arc::new(UuidV7Ids),
    });
    Rig { store, blobs, processor, _dir: dir }
}

/// Stores `bytes` as a new track's original, records the track with its processing job, and
/// returns the track id and that job.
async fn upload(rig: &Rig, bytes: Vec<u8>) -> (Uuid, Job) {
    let owner = rig.store.insert_user(&new_user(&unique_tag("proc"))).await.unwrap();
    let format = detect_audio_format(&bytes).unwrap_or(AudioFormat::Mp3);
    let id = Uuid::now_v7();
    let blob = BlobKey::parse(&format!("tracks/{}.{}", id.simple(), format.extension())).unwrap();
    let size_bytes = bytes.len() as u64;
    rig.blobs.put(&blob, Bytes::from(bytes)).await.unwrap();
    let track = NewTrack {
        id,
        owner_id: owner.id,
        title: Title::parse("Tone").unwrap(),
        description: None,
        genre: None,
        tags: Tags::default(),
        bpm: None,
        key: None,
        visibility: Visibility::Public,
        downloadable: false,
        size_bytes,
        blob,
        format,
        created_at: now(),
    };
    let job = NewJob {
        id: Uuid::now_v7(),
        kind: PROCESS_JOB.to_owned(),
        payload: format!("{{\"track_id\":\"{id}\"}}"),
        run_at: now(),
        max_attempts: NewJob::MAX_ATTEMPTS,
        created_at: now(),
    };
    rig.store.insert_track(&track, &job).await.unwrap();
    let queued = rig.store.list_jobs(Some(JobStatus::Queued), PageRequest::first(100));
    let job = queued.await.unwrap().into_iter().find(|j| j.id == job.id).unwrap();
    (id, job)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp3_flac_and_ogg_uploads_become_ready_with_a_two_second_duration() {
    let rig = rig().await;
    for name in ["tone-2s.mp3", "tone-2s.flac", "tone-2s.ogg"] {
        let (id, job) = upload(&rig, fixture(name)).await;

        rig.processor.handle(&job).await.unwrap_or_else(|e| panic!("{name}: {e}"));

        let track = rig.store.track_by_id(id).await.unwrap().unwrap();
        assert_eq!(track.status, TrackStatus::Ready, "{name}: {:?}", track.failure_reason);
        let duration = track.facts.duration_ms.unwrap();
        assert!(duration.abs_diff(2000) <= 50, "{name}: {duration} ms");
        assert!(track.facts.sample_rate.unwrap() > 0 && track.facts.channels.unwrap() > 0);
        assert!(track.facts.codec.is_some(), "{name}");
        let waveform = rig.store.track_waveform(id).await.unwrap().unwrap();
        assert!(!waveform.peaks.is_empty() && waveform.samples_per_peak > 0, "{name}");

        rig.processor.handle(&job).await.unwrap();
        let again = rig.store.track_by_id(id).await.unwrap().unwrap();
        assert_eq!(again.version, track.version, "{name}: a rerun leaves a ready track alone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_mp3_fails_with_a_reason_and_the_worker_carries_on() {
    let rig = rig().await;
    let (id, job) = upload(&rig, fixture("truncated.mp3")).await;

    rig.processor.handle(&job).await.expect("bad audio is an outcome, not a job error");

    let track = rig.store.track_by_id(id).await.unwrap().unwrap();
    assert_eq!(track.status, TrackStatus::Failed);
    let reason = track.failure_reason.unwrap();
    assert!(reason.contains("truncated"), "{reason}");
    assert_eq!(track.facts.duration_ms, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_a_missing_original_fail_the_track_not_the_job() {
    let rig = rig().await;
    let (garbage, job) = upload(&rig, b"%PDF-1.7 definitely not audio".repeat(100)).await;
    rig.processor.handle(&job).await.unwrap();
    let track = rig.store.track_by_id(garbage).await.unwrap().unwrap();
    assert_eq!(track.status, TrackStatus::Failed);
    assert!(!track.failure_reason.unwrap().is_empty());

    let (missing, job) = upload(&rig, fixture("tone-2s.mp3")).await;
    let blob = rig.store.track_by_id(missing).await.unwrap().unwrap().blob;
    rig.blobs.delete(&blob).await.unwrap();
    rig.processor.handle(&job).await.unwrap();
    let track = rig.store.track_by_id(missing).await.unwrap().unwrap();
    assert_eq!(track.failure_reason.as_deref(), Some("the uploaded file is missing"));

    let bad_payload = Job { payload: "{}".to_owned(), ..job };
    assert!(rig.processor.handle(&bad_payload).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tracks_original_is_removed_by_its_job() {
    let rig = rig().await;
    let (id, _) = upload(&rig, fixture("tone-2s.mp3")).await;
    let blob = rig.store.track_by_id(id).await.unwrap().unwrap().blob;
    let removal = NewJob {
        id: Uuid::now_v7(),
        kind: veza_core::tracks::DELETE_BLOBS_JOB.to_owned(),
        payload: format!("{{\"blob_key\":\"{}\"}}", blob.as_str()),
        run_at: now(),
        max_attempts: NewJob::MAX_ATTEMPTS,
        created_at: now(),
    };
    assert!(rig.store.delete_track(id, std::slice::from_ref(&removal)).await.unwrap());
    let queued = rig.store.list_jobs(Some(JobStatus::Queued), PageRequest::first(100));
    let job = queued.await.unwrap().into_iter().find(|j| j.id == removal.id).unwrap();
    let remover = TrackBlobRemover { tracks: rig.store.clone(), blobs: rig.blobs.clone() };

    remover.handle(&job).await.unwrap();

    assert_eq!(rig.blobs.head(&blob).await.unwrap(), None);
    remover.handle(&job).await.expect("idempotent: an absent blob is already removed");
}

async fn jobs_of_kind(rig: &Rig, kind: &str) -> Vec<Job> {
    let all = rig.store.list_jobs(None, PageRequest::first(100)).await.unwrap();
    all.into_iter().filter(|j| j.kind == kind).collect()
}

/// A stand-in stream server on a loopback port: answers the scripted statuses in turn (204
/// after them) and counts the notices it received.
async fn stream_server(script: Vec<u16>) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let answers = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(script)));
    let (log, next) = (received.clone(), answers.clone());
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| {
            let (log, next) = (log.clone(), next.clone());
            async move {
                log.lock().unwrap().push(body);
                let status = next.lock().unwrap().pop_front().unwrap_or(204);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_stream_server_no_notice_job_is_queued() {
    let rig = rig().await;
    let (id, job) = upload(&rig, fixture("tone-2s.mp3")).await;
    rig.processor.handle(&job).await.unwrap();
    assert_eq!(rig.store.track_by_id(id).await.unwrap().unwrap().status, TrackStatus::Ready);
    assert!(jobs_of_kind(&rig, NOTIFY_STREAM_JOB).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_track_is_announced_and_a_stream_server_answering_500_is_retried() {
    let (url, received) = stream_server(vec![500]).await;
    let token = InternalToken::new("processing-test-token-at-least-32-bytes").unwrap();
    let notifier: Arc<dyn StreamNotifier> =
        Arc::new(HttpStreamNotifier::new(&url, "http://veza.test", token).unwrap());
    // Ahead of the system clock the uploads below stamp their processing jobs with.
    let clock = Arc::new(ManualClock::new(now() + time::Duration::minutes(1)));
    let rig = rig_with(notifier.clone(), clock.clone()).await;
    let (id, _) = upload(&rig, fixture("tone-2s.flac")).await;
    let (bad, _) = upload(&rig, fixture("truncated.mp3")).await;
    // The queue as `veza serve` runs it, on a clock the test steps past the backoff.
    let mut runner = JobRunner::new(rig.store.clone(), clock.clone(), RunnerConfig::default());
    runner.register(PROCESS_JOB, rig.processor.clone());
    let handler = StreamNotification { tracks: rig.store.clone(), stream: notifier };
    runner.register(NOTIFY_STREAM_JOB, Arc::new(handler));
    let (_stop, mut shutdown) = tokio::sync::watch::channel(false);

    for _ in 0..2 {
        let outcome = runner.run_one(&mut shutdown).await.unwrap();
        assert_eq!(outcome, Some(Outcome::Done), "both tracks processed");
    }

    let queued = jobs_of_kind(&rig, NOTIFY_STREAM_JOB).await;
    assert_eq!(queued.len(), 1, "one notice, for the ready track only");
    assert_eq!(queued[0].payload, format!("{{\"track_id\":\"{id}\"}}"));
    assert!(queued[0].max_attempts > NewJob::MAX_ATTEMPTS, "outlasts a stream server restart");
    assert_eq!(rig.store.track_by_id(bad).await.unwrap().unwrap().status, TrackStatus::Failed);

    let first = runner.run_one(&mut shutdown).await.unwrap();
    assert!(
        matches!(&first, Some(Outcome::Retrying { error }) if error.contains("500")),
        "{first:?}"
    );
    assert_eq!(runner.run_one(&mut shutdown).await.unwrap(), None, "not due before its backoff");
    clock.advance(time::Duration::seconds(5));
    assert_eq!(runner.run_one(&mut shutdown).await.unwrap(), Some(Outcome::Done));
    let done = jobs_of_kind(&rig, NOTIFY_STREAM_JOB).await;
    assert_eq!((done[0].status, done[0].attempts), (JobStatus::Done, 2));

    let received = received.lock().unwrap();
    assert_eq!(received.len(), 2, "the refused notice and its retry");
    let notice: serde_json::Value = serde_json::from_str(&received[1]).unwrap();
    assert_eq!(notice["track_id"], id.to_string());
    assert_eq!(notice["format"], "flac");
    assert_eq!(
        notice["callback_url"],
        format!("http://veza.test/api/v1/internal/tracks/{id}/stream-ready")
    );
}
