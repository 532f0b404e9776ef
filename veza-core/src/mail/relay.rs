//! Drains the outbox: claims due mails, hands each to the `Mailer`, then deletes it or
//! schedules its next attempt. In `veza serve` it runs as one background task per process,
//! woken at once by in-process enqueues (`wake`) and polling for the rest (mails queued by
//! other instances, mails whose relay died mid-send and whose lease ran out).

use std::sync::Arc;
use time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::{MailOutbox, Mailer, QueuedMail};
use crate::clock::Clock;
use crate::store::StoreError;

/// Errors longer than this are cut before they are stored: a log line, not a dump.
const MAX_ERROR_CHARS: usize = 1000;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Mails claimed per round trip.
    pub batch: u32,
    /// How long a claimed mail stays hidden from other relays. Longer than the SMTP
    /// transport's own timeout (60 s), so a slow but live send is not duplicated.
    pub lease: Duration,
    /// How often to look for mails nobody woke this relay for.
    pub poll_interval: std::time::Duration,
    /// Wait before attempt 2, 3, …; after the last one a failing mail is abandoned.
    pub retry_schedule: Vec<Duration>,
}

impl Default for RelayConfig {
    /// Retries for about four hours in all: past that a reset link (1 h) or a verification
    /// link (48 h) is better requested again than delivered late.
    fn default() -> Self {
        Self {
            batch: 16,
            lease: Duration::minutes(2),
            poll_interval: std::time::Duration::from_secs(5),
            retry_schedule: [10, 60, 300, 900, 1800, 3600, 7200]
                .into_iter()
                .map(Duration::seconds)
                .collect(),
        }
    }
}

#[derive(Clone)]
pub struct MailRelay {
    outbox: Arc<dyn MailOutbox>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    config: Arc<RelayConfig>,
    wake: Arc<Notify>,
}

impl MailRelay {
    pub fn new(
        outbox: Arc<dyn MailOutbox>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        config: RelayConfig,
    ) -> Self {
        Self { outbox, mailer, clock, config: Arc::new(config), wake: Arc::new(Notify::new()) }
    }

    /// A mail was just queued: the running relay (if any) looks now rather than at its next
    /// poll. A wake while it is busy is kept and served right after.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Claims one batch of due mails and tries each once; returns how many were claimed.
    ///
    /// # Errors
    /// Only storage failures; a mail that fails to send is recorded, not an error.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let claimed = self.claim().await?;
        let count = claimed.len();
        for mail in claimed {
            self.deliver(mail).await?;
        }
        Ok(count)
    }

    async fn claim(&self) -> Result<Vec<QueuedMail>, StoreError> {
        let now = self.clock.now();
        self.outbox.claim_due_mails(now, self.config.batch, self.config.lease).await
    }

    async fn deliver(&self, queued: QueuedMail) -> Result<(), StoreError> {
        let err = match self.mailer.send(&queued.mail).await {
            Ok(()) => return self.outbox.mark_mail_sent(queued.id).await,
            Err(err) => err,
        };
        let now = self.clock.now();
        let retry_at = if err.is_permanent() {
            None
        } else {
            let index = usize::try_from(queued.attempts).unwrap_or(usize::MAX).saturating_sub(1);
            self.config.retry_schedule.get(index).map(|wait| now + *wait)
        };
        let message: String = err.to_string().chars().take(MAX_ERROR_CHARS).collect();
        self.outbox.record_mail_failure(queued.id, &message, retry_at, now).await?;
        // Logged once recorded, so the log never claims a retry the store does not know of.
        match retry_at {
            Some(at) => tracing::warn!(mail_id = %queued.id, attempts = queued.attempts,
                retry_at = %at, error = %message, "mail delivery failed; will retry"),
            None => tracing::error!(mail_id = %queued.id, attempts = queued.attempts,
                error = %message, "mail delivery abandoned"),
        }
        Ok(())
    }

    /// Runs the relay on the current runtime until the handle is stopped or dropped.
    pub fn start(&self) -> RelayHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.clone().run(stopped));
        RelayHandle { stop, task }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        loop {
            if *stopped.borrow() {
                return;
            }
            match self.claim().await {
                Ok(claimed) => {
                    let full = claimed.len() >= self.config.batch as usize;
                    for mail in claimed {
                        // Stops between mails, never inside a send: the claimed rest comes
                        // back when its lease ends.
                        if *stopped.borrow() {
                            return;
                        }
                        if let Err(err) = self.deliver(mail).await {
                            tracing::error!(error = %err, "mail relay cannot record a delivery");
                        }
                    }
                    if full {
                        continue;
                    }
                }
                Err(err) => tracing::error!(error = %err, "mail relay cannot claim mails"),
            }
            tokio::select! {
                changed = stopped.changed() => {
                    if changed.is_err() || *stopped.borrow() {
                        return;
                    }
                }
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }
}

/// The running relay task. Dropping it stops the relay too, without waiting.
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RelayHandle {
    /// Stops the relay after the send in progress, if any, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "mail relay task failed");
        }
    }
}
