//! The storage contract for resumable uploads: creation with its expiry job, appends that
//! only land at the current offset and within the length (exactly one of racing appends),
//! claims for turning an upload into a track, and removal by rule.

use std::sync::Arc;
use time::Duration;
use uuid::Uuid;

use super::{new_user, now, unique_tag};
use crate::blobs::BlobKey;
use crate::jobs::{JobStatus, NewJob};
use crate::pagination::PageRequest;
use crate::store::AccountStore;
use crate::uploads::{AppendOutcome, NewUpload, RemoveIf, UploadMetadata, UploadPart};
use crate::users::User;

/// Instantiates every case below as a `#[tokio::test]`, with the same two forms as
/// `account_store_contract!`: `upload_store_contract!(fresh)` or
/// `upload_store_contract!(fresh => optional)`.
#[macro_export]
macro_rules! upload_store_contract {
    ($($fresh:tt)+) => {
        $crate::contract_suite!(upload_store [
            an_upload_is_inserted_with_its_expiry_job_and_reads_back,
            an_upload_that_cannot_be_inserted_leaves_no_job_behind,
            appends_advance_the_offset_and_parts_read_back_in_order,
            appends_off_the_offset_past_the_length_or_after_expiry_are_refused,
            racing_appends_at_one_offset_land_exactly_once,
            a_complete_upload_is_claimed_by_one_request_at_a_time,
            removal_follows_its_rule_and_returns_the_parts,
        ] $($fresh)+);
    };
}

async fn owner(store: &Arc<dyn AccountStore>, tag: &str) -> User {
    store.insert_user(&new_user(&unique_tag(tag))).await.expect("insert user")
}

fn new_upload(owner: &User, length: u64) -> NewUpload {
    let created_at = now();
    NewUpload {
        id: Uuid::now_v7(),
        owner_id: owner.id,
        length,
        metadata: UploadMetadata {
            filename: Some("night drive.mp3".into()),
            title: Some("Night, Drive".into()),
        },
        created_at,
        expires_at: created_at + Duration::hours(24),
    }
}

fn expiry_job(upload: &NewUpload) -> NewJob {
    NewJob {
        id: Uuid::now_v7(),
        kind: "upload.expire".to_owned(),
        payload: format!("{{\"upload_id\":\"{}\"}}", upload.id),
        run_at: upload.expires_at,
        max_attempts: NewJob::MAX_ATTEMPTS,
        created_at: upload.created_at,
    }
}

async fn inserted(store: &Arc<dyn AccountStore>, length: u64) -> NewUpload {
    let user = owner(store, "up").await;
    let upload = new_upload(&user, length);
    store.insert_upload(&upload, &expiry_job(&upload)).await.expect("insert upload");
    upload
}

fn part(upload: &NewUpload, offset: u64, size: u64) -> UploadPart {
    let key = format!("uploads/{}/{offset}-{}", upload.id, Uuid::now_v7());
    UploadPart { offset, blob: BlobKey::parse(&key).unwrap(), size }
}

async fn offset_of(store: &Arc<dyn AccountStore>, upload: &NewUpload) -> u64 {
    store.upload_by_id(upload.id).await.unwrap().expect("upload exists").offset
}

pub async fn an_upload_is_inserted_with_its_expiry_job_and_reads_back(
    store: Arc<dyn AccountStore>,
) {
    let user = owner(&store, "ins").await;
    let upload = new_upload(&user, 5_000_000_000);
    let job = expiry_job(&upload);

    let stored = store.insert_upload(&upload, &job).await.expect("insert");

    assert_eq!(stored.id, upload.id);
    assert_eq!(stored.owner_id, user.id);
    assert_eq!((stored.length, stored.offset), (5_000_000_000, 0), "lengths past 4 GiB");
    assert_eq!(stored.metadata, upload.metadata);
    assert_eq!((stored.created_at, stored.expires_at), (upload.created_at, upload.expires_at));
    assert_eq!(store.upload_by_id(upload.id).await.unwrap(), Some(stored));
    let queued = store.list_jobs(Some(JobStatus::Queued), PageRequest::first(10)).await.unwrap();
    let queued = queued.iter().find(|j| j.id == job.id).expect("the expiry job is queued");
    assert_eq!(queued.run_at, upload.expires_at, "it runs at the expiry");
    assert!(store.upload_parts(upload.id).await.unwrap().is_empty());
    assert_eq!(store.upload_by_id(Uuid::now_v7()).await.unwrap(), None);
}

