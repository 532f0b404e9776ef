//! The storage contract for tracks: creation with its job, lists (filters, sorts, keyset
//! pages), edits under concurrency, processing outcomes and deletion.

use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

use super::{new_user, now, unique_tag};
use crate::blobs::BlobKey;
use crate::jobs::{JobStatus, NewJob};
use crate::media::{AudioAnalysis, AudioFormat};
use crate::pagination::PageRequest;
use crate::store::AccountStore;
use crate::tracks::{
    Bpm, Description, Genre, MusicalKey, NewTrack, NewTrackVersion, RankedTrack, SearchTerms,
    StreamState, Tags, Title, Track, TrackChanges, TrackQuery, TrackSort, TrackStatus,
    TrackVersion, Visibility, Waveform,
};
use crate::users::User;

/// Instantiates every case below as a `#[tokio::test]`, with the same two forms as
/// `account_store_contract!`: `track_store_contract!(fresh)` or
/// `track_store_contract!(fresh => optional)`.
#[macro_export]
macro_rules! track_store_contract {
    ($($fresh:tt)+) => {
        $crate::contract_suite!(track_store [
            a_track_is_inserted_processing_with_its_job_and_reads_back,
            a_track_that_cannot_be_inserted_leaves_no_job_behind,
            lists_hold_only_public_ready_tracks_matching_the_filters,
            every_sort_pages_through_all_tracks_without_overlap,
            search_finds_words_in_title_owner_tags_and_description_ranked,
            search_pages_by_relevance_without_overlap,
            concurrent_edits_of_different_fields_all_land,
            processing_marks_a_track_ready_with_its_facts_or_failed_with_a_reason,
            deleting_a_track_enqueues_its_blob_removal_once,
            a_new_version_is_served_and_numbered_after_the_last,
            racing_versions_take_distinct_numbers_and_the_last_is_served,
            an_analysis_of_a_replaced_original_is_ignored,
            marking_a_track_ready_enqueues_its_follow_up_job_only_with_it,
            stream_reports_are_recorded_replaced_and_reset_by_new_audio,
        ] $($fresh)+);
    };
}

async fn owner(store: &Arc<dyn AccountStore>, tag: &str) -> User {
    store.insert_user(&new_user(&unique_tag(tag))).await.expect("insert user")
}

fn new_track(owner: &User, title: &str) -> NewTrack {
    let id = Uuid::now_v7();
    NewTrack {
        id,
        owner_id: owner.id,
        title: Title::parse(title).unwrap(),
        description: None,
        genre: None,
        tags: Tags::default(),
        bpm: None,
        key: None,
        visibility: Visibility::Public,
        downloadable: false,
        size_bytes: 1234,
        blob: BlobKey::parse(&format!("tracks/{}.mp3", id.simple())).unwrap(),
        format: AudioFormat::Mp3,
        created_at: now(),
    }
}

fn job(kind: &str) -> NewJob {
    NewJob {
        id: Uuid::now_v7(),
        kind: kind.to_owned(),
        payload: "{}".to_owned(),
        run_at: now(),
        max_attempts: NewJob::MAX_ATTEMPTS,
        created_at: now(),
    }
}

fn analysis() -> AudioAnalysis {
    AudioAnalysis {
        codec: "mp3".to_owned(),
        duration_ms: 2000,
        sample_rate: 44_100,
        channels: 2,
        bitrate: Some(128_000),
        peaks: vec![0.0, 0.25, 1.0],
        samples_per_peak: 88,
    }
}

async fn queued_jobs(store: &Arc<dyn AccountStore>) -> Vec<Uuid> {
    let page = PageRequest::first(100);
    store.list_jobs(Some(JobStatus::Queued), page).await.unwrap().iter().map(|j| j.id).collect()
}

/// Inserts `track` and makes it ready.
async fn ready(store: &Arc<dyn AccountStore>, track: NewTrack) -> Track {
    store.insert_track(&track, &job("track.process")).await.expect("insert track");
    store
        .mark_track_ready(track.id, &track.blob, &analysis(), None, now())
        .await
        .unwrap()
        .expect("track exists")
}

