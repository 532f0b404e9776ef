//! Runs jobs: claims one, hands it to the handler registered for its kind on its own task (a
//! panicking handler fails the job, never the worker), and records done, retry or dead.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use time::Duration;
use tokio::sync::{Notify, watch};

use super::{ClaimedJob, Job, JobStore, backoff};
use crate::clock::Clock;
use crate::store::StoreError;

#[async_trait]
pub trait JobHandler: Send + Sync {
    /// Does the job's work. Must be idempotent: after a crash the job runs again.
    ///
    /// # Errors
    /// A readable reason, kept on the job; it is retried with backoff until its attempts run out.
    async fn handle(&self, job: &Job) -> Result<(), String>;
}

#[derive(Debug, Clone, Copy)]
pub struct RunnerConfig {
    /// How long a claim holds a job before another worker may take it over.
    pub lease: Duration,
    /// How often an idle worker looks for jobs enqueued by other processes.
    pub poll_interval: std::time::Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self { lease: Duration::minutes(5), poll_interval: std::time::Duration::from_secs(2) }
    }
}

/// What happened to one claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Retrying {
        error: String,
    },
    Dead {
        error: String,
    },
    /// Given back at shutdown.
    Released,
}

pub struct JobRunner {
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    config: RunnerConfig,
    wake: Arc<Notify>,
}

impl JobRunner {
    pub fn new(store: Arc<dyn JobStore>, clock: Arc<dyn Clock>, config: RunnerConfig) -> Self {
        Self { store, clock, handlers: HashMap::new(), config, wake: Arc::new(Notify::new()) }
    }

    pub fn register(&mut self, kind: &str, handler: Arc<dyn JobHandler>) {
        self.handlers.insert(kind.to_owned(), handler);
    }

    /// Notified by in-process enqueuers so an idle worker starts at once instead of at its
    /// next poll.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Claims one due job and runs it; `None` if none was due.
    ///
    /// # Errors
    /// Only storage failures.
    pub async fn run_one(
        &self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Outcome>, StoreError> {
        let Some(ClaimedJob { job, lease }) =
            self.store.claim_job(self.clock.now(), self.config.lease).await?
        else {
            return Ok(None);
        };
        let result = match self.handlers.get(&job.kind) {
            // A newer instance may know this kind: retry rather than bury it.
            None => Err(format!("no handler for job kind {:?} in this process", job.kind)),
            Some(handler) => {
                let (handler, owned) = (Arc::clone(handler), job.clone());
                let mut task = tokio::spawn(async move { handler.handle(&owned).await });
                let joined = tokio::select! {
                    joined = &mut task => Some(joined),
                    () = stopped(shutdown) => None,
                };
                match joined {
                    Some(Ok(result)) => result,
                    Some(Err(err)) if err.is_panic() => Err("the job handler panicked".to_owned()),
                    Some(Err(err)) => Err(format!("the job handler was cancelled: {err}")),
                    None => {
                        task.abort();
                        self.store.release_job(job.id, lease, self.clock.now()).await?;
                        return Ok(Some(Outcome::Released));
                    }
                }
            }
        };
        let now = self.clock.now();
        let outcome = match result {
            Ok(()) => {
                self.store.complete_job(job.id, lease, now).await?;
                Outcome::Done
            }
            Err(error) if job.attempts < job.max_attempts => {
                let retry_at = now + backoff(job.attempts);
                self.store.fail_job(job.id, lease, &error, Some(retry_at), now).await?;
                Outcome::Retrying { error }
            }
            Err(error) => {
                self.store.fail_job(job.id, lease, &error, None, now).await?;
                Outcome::Dead { error }
            }
        };
        match &outcome {
            Outcome::Done => tracing::info!(job = %job.id, kind = %job.kind, "job done"),
            Outcome::Retrying { error } | Outcome::Dead { error } => {
                tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, %error, dead = matches!(outcome, Outcome::Dead { .. }), "job failed");
            }
            Outcome::Released => {}
        }
        metrics_outcome(&job.kind, &outcome);
        Ok(Some(outcome))
    }

    /// Runs `workers` loops until `shutdown` turns true; a job in flight then is released to
    /// the queue, not lost.
    pub async fn run(self: Arc<Self>, workers: usize, shutdown: watch::Receiver<bool>) {
        let loops: Vec<_> = (0..workers)
            .map(|_| {
                let runner = Arc::clone(&self);
                let mut shutdown = shutdown.clone();
                tokio::spawn(async move { runner.work(&mut shutdown).await })
            })
            .collect();
        for worker in loops {
            let _ = worker.await;
        }
    }

    async fn work(&self, shutdown: &mut watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            match self.run_one(shutdown).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(err) => tracing::error!(error = %err, "job queue unavailable"),
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
                () = stopped(shutdown) => {}
            }
        }
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// `veza_jobs_total{kind, outcome}` for `/metrics`.
fn metrics_outcome(kind: &str, outcome: &Outcome) {
    let outcome = match outcome {
        Outcome::Done => "done",
        Outcome::Retrying { .. } => "retrying",
        Outcome::Dead { .. } => "dead",
        Outcome::Released => "released",
    };
    metrics::counter!("veza_jobs_total", "kind" => kind.to_owned(), "outcome" => outcome)
        .increment(1);
}