pub async fn an_upload_that_cannot_be_inserted_leaves_no_job_behind(store: Arc<dyn AccountStore>) {
    let user = owner(&store, "atomic").await;
    let mut orphan = new_upload(&user, 10);
    orphan.owner_id = Uuid::now_v7();

    assert!(store.insert_upload(&orphan, &expiry_job(&orphan)).await.is_err());

    assert_eq!(store.upload_by_id(orphan.id).await.unwrap(), None);
    let queued = store.list_jobs(Some(JobStatus::Queued), PageRequest::first(10)).await.unwrap();
    assert!(queued.is_empty(), "the job rolled back with the upload");
}

pub async fn appends_advance_the_offset_and_parts_read_back_in_order(store: Arc<dyn AccountStore>) {
    let upload = inserted(&store, 10).await;
    let parts = [part(&upload, 0, 4), part(&upload, 4, 3), part(&upload, 7, 3)];

    for (p, expected) in parts.iter().zip([4, 7, 10]) {
        let outcome = store.append_upload_part(upload.id, p, now()).await.unwrap();
        assert_eq!(outcome, AppendOutcome::Appended { offset: expected });
    }

    assert_eq!(offset_of(&store, &upload).await, 10);
    assert_eq!(store.upload_parts(upload.id).await.unwrap(), parts);
    let mut keys: Vec<_> = parts.iter().map(|p| p.blob.clone()).collect();
    keys.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(store.owner_upload_part_keys(upload.owner_id).await.unwrap(), keys);
    assert_eq!(store.owner_upload_part_keys(Uuid::now_v7()).await.unwrap(), []);
}

pub async fn appends_off_the_offset_past_the_length_or_after_expiry_are_refused(
    store: Arc<dyn AccountStore>,
) {
    let upload = inserted(&store, 10).await;
    store.append_upload_part(upload.id, &part(&upload, 0, 4), now()).await.unwrap();

    for stale in [part(&upload, 0, 2), part(&upload, 2, 2), part(&upload, 6, 2)] {
        let outcome = store.append_upload_part(upload.id, &stale, now()).await.unwrap();
        assert_eq!(outcome, AppendOutcome::Refused { offset: 4 }, "{stale:?}");
    }
    let past_the_end = store.append_upload_part(upload.id, &part(&upload, 4, 7), now()).await;
    assert_eq!(past_the_end.unwrap(), AppendOutcome::Refused { offset: 4 });
    let unknown = store.append_upload_part(Uuid::now_v7(), &part(&upload, 0, 1), now()).await;
    assert_eq!(unknown.unwrap(), AppendOutcome::Missing);
    let late = upload.expires_at + Duration::seconds(1);
    let expired = store.append_upload_part(upload.id, &part(&upload, 4, 1), late).await;
    assert_eq!(expired.unwrap(), AppendOutcome::Missing);

    assert_eq!(offset_of(&store, &upload).await, 4);
    assert_eq!(store.upload_parts(upload.id).await.unwrap().len(), 1, "nothing else recorded");
}