fn query(sort: TrackSort) -> TrackQuery {
    TrackQuery { q: None, genre: None, tag: None, owner: None, sort, after: None, fetch_limit: 100 }
}

fn ids(tracks: &[Track]) -> Vec<Uuid> {
    tracks.iter().map(|t| t.id).collect()
}

fn ranked_ids(rows: &[RankedTrack]) -> Vec<Uuid> {
    rows.iter().map(|r| r.track.id).collect()
}

pub async fn a_track_is_inserted_processing_with_its_job_and_reads_back(
    store: Arc<dyn AccountStore>,
) {
    let user = owner(&store, "ins").await;
    let mut track = new_track(&user, "Night Drive");
    track.description = Some(Description::parse("line one\nline two").unwrap());
    track.genre = Some(Genre::parse("Techno").unwrap());
    track.tags = Tags::parse("dark, warehouse").unwrap();
    track.bpm = Some(Bpm::new(128).unwrap());
    track.key = Some(MusicalKey::parse("F#m").unwrap());
    track.visibility = Visibility::Unlisted;
    track.downloadable = true;
    let process = job("track.process");

    let inserted = store.insert_track(&track, &process).await.expect("insert");

    assert_eq!(inserted.status, TrackStatus::Processing);
    assert_eq!(inserted.version, 1);
    assert_eq!(inserted.owner.id, user.id);
    assert_eq!(inserted.owner.username, user.username);
    assert_eq!(inserted.title, track.title);
    assert_eq!(inserted.description, track.description);
    assert_eq!(inserted.genre, track.genre);
    assert_eq!(inserted.tags.as_slice(), ["dark", "warehouse"]);
    assert_eq!(inserted.bpm, track.bpm);
    assert_eq!(inserted.key, track.key);
    assert_eq!(inserted.visibility, Visibility::Unlisted);
    assert!(inserted.downloadable);
    assert_eq!(
        (inserted.size_bytes, &inserted.blob, inserted.format),
        (1234, &track.blob, AudioFormat::Mp3)
    );
    assert_eq!(inserted.created_at, track.created_at);
    assert_eq!(inserted.facts.duration_ms, None);
    assert_eq!(store.track_by_id(track.id).await.unwrap(), Some(inserted));
    assert_eq!(store.track_by_id(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(queued_jobs(&store).await, [process.id]);
    assert_eq!(store.track_waveform(track.id).await.unwrap(), None, "not ready yet");
}

pub async fn a_track_that_cannot_be_inserted_leaves_no_job_behind(store: Arc<dyn AccountStore>) {
    let user = owner(&store, "atomic").await;
    let mut orphan = new_track(&user, "Nobody's");
    orphan.owner_id = Uuid::now_v7();

    assert!(store.insert_track(&orphan, &job("track.process")).await.is_err());

    assert_eq!(store.track_by_id(orphan.id).await.unwrap(), None);
    assert!(queued_jobs(&store).await.is_empty(), "the job rolled back with the track");
}

pub async fn lists_hold_only_public_ready_tracks_matching_the_filters(
    store: Arc<dyn AccountStore>,
) {
    let alice = owner(&store, "alice").await;
    let bob = owner(&store, "bob").await;
    let mut techno = new_track(&alice, "Techno one");
    techno.genre = Some(Genre::parse("Techno").unwrap());
    techno.tags = Tags::parse("dark,club").unwrap();
    let techno = ready(&store, techno).await;
    let mut house = new_track(&bob, "House one");
    house.genre = Some(Genre::parse("house").unwrap());
    house.tags = Tags::parse("darkness").unwrap();
    let house = ready(&store, house).await;
    let mut unlisted = new_track(&alice, "Unlisted");
    unlisted.visibility = Visibility::Unlisted;
    ready(&store, unlisted).await;
    let mut private = new_track(&alice, "Private");
    private.visibility = Visibility::Private;
    ready(&store, private).await;
    store.insert_track(&new_track(&alice, "Processing"), &job("track.process")).await.unwrap();
    let failed = new_track(&alice, "Failed");
    store.insert_track(&failed, &job("track.process")).await.unwrap();
    store.mark_track_failed(failed.id, &failed.blob, "the audio is damaged", now()).await.unwrap();

    let all = store.list_tracks(&query(TrackSort::Recent)).await.unwrap();
    assert_eq!(ranked_ids(&all), [house.id, techno.id], "newest first, listed only");
    assert!(all.iter().all(|r| r.score == 0.0), "no search, no score");
    let by_genre = TrackQuery { genre: Some("TECHNO".to_owned()), ..query(TrackSort::Recent) };
    assert_eq!(ranked_ids(&store.list_tracks(&by_genre).await.unwrap()), [techno.id]);
    let by_tag = TrackQuery { tag: Some("dark".to_owned()), ..query(TrackSort::Recent) };
    let tagged = store.list_tracks(&by_tag).await.unwrap();
    assert_eq!(ranked_ids(&tagged), [techno.id], "whole tags only");
    let by_owner = TrackQuery { owner: Some(bob.id), ..query(TrackSort::Recent) };
    assert_eq!(ranked_ids(&store.list_tracks(&by_owner).await.unwrap()), [house.id]);
    let nothing = TrackQuery { tag: Some("%".to_owned()), ..query(TrackSort::Recent) };
    assert!(store.list_tracks(&nothing).await.unwrap().is_empty(), "tags match literally");
}

pub async fn every_sort_pages_through_all_tracks_without_overlap(store: Arc<dyn AccountStore>) {
    let user = owner(&store, "pager").await;
    // Equal titles in different case, so the title order needs its id tie-breaker.
    let titles = ["beta", "Alpha", "gamma", "alpha", "Delta", "epsilon", "ALPHA"];
    let mut made = Vec::new();
    for title in titles {
        made.push(ready(&store, new_track(&user, title)).await);
    }
    for sort in [TrackSort::Recent, TrackSort::Popular, TrackSort::Title] {
        let mut seen: Vec<RankedTrack> = Vec::new();
        let mut after = None;
        loop {
            let page = TrackQuery { after: after.clone(), fetch_limit: 3, ..query(sort) };
            let rows = store.list_tracks(&page).await.unwrap();
            assert!(rows.len() <= 3);
            let full = rows.len() == 3;
            let kept = if full { &rows[..2] } else { &rows[..] };
            seen.extend(kept.iter().cloned());
            if !full {
                break;
            }
            after = kept.last().map(|t| t.cursor(sort));
        }
        let unique: HashSet<Uuid> = seen.iter().map(|r| r.track.id).collect();
        assert_eq!(unique.len(), seen.len(), "{sort:?}: pages overlap");
        assert_eq!(unique.len(), made.len(), "{sort:?}: a track was skipped");
        let expected: Vec<Uuid> = match sort {
            TrackSort::Recent | TrackSort::Popular | TrackSort::Relevance => {
                made.iter().rev().map(|t| t.id).collect()
            }
            TrackSort::Title => {
                let mut by_title = made.clone();
                by_title.sort_by_key(|t| (t.title.sort_key(), t.id));
                ids(&by_title)
            }
        };
        assert_eq!(ranked_ids(&seen), expected, "{sort:?}");
    }
}

pub async fn concurrent_edits_of_different_fields_all_land(store: Arc<dyn AccountStore>) {
    let user = owner(&store, "editor").await;
    let track = new_track(&user, "Draft");
    store.insert_track(&track, &job("track.process")).await.unwrap();
    const ROUNDS: usize = 10;
    let mut tasks = Vec::new();
    for round in 0..ROUNDS {
        let titles = store.clone();
        tasks.push(tokio::spawn(async move {
            let title = TrackChanges {
                title: Some(Title::parse(&format!("Title {round}")).unwrap()),
                ..TrackChanges::default()
            };
            titles.update_track(track.id, &title, now()).await.unwrap().unwrap();
        }));
        let tagger = store.clone();
        tasks.push(tokio::spawn(async move {
            let tags = TrackChanges {
                tags: Some(Tags::parse(&format!("tag{round}")).unwrap()),
                bpm: Some(Some(Bpm::new(100 + round as i64).unwrap())),
                ..TrackChanges::default()
            };
            tagger.update_track(track.id, &tags, now()).await.unwrap().unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let last = store.track_by_id(track.id).await.unwrap().unwrap();
    assert!(last.title.as_str().starts_with("Title "), "{:?}", last.title);
    assert_eq!(last.tags.as_slice().len(), 1);
    assert!(last.bpm.is_some());
    assert_eq!(last.version, 1 + 2 * ROUNDS as i64, "every edit counted once");

    let clear = TrackChanges { bpm: Some(None), ..TrackChanges::default() };
    let cleared = store.update_track(track.id, &clear, now()).await.unwrap().unwrap();
    assert_eq!((cleared.bpm, &cleared.title), (None, &last.title), "only the named field");
    assert_eq!(store.update_track(Uuid::now_v7(), &clear, now()).await.unwrap(), None);
}

pub async fn processing_marks_a_track_ready_with_its_facts_or_failed_with_a_reason(
    store: Arc<dyn AccountStore>,
) {
    let user = owner(&store, "proc").await;
    let good = new_track(&user, "Good");
    store.insert_track(&good, &job("track.process")).await.unwrap();

    let before = queued_jobs(&store).await.len();
    let done = store
        .mark_track_ready(good.id, &good.blob, &analysis(), None, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(queued_jobs(&store).await.len(), before, "no follow-up job asked for, none queued");

    assert_eq!(done.status, TrackStatus::Ready);
    assert_eq!(done.failure_reason, None);
    assert_eq!(done.facts.duration_ms, Some(2000));
    assert_eq!(done.facts.sample_rate, Some(44_100));
    assert_eq!(done.facts.channels, Some(2));
    assert_eq!(done.facts.bitrate, Some(128_000));
    assert_eq!(done.facts.codec.as_deref(), Some("mp3"));
    assert_eq!(done.version, 2);
    assert_eq!(
        store.track_waveform(good.id).await.unwrap(),
        Some(Waveform { peaks: vec![0.0, 0.25, 1.0], samples_per_peak: 88 })
    );

    let bad = new_track(&user, "Bad");
    store.insert_track(&bad, &job("track.process")).await.unwrap();
    let failed = store
        .mark_track_failed(bad.id, &bad.blob, "the audio is damaged: truncated", now())
        .await
        .unwrap();
    let failed = failed.unwrap();
    assert_eq!(failed.status, TrackStatus::Failed);
    assert_eq!(failed.failure_reason.as_deref(), Some("the audio is damaged: truncated"));
    assert_eq!(failed.facts.duration_ms, None);
    assert_eq!(store.track_waveform(bad.id).await.unwrap(), None);

    let missing = Uuid::now_v7();
    let facts = analysis();
    let none = store.mark_track_ready(missing, &good.blob, &facts, None, now());
    assert_eq!(none.await.unwrap(), None);
    assert_eq!(store.mark_track_failed(missing, &good.blob, "x", now()).await.unwrap(), None);
}

pub async fn deleting_a_track_enqueues_its_blob_removal_once(store: Arc<dyn AccountStore>) {
    let user = owner(&store, "deleter").await;
    let track = new_track(&user, "Doomed");
    let process = job("track.process");
    store.insert_track(&track, &process).await.unwrap();
    let removal = job("track.delete_blobs");

    // A job id already used fails the insert: the track row must roll back with it.
    let mut twin = new_track(&user, "Same bytes");
    twin.blob = track.blob.clone();
    store.insert_track(&twin, &process).await.unwrap_err();
    let twin_job = job("track.process");
    store.insert_track(&twin, &twin_job).await.unwrap();
    assert!(store.track_blob_in_use(&track.blob).await.unwrap());

    assert!(store.delete_track(track.id, std::slice::from_ref(&removal)).await.unwrap());

    assert!(store.track_blob_in_use(&track.blob).await.unwrap(), "the twin still uses it");
    assert!(store.delete_track(twin.id, &[job("track.delete_blobs")]).await.unwrap());
    assert!(!store.track_blob_in_use(&track.blob).await.unwrap());

    assert_eq!(store.track_by_id(track.id).await.unwrap(), None);
    let again = job("track.delete_blobs");
    assert!(!store.delete_track(track.id, std::slice::from_ref(&again)).await.unwrap());
    let queued = queued_jobs(&store).await;
    assert_eq!(queued.len(), 4, "two processings, two removals, none for the second delete");
    assert!(queued.contains(&removal.id) && !queued.contains(&again.id));
}

fn new_version(track: &NewTrack, name: &str, format: AudioFormat) -> NewTrackVersion {
    NewTrackVersion {
        id: Uuid::now_v7(),
        track_id: track.id,
        blob: BlobKey::parse(&format!(
            "tracks/{}-{name}.{}",
            track.id.simple(),
            format.extension()
        ))
        .unwrap(),
        format,
        size_bytes: 999,
        created_at: now(),
    }
}

async fn all_versions(store: &Arc<dyn AccountStore>, track: Uuid) -> Vec<TrackVersion> {
    store.track_versions(track, PageRequest::first(100)).await.unwrap()
}

pub async fn a_new_version_is_served_and_numbered_after_the_last(store: Arc<dyn AccountStore>) {
    let user = owner(&store, "versions").await;
    let track = new_track(&user, "Demo");
    let before = ready(&store, track.clone()).await;
    let first = all_versions(&store, track.id).await;
    assert_eq!(first.len(), 1, "the original is version 1");
    assert_eq!((first[0].id, first[0].number, &first[0].blob), (track.id, 1, &track.blob));
    assert_eq!((first[0].format, first[0].size_bytes), (AudioFormat::Mp3, 1234));

    let second = new_version(&track, "v2", AudioFormat::Flac);
    let process = job("track.process");
    let added = store.add_track_version(&second, &process, now()).await.unwrap().unwrap();

    assert_eq!((added.id, added.number, &added.blob), (second.id, 2, &second.blob));
    let served = store.track_by_id(track.id).await.unwrap().unwrap();
    assert_eq!(
        (&served.blob, served.format, served.size_bytes),
        (&second.blob, AudioFormat::Flac, 999)
    );
    assert_eq!(served.status, TrackStatus::Processing, "the new original is analysed again");
    assert_eq!(served.facts, Default::default());
    assert_eq!(store.track_waveform(track.id).await.unwrap(), None);
    assert_eq!(served.version, before.version + 1);
    assert_eq!(served.title, before.title, "metadata stays");
    assert!(queued_jobs(&store).await.contains(&process.id));
    let listed = all_versions(&store, track.id).await;
    assert_eq!(listed.iter().map(|v| v.number).collect::<Vec<_>>(), [2, 1], "newest first");
    let page = store.track_versions(track.id, PageRequest::first(1)).await.unwrap();
    assert_eq!(page.len(), 2, "a page fetches one more row than its limit");
    let rest = PageRequest { limit: 1, after: Some(page[0].id) };
    assert_eq!(store.track_versions(track.id, rest).await.unwrap()[0].number, 1);
    assert_eq!(store.track_version(track.id, 1).await.unwrap().unwrap().blob, track.blob);
    assert_eq!(store.track_version(track.id, 3).await.unwrap(), None);
    assert!(store.track_blob_in_use(&track.blob).await.unwrap(), "older versions keep theirs");

    let orphan =
        NewTrackVersion { track_id: Uuid::now_v7(), ..new_version(&track, "x", AudioFormat::Mp3) };
    let nothing = store.add_track_version(&orphan, &job("track.process"), now()).await.unwrap();
    assert_eq!(nothing, None);
    assert_eq!(store.track_version(orphan.track_id, 1).await.unwrap(), None);

    let other = new_track(&user, "Same bytes again");
    let other = NewTrack { blob: second.blob.clone(), ..other };
    store.insert_track(&other, &job("track.process")).await.unwrap();
    let mut expected = vec![track.blob.clone(), second.blob.clone()];
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(store.owner_blob_keys(user.id).await.unwrap(), expected, "each key once");
    assert_eq!(store.owner_blob_keys(Uuid::now_v7()).await.unwrap(), []);
    assert_eq!(store.track_blob_keys(track.id).await.unwrap(), expected, "both versions");
    assert_eq!(store.track_blob_keys(other.id).await.unwrap(), std::slice::from_ref(&second.blob));
    store.delete_track(other.id, &[]).await.unwrap();

    assert!(store.delete_track(track.id, &[job("track.delete_blobs")]).await.unwrap());
    assert!(all_versions(&store, track.id).await.is_empty(), "versions go with the track");
    assert!(!store.track_blob_in_use(&track.blob).await.unwrap());
    assert!(!store.track_blob_in_use(&second.blob).await.unwrap());
}

pub async fn racing_versions_take_distinct_numbers_and_the_last_is_served(
    store: Arc<dyn AccountStore>,
) {
    let user = owner(&store, "race-v").await;
    let track = new_track(&user, "Raced");
    store.insert_track(&track, &job("track.process")).await.unwrap();

    let adds = (0..8).map(|i| {
        let store = Arc::clone(&store);
        let version = new_version(&track, &format!("r{i}"), AudioFormat::Wav);
        tokio::spawn(async move {
            store.add_track_version(&version, &job("track.process"), now()).await.unwrap().unwrap()
        })
    });
    let mut added = Vec::new();
    for add in adds {
        added.push(add.await.unwrap());
    }

    let mut numbers: Vec<u32> = added.iter().map(|v| v.number).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (2..=9).collect::<Vec<_>>());
    let last = added.iter().max_by_key(|v| v.number).unwrap();
    let served = store.track_by_id(track.id).await.unwrap().unwrap();
    assert_eq!(served.blob, last.blob, "the track serves the highest number");
    assert_eq!(all_versions(&store, track.id).await.len(), 9);
}

pub async fn an_analysis_of_a_replaced_original_is_ignored(store: Arc<dyn AccountStore>) {
    let user = owner(&store, "stale").await;
    let track = new_track(&user, "Replaced");
    store.insert_track(&track, &job("track.process")).await.unwrap();
    let second = new_version(&track, "v2", AudioFormat::Ogg);
    store.add_track_version(&second, &job("track.process"), now()).await.unwrap().unwrap();

    let stale =
        store.mark_track_ready(track.id, &track.blob, &analysis(), None, now()).await.unwrap();
    assert_eq!(stale, None, "version 1's analysis finished after version 2 arrived");
    let stale = store.mark_track_failed(track.id, &track.blob, "late", now()).await.unwrap();
    assert_eq!(stale, None);
    let served = store.track_by_id(track.id).await.unwrap().unwrap();
    assert_eq!((served.status, served.failure_reason), (TrackStatus::Processing, None));

    let current =
        store.mark_track_ready(track.id, &second.blob, &analysis(), None, now()).await.unwrap();
    assert_eq!(current.unwrap().status, TrackStatus::Ready);
}

pub async fn marking_a_track_ready_enqueues_its_follow_up_job_only_with_it(
    store: Arc<dyn AccountStore>,
) {
    let user = owner(&store, "notify").await;
    let track = new_track(&user, "Announced");
    let process = job("track.process");
    store.insert_track(&track, &process).await.unwrap();
    let notify = job("track.notify_stream");

    let done = store
        .mark_track_ready(track.id, &track.blob, &analysis(), Some(&notify), now())
        .await
        .unwrap();

    assert_eq!(done.unwrap().status, TrackStatus::Ready);
    let queued = queued_jobs(&store).await;
    assert!(queued.contains(&notify.id), "the follow-up job is queued with the ready mark");

    // A follow-up job that cannot be stored (its id is taken) rolls the ready mark back.
    let other = new_track(&user, "Rolled back");
    store.insert_track(&other, &job("track.process")).await.unwrap();
    store
        .mark_track_ready(other.id, &other.blob, &analysis(), Some(&notify), now())
        .await
        .unwrap_err();
    let still = store.track_by_id(other.id).await.unwrap().unwrap();
    assert_eq!((still.status, still.version), (TrackStatus::Processing, 1));

    // No track, no job.
    let orphan = job("track.notify_stream");
    let facts = analysis();
    let missing = store.mark_track_ready(Uuid::now_v7(), &track.blob, &facts, Some(&orphan), now());
    assert_eq!(missing.await.unwrap(), None);
    assert!(!queued_jobs(&store).await.contains(&orphan.id));
}

pub async fn stream_reports_are_recorded_replaced_and_reset_by_new_audio(
    store: Arc<dyn AccountStore>,
) {
    let user = owner(&store, "hls").await;
    let track = ready(&store, new_track(&user, "Packaged")).await;
    assert_eq!(track.stream, None, "nothing reported yet");
    let packaged = StreamState::parse("ready", Some("https://cdn.example/hls/1.m3u8"), None);
    let packaged = packaged.unwrap();

    assert!(store.record_stream_state(track.id, &packaged, now()).await.unwrap());

    let read = store.track_by_id(track.id).await.unwrap().unwrap();
    assert_eq!(read.stream.as_ref(), Some(&packaged));
    assert_eq!(read.version, track.version + 1, "a report changes what clients see");

    let failed = StreamState::parse("failed", None, Some("segmenter crashed")).unwrap();
    assert!(store.record_stream_state(track.id, &failed, now()).await.unwrap());
    let read = store.track_by_id(track.id).await.unwrap().unwrap();
    assert_eq!(read.stream, Some(failed.clone()), "the later report replaces the earlier");
    let silent = StreamState::parse("failed", None, None).unwrap();
    assert!(store.record_stream_state(track.id, &silent, now()).await.unwrap());
    assert_eq!(store.track_by_id(track.id).await.unwrap().unwrap().stream, Some(silent));

    assert!(store.record_stream_state(track.id, &packaged, now()).await.unwrap());
    let reanalysed =
        store.mark_track_ready(track.id, &track.blob, &analysis(), None, now()).await.unwrap();
    assert_eq!(reanalysed.unwrap().stream, None, "new audio has not been packaged yet");

    assert!(store.record_stream_state(track.id, &packaged, now()).await.unwrap());
    let version = NewTrackVersion {
        id: Uuid::now_v7(),
        track_id: track.id,
        blob: BlobKey::parse(&format!("tracks/{}-v2.flac", track.id.simple())).unwrap(),
        format: AudioFormat::Flac,
        size_bytes: 10,
        created_at: now(),
    };
    store.add_track_version(&version, &job("track.process"), now()).await.unwrap().unwrap();
    let replaced = store.track_by_id(track.id).await.unwrap().unwrap();
    assert_eq!(replaced.stream, None, "a new version has not been packaged yet");

    assert!(!store.record_stream_state(Uuid::now_v7(), &packaged, now()).await.unwrap());
}

fn search(q: &str) -> TrackQuery {
    TrackQuery { q: SearchTerms::parse(q), ..query(TrackSort::Relevance) }
}

async fn found(store: &Arc<dyn AccountStore>, q: &str) -> Vec<RankedTrack> {
    store.list_tracks(&search(q)).await.unwrap_or_else(|e| panic!("search {q:?}: {e}"))
}

fn set(ids: impl IntoIterator<Item = Uuid>) -> HashSet<Uuid> {
    ids.into_iter().collect()
}

pub async fn search_finds_words_in_title_owner_tags_and_description_ranked(
    store: Arc<dyn AccountStore>,
) {
    let composer = owner(&store, "nocturnist").await;
    let other = owner(&store, "daylighter").await;
    let in_title = ready(&store, new_track(&other, "Nocturne in Blue")).await;
    let mut in_description = new_track(&other, "Morning Dew");
    in_description.description = Some(Description::parse("A quiet nocturne for piano").unwrap());
    let in_description = ready(&store, in_description).await;
    let mut in_tags = new_track(&other, "Ambient Sketch");
    in_tags.tags = Tags::parse("nocturne, lo-fi").unwrap();
    let in_tags = ready(&store, in_tags).await;
    let by_owner = ready(&store, new_track(&composer, "Untitled")).await;
    let unrelated = ready(&store, new_track(&other, "Sunrise")).await;
    let mut hidden = new_track(&other, "Nocturne Private");
    hidden.visibility = Visibility::Private;
    ready(&store, hidden).await;
    store.insert_track(&new_track(&other, "Nocturne Processing"), &job("p")).await.unwrap();

    let hits = found(&store, "nocturne").await;
    assert_eq!(set(ranked_ids(&hits)), set([in_title.id, in_description.id, in_tags.id]));
    assert_eq!(hits[0].track.id, in_title.id, "a title match ranks first");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    assert!(hits.iter().all(|r| r.score > 0.0));

    let prefixed = set(ranked_ids(&found(&store, "NOCT").await));
    let expected = set([in_title.id, in_description.id, in_tags.id, by_owner.id]);
    assert_eq!(prefixed, expected, "words match as prefixes, the owner's name included");
    assert_eq!(ranked_ids(&found(&store, "nocturne blue").await), [in_title.id], "all words");
    assert_eq!(ranked_ids(&found(&store, "quiet piano").await), [in_description.id]);
    assert_eq!(ranked_ids(&found(&store, "lo-fi").await), [in_tags.id]);
    let owner_name = composer.username.as_str().to_owned();
    assert_eq!(ranked_ids(&found(&store, &owner_name).await), [by_owner.id], "by owner");
    assert!(found(&store, "zzzzqx").await.is_empty());
    assert_eq!(ranked_ids(&found(&store, "sunrise").await), [unrelated.id]);

    for hostile in [r#"nocturne" OR "a"#, "nocturne*) NEAR(x", "NOT nocturne", "nocturne:* | a"] {
        let hits = found(&store, hostile).await;
        assert!(hits.len() <= 3, "{hostile}: query syntax leaked");
    }

    let recent = TrackQuery { sort: TrackSort::Recent, ..search("nocturne") };
    let recent = store.list_tracks(&recent).await.unwrap();
    assert_eq!(ranked_ids(&recent), [in_tags.id, in_description.id, in_title.id]);
    let edited =
        TrackChanges { title: Some(Title::parse("Renamed").unwrap()), ..TrackChanges::default() };
    store.update_track(in_title.id, &edited, now()).await.unwrap();
    assert_eq!(
        set(ranked_ids(&found(&store, "nocturne").await)),
        set([in_description.id, in_tags.id])
    );
    assert_eq!(
        ranked_ids(&found(&store, "renamed").await),
        [in_title.id],
        "the index follows edits"
    );
    let removal = job("track.delete_blobs");
    store.delete_track(in_tags.id, std::slice::from_ref(&removal)).await.unwrap();
    assert_eq!(ranked_ids(&found(&store, "nocturne").await), [in_description.id]);
}

pub async fn search_pages_by_relevance_without_overlap(store: Arc<dyn AccountStore>) {
    let user = owner(&store, "ranker").await;
    let mut made = HashSet::new();
    for i in 0..7 {
        let mut track = new_track(&user, &format!("Echo {i}"));
        // Different weights of the word give different scores; some tie.
        track.description = Some(Description::parse(&"echo ".repeat(i % 3 + 1)).unwrap());
        made.insert(ready(&store, track).await.id);
    }
    let mut seen: Vec<RankedTrack> = Vec::new();
    let mut after = None;
    loop {
        let page = TrackQuery { after: after.clone(), fetch_limit: 3, ..search("echo") };
        let rows = store.list_tracks(&page).await.unwrap();
        let full = rows.len() == 3;
        let kept = if full { &rows[..2] } else { &rows[..] };
        seen.extend(kept.iter().cloned());
        if !full {
            break;
        }
        after = kept.last().map(|r| r.cursor(TrackSort::Relevance));
    }
    assert_eq!(seen.len(), made.len(), "no overlap, nothing skipped");
    assert_eq!(set(ranked_ids(&seen)), made);
    assert!(seen.windows(2).all(|w| w[0].score >= w[1].score), "best first across pages");
}
