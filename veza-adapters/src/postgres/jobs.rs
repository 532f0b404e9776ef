//! The job queue in PostgreSQL. Claims take the oldest due row with `FOR UPDATE SKIP
//! LOCKED`, so any number of workers in any number of processes lease each job once without
//! waiting on each other.

use async_trait::async_trait;
use sqlx::{FromRow, PgExecutor};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use veza_core::jobs::{ClaimedJob, Job, JobStatus, JobStore, NewJob, QueueDepth};
use veza_core::pagination::PageRequest;
use veza_core::store::StoreError;

use super::{PgStore, pg_error};

macro_rules! job_columns {
    () => {
        "id, kind, payload, status, attempts, max_attempts, run_at, locked_until, last_error, \
         created_at, updated_at"
    };
}

#[derive(FromRow)]
struct JobRow {
    id: Uuid,
    kind: String,
    payload: String,
    status: String,
    attempts: i32,
    max_attempts: i32,
    run_at: OffsetDateTime,
    locked_until: Option<OffsetDateTime>,
    last_error: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(row: JobRow) -> Result<Self, StoreError> {
        let count = |n: i32| u32::try_from(n).map_err(StoreError::backend);
        Ok(Job {
            id: row.id,
            kind: row.kind,
            payload: row.payload,
            status: JobStatus::parse(&row.status)
                .ok_or_else(|| StoreError::backend(format!("unknown job status {}", row.status)))?,
            attempts: count(row.attempts)?,
            max_attempts: count(row.max_attempts)?,
            run_at: row.run_at,
            locked_until: row.locked_until,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Enqueues `job` on an executor another store method holds (a transaction), so the job
/// commits or rolls back with the row that needs it.
pub(crate) async fn enqueue_in<'e>(
    executor: impl PgExecutor<'e>,
    job: &NewJob,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, status, max_attempts, run_at, created_at, \
         updated_at) VALUES ($1, $2, $3, 'queued', $4, $5, $6, $6)",
    )
    .bind(job.id)
    .bind(&job.kind)
    .bind(&job.payload)
    .bind(i32::try_from(job.max_attempts).map_err(StoreError::backend)?)
    .bind(job.run_at)
    .bind(job.created_at)
    .execute(executor)
    .await
    .map(drop)
    .map_err(pg_error)
}

#[async_trait]
impl JobStore for PgStore {
    async fn enqueue_job(&self, job: &NewJob) -> Result<(), StoreError> {
        enqueue_in(self.pool(), job).await
    }

    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        sqlx::query(
            "UPDATE jobs SET status = 'dead', locked_until = NULL, lease_token = NULL, \
             last_error = 'lease expired on the last attempt: the worker was lost', \
             updated_at = $1 \
             WHERE status = 'running' AND locked_until <= $1 AND attempts >= max_attempts",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        let lease_token = Uuid::now_v7();
        let row = sqlx::query_as::<_, JobRow>(concat!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $2, \
             lease_token = $3, updated_at = $1 WHERE id = (SELECT id FROM jobs \
             WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until <= $1) \
             ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ",
            job_columns!()
        ))
        .bind(now)
        .bind(now + lease)
        .bind(lease_token)
        .fetch_optional(&mut *tx)
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        row.map(|row| Ok(ClaimedJob { job: Job::try_from(row)?, lease: lease_token })).transpose()
    }

    async fn complete_job(
        &self,
        id: Uuid,
        lease: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'done', locked_until = NULL, lease_token = NULL, \
             updated_at = $3 WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(lease)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(pg_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_job(
        &self,
        id: Uuid,
        lease: Uuid,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let status = if retry_at.is_some() { "queued" } else { "dead" };
        let failed = sqlx::query(
            "UPDATE jobs SET status = $3, run_at = COALESCE($4, run_at), last_error = $5, \
             locked_until = NULL, lease_token = NULL, updated_at = $6 \
             WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(lease)
        .bind(status)
        .bind(retry_at)
        .bind(error)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(pg_error)?;
        Ok(failed.rows_affected() == 1)
    }

    async fn release_job(
        &self,
        id: Uuid,
        lease: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let released = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = attempts - 1, run_at = $3, \
             locked_until = NULL, lease_token = NULL, updated_at = $3 \
             WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(lease)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(pg_error)?;
        Ok(released.rows_affected() == 1)
    }

    async fn list_jobs(
        &self,
        status: Option<JobStatus>,
        page: PageRequest,
    ) -> Result<Vec<Job>, StoreError> {
        sqlx::query_as::<_, JobRow>(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(status.map(JobStatus::as_str))
        .bind(page.after)
        .bind(i64::from(page.fetch_limit()))
        .fetch_all(self.pool())
        .await
        .map_err(pg_error)?
        .into_iter()
        .map(Job::try_from)
        .collect()
    }

    async fn retry_job(&self, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
        let retried = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $2, updated_at = $2 \
             WHERE id = $1 AND status = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(pg_error)?;
        Ok(retried.rows_affected() == 1)
    }

    async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        let (queued, running, dead): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE status = 'queued'), \
             COUNT(*) FILTER (WHERE status = 'running'), \
             COUNT(*) FILTER (WHERE status = 'dead') FROM jobs",
        )
        .fetch_one(self.pool())
        .await
        .map_err(pg_error)?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(QueueDepth { queued: count(queued), running: count(running), dead: count(dead) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    async fn fresh() -> Option<Arc<dyn JobStore>> {
        let store = super::super::tests::migrated().await?;
        Some(Arc::new(store))
    }

    veza_core::job_store_contract!(fresh => optional);

    #[tokio::test]
    async fn a_job_enqueued_in_a_rolled_back_transaction_never_exists() {
        let Some(store) = super::super::tests::migrated().await else { return };
        let mut tx = store.pool().begin().await.unwrap();
        enqueue_in(&mut *tx, &veza_core::testing::job_store::new_job("rollback")).await.unwrap();
        tx.rollback().await.unwrap();
        let now = veza_core::testing::now();
        assert_eq!(store.claim_job(now, Duration::minutes(1)).await.unwrap(), None);
    }
}