pub async fn racing_appends_at_one_offset_land_exactly_once(store: Arc<dyn AccountStore>) {
    let upload = inserted(&store, 100).await;
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let (store, id, p) = (store.clone(), upload.id, part(&upload, 0, 10 + i));
            tokio::spawn(async move { store.append_upload_part(id, &p, now()).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.unwrap().unwrap());
    }

    let won: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| match o {
            AppendOutcome::Appended { offset } => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(won.len(), 1, "exactly one append lands: {outcomes:?}");
    let offset = won[0];
    assert!(
        outcomes
            .iter()
            .all(|o| *o == AppendOutcome::Appended { offset }
                || *o == AppendOutcome::Refused { offset }),
        "the others learn where the upload is: {outcomes:?}"
    );
    assert_eq!(offset_of(&store, &upload).await, offset);
    let parts = store.upload_parts(upload.id).await.unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].size, offset);
}

pub async fn a_complete_upload_is_claimed_by_one_request_at_a_time(store: Arc<dyn AccountStore>) {
    let upload = inserted(&store, 6).await;
    let lease = now() + Duration::hours(1);
    assert!(!store.claim_upload(upload.id, now(), lease).await.unwrap(), "incomplete");
    store.append_upload_part(upload.id, &part(&upload, 0, 6), now()).await.unwrap();

    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (store.clone(), upload.id);
            tokio::spawn(async move { store.claim_upload(id, now(), lease).await })
        })
        .collect();
    let mut claimed = 0;
    for racer in racers {
        claimed += usize::from(racer.await.unwrap().unwrap());
    }
    assert_eq!(claimed, 1, "exactly one claim wins");

    store.release_upload(upload.id).await.unwrap();
    assert!(store.claim_upload(upload.id, now(), lease).await.unwrap(), "released");
    let after_lease = lease + Duration::seconds(1);
    assert!(
        store.claim_upload(upload.id, after_lease, after_lease + Duration::hours(1)).await.unwrap(),
        "a lapsed claim can be taken over"
    );
    let late = upload.expires_at + Duration::hours(3);
    store.release_upload(upload.id).await.unwrap();
    assert!(!store.claim_upload(upload.id, late, late).await.unwrap(), "expired");
    assert!(!store.claim_upload(Uuid::now_v7(), now(), lease).await.unwrap(), "unknown");
}

pub async fn removal_follows_its_rule_and_returns_the_parts(store: Arc<dyn AccountStore>) {
    let upload = inserted(&store, 6).await;
    let parts = vec![part(&upload, 0, 2), part(&upload, 2, 4)];
    for p in &parts {
        store.append_upload_part(upload.id, p, now()).await.unwrap();
    }
    store.claim_upload(upload.id, now(), now() + Duration::hours(1)).await.unwrap();

    let claimed = store.remove_upload(upload.id, RemoveIf::Unclaimed, now()).await.unwrap();
    assert_eq!(claimed, None, "a claimed upload is not terminated");
    store.release_upload(upload.id).await.unwrap();
    let early = store.remove_upload(upload.id, RemoveIf::ExpiredAndUnclaimed, now()).await;
    assert_eq!(early.unwrap(), None, "not expired yet");
    let late = upload.expires_at + Duration::seconds(1);
    let expired = store.remove_upload(upload.id, RemoveIf::ExpiredAndUnclaimed, late).await;
    assert_eq!(expired.unwrap(), Some(parts));
    assert_eq!(store.upload_by_id(upload.id).await.unwrap(), None);
    assert!(store.upload_parts(upload.id).await.unwrap().is_empty());
    let again = store.remove_upload(upload.id, RemoveIf::Any, now()).await.unwrap();
    assert_eq!(again, None, "already gone");

    let other = inserted(&store, 3).await;
    store.append_upload_part(other.id, &part(&other, 0, 3), now()).await.unwrap();
    store.claim_upload(other.id, now(), now() + Duration::hours(1)).await.unwrap();
    let consumed = store.remove_upload(other.id, RemoveIf::Any, now()).await.unwrap();
    assert_eq!(consumed.map(|p| p.len()), Some(1), "its holder removes a claimed upload");
    let fresh = inserted(&store, 3).await;
    let terminated = store.remove_upload(fresh.id, RemoveIf::Unclaimed, now()).await.unwrap();
    assert_eq!(terminated, Some(Vec::new()));
}
