//! The job queue in the SQLite file. The single writer serialises claims, so a plain
//! select-then-update inside one immediate transaction leases each job once.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use veza_core::jobs::{ClaimedJob, Job, JobStatus, JobStore, NewJob, QueueDepth};
use veza_core::pagination::PageRequest;
use veza_core::store::StoreError;

use super::SqliteStore;
use super::accounts::{conversion, optional_time_at, time_at, uuid_at};
use crate::time_text;

const JOB_COLUMNS: &str = "id, kind, payload, status, attempts, max_attempts, run_at, \
    locked_until, last_error, created_at, updated_at";

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    let status: String = row.get(3)?;
    Ok(Job {
        id: uuid_at(row, 0)?,
        kind: row.get(1)?,
        payload: row.get(2)?,
        status: JobStatus::parse(&status).ok_or_else(|| conversion(3, std::fmt::Error))?,
        attempts: row.get(4)?,
        max_attempts: row.get(5)?,
        run_at: time_at(row, 6)?,
        locked_until: optional_time_at(row, 7)?,
        last_error: row.get(8)?,
        created_at: time_at(row, 9)?,
        updated_at: time_at(row, 10)?,
    })
}

/// Enqueues `job` inside a transaction another store method opened, so the job commits or
/// rolls back with the row that needs it.
pub(crate) fn enqueue_in(tx: &Transaction<'_>, job: &NewJob) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO jobs (id, kind, payload, status, max_attempts, run_at, created_at, \
         updated_at) VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?6)",
    )?
    .execute(params![
        job.id.to_string(),
        job.kind,
        job.payload,
        job.max_attempts,
        time_text::format(job.run_at),
        time_text::format(job.created_at),
    ])?;
    Ok(())
}

