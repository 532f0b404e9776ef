//! The job-store port contract: leases, racing workers, dead workers, retries, dead jobs.

use std::collections::HashSet;
use std::sync::Arc;
use time::Duration;
use uuid::Uuid;

use super::now;
use crate::jobs::{JobStatus, JobStore, NewJob};
use crate::pagination::PageRequest;

/// Instantiates every case below as a `#[tokio::test]`: `job_store_contract!(fresh)` with
/// `$fresh()` returning a new, empty `Arc<dyn JobStore>`, or `job_store_contract!(fresh =>
/// optional)` with `$fresh()` returning an `Option` (a case returns early on `None`).
#[macro_export]
macro_rules! job_store_contract {
    ($($fresh:tt)+) => {
        $crate::contract_suite!(job_store [
            a_claimed_job_is_leased_to_one_worker_until_done,
            racing_workers_run_each_job_once_per_attempt,
            a_job_whose_worker_died_comes_back_and_the_old_lease_is_void,
            a_failed_job_waits_for_its_retry_time,
            a_dead_job_is_kept_with_its_error_and_can_be_retried,
            a_job_out_of_attempts_after_a_lost_lease_dies,
            a_released_job_is_due_again_without_losing_an_attempt,
            jobs_list_by_status_newest_first_and_count_by_state,
        ] $($fresh)+);
    };
}

pub fn new_job(kind: &str) -> NewJob {
    let at = now();
    NewJob {
        id: Uuid::now_v7(),
        kind: kind.to_owned(),
        payload: r#"{"n":1}"#.to_owned(),
        run_at: at,
        max_attempts: 3,
        created_at: at,
    }
}

const LEASE: Duration = Duration::minutes(1);

pub async fn a_claimed_job_is_leased_to_one_worker_until_done(store: Arc<dyn JobStore>) {
    let job = new_job("contract.leased");
    store.enqueue_job(&job).await.unwrap();
    let at = now();
    let claimed = store.claim_job(at, LEASE).await.unwrap().expect("a due job");
    assert_eq!(claimed.job.id, job.id);
    assert_eq!(claimed.job.payload, job.payload);
    assert_eq!(claimed.job.status, JobStatus::Running);
    assert_eq!(claimed.job.attempts, 1);
    assert_eq!(claimed.job.locked_until, Some(at + LEASE));
    assert_eq!(store.claim_job(at, LEASE).await.unwrap(), None, "leased: nobody else gets it");
    assert!(!store.complete_job(job.id, Uuid::now_v7(), at).await.unwrap(), "a foreign lease");
    assert!(store.complete_job(job.id, claimed.lease, at).await.unwrap());
    let later = at + Duration::hours(1);
    assert_eq!(store.claim_job(later, LEASE).await.unwrap(), None, "done is done");
    let done = store.list_jobs(Some(JobStatus::Done), PageRequest::first(10)).await.unwrap();
    assert_eq!(done.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
}

pub async fn racing_workers_run_each_job_once_per_attempt(store: Arc<dyn JobStore>) {
    let mut ids = HashSet::new();
    for _ in 0..40 {
        let job = new_job("contract.race");
        ids.insert(job.id);
        store.enqueue_job(&job).await.unwrap();
    }
    let at = now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(claimed) = store.claim_job(at, LEASE).await.unwrap() {
                    assert!(store.complete_job(claimed.job.id, claimed.lease, at).await.unwrap());
                    mine.push(claimed.job.id);
                }
                mine
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for worker in workers {
        claimed.extend(worker.await.unwrap());
    }
    assert_eq!(claimed.len(), 40, "no job claimed twice, none missed");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), ids);
}

pub async fn a_job_whose_worker_died_comes_back_and_the_old_lease_is_void(
    store: Arc<dyn JobStore>,
) {
    let job = new_job("contract.crash");
    store.enqueue_job(&job).await.unwrap();
    let start = now();
    let first = store.claim_job(start, LEASE).await.unwrap().unwrap();
    // The worker dies without a word; once its lease runs out the job is due again.
    assert_eq!(store.claim_job(start + LEASE - Duration::seconds(1), LEASE).await.unwrap(), None);
    let after = start + LEASE + Duration::seconds(1);
    let second = store.claim_job(after, LEASE).await.unwrap().expect("the job comes back");
    assert_eq!(second.job.id, job.id);
    assert_eq!(second.job.attempts, 2);
    assert_ne!(second.lease, first.lease);
    assert!(
        !store.complete_job(job.id, first.lease, after).await.unwrap(),
        "the dead worker's lease"
    );
    assert!(!store.fail_job(job.id, first.lease, "late", None, after).await.unwrap());
    assert!(store.complete_job(job.id, second.lease, after).await.unwrap());
}

