//! Durable background jobs: at-least-once, with a visibility timeout (a lease), retries with
//! exponential backoff, and dead jobs kept with their last error. The store decides who holds
//! a job; the runner (`runner.rs`) claims, dispatches to a handler by kind, and records the
//! outcome. Handlers must be idempotent: a worker that dies mid-job loses its lease and the
//! job runs again.

mod runner;

pub use runner::{JobHandler, JobRunner, Outcome, RunnerConfig};

use crate::names::named_enum;
use async_trait::async_trait;
use std::fmt;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::pagination::PageRequest;
use crate::store::StoreError;

named_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum JobStatus {
        /// Waiting for `run_at`.
        Queued => "queued",
        /// Leased to a worker until `locked_until`.
        Running => "running",
        Done => "done",
        /// Out of attempts; kept with `last_error` until retried by an operator.
        Dead => "dead",
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The payload `{"<name>":"<value>"}` every job kind so far carries. `value` must hold no
/// quote or backslash (ids and blob keys do not), so no escaping is involved.
pub(crate) fn one_field_payload(name: &str, value: &str) -> String {
    format!("{{\"{name}\":\"{value}\"}}")
}

/// The value of field `name` of a payload `one_field_payload` wrote; `None` for any other.
pub(crate) fn payload_field<'a>(payload: &'a str, name: &str) -> Option<&'a str> {
    payload
        .trim()
        .strip_prefix("{\"")?
        .strip_prefix(name)?
        .strip_prefix("\":\"")?
        .strip_suffix("\"}")
}

/// A job to enqueue. `payload` is JSON text the handler of `kind` understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub id: Uuid,
    pub kind: String,
    pub payload: String,
    pub run_at: OffsetDateTime,
    pub max_attempts: u32,
    pub created_at: OffsetDateTime,
}

impl NewJob {
    /// Default attempts before a job is declared dead.
    pub const MAX_ATTEMPTS: u32 = 5;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    pub payload: String,
    pub status: JobStatus,
    /// Claims so far, the current one included.
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_at: OffsetDateTime,
    pub locked_until: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A job leased to one worker. `lease` must accompany `complete`/`fail`: a worker whose lease
/// expired (and whose job another worker re-claimed) can no longer record an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub job: Job,
    pub lease: Uuid,
}

/// How many jobs are in each state, for metrics and `veza doctor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queued: u64,
    pub running: u64,
    pub dead: u64,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    async fn enqueue_job(&self, job: &NewJob) -> Result<(), StoreError>;

    /// Leases the due job that has waited longest: a queued job whose `run_at` has come, or a
    /// running one whose lease expired (its worker died). Sets it running until `now + lease`,
    /// counts the attempt, and issues a new lease id. A running job whose lease expired on its
    /// last attempt is declared dead instead. Concurrent claims never lease one job twice.
    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>, StoreError>;

    /// Marks the job done; `false` if `lease` no longer holds it.
    async fn complete_job(
        &self,
        id: Uuid,
        lease: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Records a failure: queued again at `retry_at`, or dead when `retry_at` is `None`.
    /// `false` if `lease` no longer holds the job.
    async fn fail_job(
        &self,
        id: Uuid,
        lease: Uuid,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Gives a leased job back untouched (shutdown): queued, due now, the attempt not counted.
    async fn release_job(
        &self,
        id: Uuid,
        lease: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Jobs, newest first, optionally of one status.
    async fn list_jobs(
        &self,
        status: Option<JobStatus>,
        page: PageRequest,
    ) -> Result<Vec<Job>, StoreError>;

    /// Queues a dead job again with fresh attempts; `false` if it is not dead.
    async fn retry_job(&self, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError>;

    async fn queue_depth(&self) -> Result<QueueDepth, StoreError>;
}

/// Delay before attempt `attempts + 1`: 5 s, 10 s, 20 s … capped at one hour.
pub fn backoff(attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    Duration::seconds(5 * (1_i64 << exponent)).min(Duration::hours(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_seconds_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(5));
        assert_eq!(backoff(2), Duration::seconds(10));
        assert_eq!(backoff(4), Duration::seconds(40));
        assert_eq!(backoff(30), Duration::hours(1));
    }
}