fn job_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<Job>> {
    conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))?
        .query_row([id], job_from_row)
        .optional()
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn enqueue_job(&self, job: &NewJob) -> Result<(), StoreError> {
        let job = job.clone();
        self.write(move |tx| enqueue_in(tx, &job)).await
    }

    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        self.write(move |tx| {
            let now_text = time_text::format(now);
            tx.execute(
                "UPDATE jobs SET status = 'dead', locked_until = NULL, lease_token = NULL, \
                 last_error = 'lease expired on the last attempt: the worker was lost', \
                 updated_at = ?1 \
                 WHERE status = 'running' AND locked_until <= ?1 AND attempts >= max_attempts",
                [&now_text],
            )?;
            let due: Option<String> = tx
                .prepare_cached(
                    "SELECT id FROM jobs WHERE (status = 'queued' AND run_at <= ?1) \
                     OR (status = 'running' AND locked_until <= ?1) ORDER BY run_at, id LIMIT 1",
                )?
                .query_row([&now_text], |row| row.get(0))
                .optional()?;
            let Some(id) = due else { return Ok(None) };
            let lease_token = Uuid::now_v7();
            tx.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = ?2, \
                 lease_token = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, time_text::format(now + lease), lease_token.to_string(), now_text],
            )?;
            let job = job_by_id(tx, &id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            Ok(Some(ClaimedJob { job, lease: lease_token }))
        })
        .await
    }

    async fn complete_job(
        &self,
        id: Uuid,
        lease: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE jobs SET status = 'done', locked_until = NULL, lease_token = NULL, \
                 updated_at = ?3 WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
                params![id.to_string(), lease.to_string(), time_text::format(now)],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn fail_job(
        &self,
        id: Uuid,
        lease: Uuid,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let error = error.to_owned();
        self.write(move |tx| {
            let (status, run_at) = match retry_at {
                Some(at) => ("queued", Some(time_text::format(at))),
                None => ("dead", None),
            };
            let changed = tx.execute(
                "UPDATE jobs SET status = ?3, run_at = COALESCE(?4, run_at), last_error = ?5, \
                 locked_until = NULL, lease_token = NULL, updated_at = ?6 \
                 WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
                params![
                    id.to_string(),
                    lease.to_string(),
                    status,
                    run_at,
                    error,
                    time_text::format(now)
                ],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_job(
        &self,
        id: Uuid,
        lease: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let now = time_text::format(now);
            let changed = tx.execute(
                "UPDATE jobs SET status = 'queued', attempts = attempts - 1, run_at = ?3, \
                 locked_until = NULL, lease_token = NULL, updated_at = ?3 \
                 WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
                params![id.to_string(), lease.to_string(), now],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn list_jobs(
        &self,
        status: Option<JobStatus>,
        page: PageRequest,
    ) -> Result<Vec<Job>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE (?1 IS NULL OR status = ?1) \
                 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
            ))?
            .query_map(
                params![
                    status.map(JobStatus::as_str),
                    page.after.map(|id| id.to_string()),
                    page.fetch_limit()
                ],
                job_from_row,
            )?
            .collect()
        })
        .await
    }

    async fn retry_job(&self, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let now = time_text::format(now);
            let changed = tx.execute(
                "UPDATE jobs SET status = 'queued', attempts = 0, run_at = ?2, updated_at = ?2 \
                 WHERE id = ?1 AND status = 'dead'",
                params![id.to_string(), now],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT COUNT(*) FILTER (WHERE status = 'queued'), \
                 COUNT(*) FILTER (WHERE status = 'running'), \
                 COUNT(*) FILTER (WHERE status = 'dead') FROM jobs",
                [],
                |row| {
                    let count = |i| row.get::<_, i64>(i).map(|n| n.max(0) as u64);
                    Ok(QueueDepth { queued: count(0)?, running: count(1)?, dead: count(2)? })
                },
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    async fn fresh() -> Arc<dyn JobStore> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("veza.db")).expect("open");
        store.migrate().await.expect("migrate");
        std::mem::forget(dir);
        Arc::new(store)
    }

    veza_core::job_store_contract!(fresh);

    #[tokio::test]
    async fn a_job_enqueued_in_a_rolled_back_transaction_never_exists() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("veza.db")).unwrap();
        store.migrate().await.unwrap();
        let job = veza_core::testing::job_store::new_job("rollback");
        let failed = store
            .write(move |tx| {
                enqueue_in(tx, &job)?;
                // The row the job was for fails to insert: the whole transaction goes.
                tx.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                Ok(())
            })
            .await;
        assert!(failed.is_err());
        let now = veza_core::testing::now();
        assert_eq!(store.claim_job(now, Duration::minutes(1)).await.unwrap(), None);
    }
}