pub async fn a_failed_job_waits_for_its_retry_time(store: Arc<dyn JobStore>) {
    let job = new_job("contract.retry");
    store.enqueue_job(&job).await.unwrap();
    let at = now();
    let claimed = store.claim_job(at, LEASE).await.unwrap().unwrap();
    let retry_at = at + Duration::seconds(30);
    assert!(store.fail_job(job.id, claimed.lease, "boom", Some(retry_at), at).await.unwrap());
    assert_eq!(store.claim_job(at + Duration::seconds(29), LEASE).await.unwrap(), None);
    let again = store.claim_job(retry_at, LEASE).await.unwrap().expect("due at retry_at");
    assert_eq!(again.job.attempts, 2);
    assert_eq!(again.job.last_error.as_deref(), Some("boom"));
}

pub async fn a_dead_job_is_kept_with_its_error_and_can_be_retried(store: Arc<dyn JobStore>) {
    let job = new_job("contract.dead");
    store.enqueue_job(&job).await.unwrap();
    let at = now();
    let claimed = store.claim_job(at, LEASE).await.unwrap().unwrap();
    assert!(store.fail_job(job.id, claimed.lease, "corrupt input", None, at).await.unwrap());
    assert_eq!(store.claim_job(at + Duration::days(1), LEASE).await.unwrap(), None);
    let dead = store.list_jobs(Some(JobStatus::Dead), PageRequest::first(10)).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("corrupt input"));
    assert!(!store.retry_job(Uuid::now_v7(), at).await.unwrap(), "unknown job");
    assert!(store.retry_job(job.id, at).await.unwrap());
    assert!(!store.retry_job(job.id, at).await.unwrap(), "only dead jobs are retried");
    let revived = store.claim_job(at, LEASE).await.unwrap().expect("queued again");
    assert_eq!(revived.job.attempts, 1, "fresh attempts");
}

pub async fn a_job_out_of_attempts_after_a_lost_lease_dies(store: Arc<dyn JobStore>) {
    let mut job = new_job("contract.exhausted");
    job.max_attempts = 1;
    store.enqueue_job(&job).await.unwrap();
    let start = now();
    store.claim_job(start, LEASE).await.unwrap().unwrap();
    let after = start + LEASE + Duration::seconds(1);
    assert_eq!(store.claim_job(after, LEASE).await.unwrap(), None, "no attempt left");
    let dead = store.list_jobs(Some(JobStatus::Dead), PageRequest::first(10)).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].last_error.as_deref().unwrap_or_default().contains("lease"), "{dead:?}");
}

pub async fn a_released_job_is_due_again_without_losing_an_attempt(store: Arc<dyn JobStore>) {
    let job = new_job("contract.release");
    store.enqueue_job(&job).await.unwrap();
    let at = now();
    let claimed = store.claim_job(at, LEASE).await.unwrap().unwrap();
    assert!(store.release_job(job.id, claimed.lease, at).await.unwrap());
    assert!(!store.release_job(job.id, claimed.lease, at).await.unwrap(), "once");
    let again = store.claim_job(at, LEASE).await.unwrap().expect("due at once");
    assert_eq!(again.job.attempts, 1, "a shutdown is not a failure");
}

pub async fn jobs_list_by_status_newest_first_and_count_by_state(store: Arc<dyn JobStore>) {
    let (a, b, c) = (new_job("contract.list"), new_job("contract.list"), new_job("contract.list"));
    for job in [&a, &b, &c] {
        store.enqueue_job(job).await.unwrap();
    }
    let at = now();
    let claimed = store.claim_job(at, LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.job.id, a.id, "oldest due first");
    let all = store.list_jobs(None, PageRequest::first(10)).await.unwrap();
    assert_eq!(all.iter().map(|j| j.id).collect::<Vec<_>>(), [c.id, b.id, a.id]);
    let queued = store.list_jobs(Some(JobStatus::Queued), PageRequest::first(1)).await.unwrap();
    assert_eq!(queued.iter().map(|j| j.id).collect::<Vec<_>>(), [c.id, b.id], "limit + 1");
    let depth = store.queue_depth().await.unwrap();
    assert_eq!((depth.queued, depth.running, depth.dead), (2, 1, 0));
}