/// The core's job runner driven against this store: outcomes recorded, panics contained,
/// shutdown giving the job back.
#[cfg(test)]
mod runner_tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::sync::{Notify, watch};
    use veza_core::clock::ManualClock;
    use veza_core::jobs::Outcome;
    use veza_core::jobs::{JobHandler, JobRunner, RunnerConfig};

    struct Counting(AtomicU32);

    #[async_trait]
    impl JobHandler for Counting {
        async fn handle(&self, _: &Job) -> Result<(), String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    struct Failing;

    #[async_trait]
    impl JobHandler for Failing {
        async fn handle(&self, _: &Job) -> Result<(), String> {
            Err("the input is corrupt".into())
        }
    }

    struct Panicking;

    #[async_trait]
    impl JobHandler for Panicking {
        async fn handle(&self, _: &Job) -> Result<(), String> {
            panic!("handler bug")
        }
    }

    /// Blocks until told to finish, so a test can stop the runner mid-job.
    struct Blocking(Arc<Notify>, Arc<Notify>);

    #[async_trait]
    impl JobHandler for Blocking {
        async fn handle(&self, _: &Job) -> Result<(), String> {
            self.0.notify_one();
            self.1.notified().await;
            Ok(())
        }
    }

    async fn setup() -> (Arc<SqliteStore>, Arc<ManualClock>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("veza.db")).unwrap();
        store.migrate().await.unwrap();
        std::mem::forget(dir);
        (Arc::new(store), Arc::new(ManualClock::new(veza_core::testing::now())))
    }

    fn job(kind: &str, clock: &ManualClock) -> NewJob {
        use veza_core::clock::Clock;
        let mut job = veza_core::testing::job_store::new_job(kind);
        (job.run_at, job.created_at) = (clock.now(), clock.now());
        job
    }

    #[tokio::test]
    async fn jobs_are_done_retried_with_backoff_then_dead_and_panics_do_not_kill_the_worker() {
        let (store, clock) = setup().await;
        let mut runner = JobRunner::new(store.clone(), clock.clone(), RunnerConfig::default());
        let counter = Arc::new(Counting(AtomicU32::new(0)));
        runner.register("count", counter.clone());
        runner.register("fail", Arc::new(Failing));
        runner.register("panic", Arc::new(Panicking));
        let (_stop, mut shutdown) = watch::channel(false);

        store.enqueue_job(&job("count", &clock)).await.unwrap();
        assert_eq!(runner.run_one(&mut shutdown).await.unwrap(), Some(Outcome::Done));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(runner.run_one(&mut shutdown).await.unwrap(), None);

        store.enqueue_job(&job("panic", &clock)).await.unwrap();
        let panicked = runner.run_one(&mut shutdown).await.unwrap();
        assert_eq!(panicked, Some(Outcome::Retrying { error: "the job handler panicked".into() }));

        let failing = job("fail", &clock);
        store.enqueue_job(&failing).await.unwrap();
        clock.advance(Duration::hours(2));
        let mut outcomes = Vec::new();
        while let Some(outcome) = runner.run_one(&mut shutdown).await.unwrap() {
            outcomes.push(outcome);
            clock.advance(Duration::hours(2));
        }
        let error = "the input is corrupt".to_owned();
        assert!(outcomes.contains(&Outcome::Dead { error: error.clone() }), "{outcomes:?}");
        let dead = store.list_jobs(Some(JobStatus::Dead), PageRequest::first(10)).await.unwrap();
        assert!(dead.iter().any(|j| j.id == failing.id && j.attempts == 3));
    }

    #[tokio::test]
    async fn a_failed_attempt_is_retried_only_after_its_backoff() {
        let (store, clock) = setup().await;
        let mut runner = JobRunner::new(store.clone(), clock.clone(), RunnerConfig::default());
        runner.register("fail", Arc::new(Failing));
        let (_stop, mut shutdown) = watch::channel(false);
        store.enqueue_job(&job("fail", &clock)).await.unwrap();
        assert!(matches!(
            runner.run_one(&mut shutdown).await.unwrap(),
            Some(Outcome::Retrying { .. })
        ));
        clock.advance(Duration::seconds(4));
        assert_eq!(runner.run_one(&mut shutdown).await.unwrap(), None, "5 s backoff not over");
        clock.advance(Duration::seconds(1));
        assert!(runner.run_one(&mut shutdown).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_job_in_flight_at_shutdown_goes_back_to_the_queue() {
        let (store, clock) = setup().await;
        let (started, finish) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let mut runner = JobRunner::new(store.clone(), clock.clone(), RunnerConfig::default());
        runner.register("slow", Arc::new(Blocking(started.clone(), finish)));
        let runner = Arc::new(runner);
        let slow = job("slow", &clock);
        store.enqueue_job(&slow).await.unwrap();
        let (stop, shutdown) = watch::channel(false);
        let running = tokio::spawn(Arc::clone(&runner).run(1, shutdown));
        started.notified().await;
        stop.send(true).unwrap();
        running.await.unwrap();
        let queued =
            store.list_jobs(Some(JobStatus::Queued), PageRequest::first(10)).await.unwrap();
        assert_eq!(queued.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(), [(slow.id, 0)]);
    }

    #[tokio::test]
    async fn a_job_of_an_unknown_kind_is_retried_for_an_instance_that_knows_it() {
        let (store, clock) = setup().await;
        let runner = JobRunner::new(store.clone(), clock.clone(), RunnerConfig::default());
        let (_stop, mut shutdown) = watch::channel(false);
        store.enqueue_job(&job("from.the.future", &clock)).await.unwrap();
        let outcome = runner.run_one(&mut shutdown).await.unwrap();
        assert!(
            matches!(outcome, Some(Outcome::Retrying { error }) if error.contains("no handler"))
        );
    }
}
