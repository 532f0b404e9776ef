use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::{MailError, MailId, OutgoingMail, QueuedMail};
use crate::store::StoreError;

/// Hands a message to the world (an SMTP relay, a folder of `.eml` files).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail` from the adapter's configured sender.
    ///
    /// # Errors
    /// `MailError::Permanent` if this message can never be sent (bad recipient, refused);
    /// `MailError::Transient` if it may go through later.
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// The durable queue of mails not yet sent. Rows are written by the stores' domain
/// operations (in the transaction of the token they carry); relays drain them.
#[async_trait]
pub trait MailOutbox: Send + Sync {
    /// Claims up to `limit` due mails (not abandoned, `next_attempt_at <= now`), oldest due
    /// first: each gets one more attempt counted and is hidden from other claims until
    /// `now + lease`, after which it is due again (its relay died mid-send).
    /// Concurrent claims never hand out the same mail twice.
    async fn claim_due_mails(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedMail>, StoreError>;

    /// The mail went out: it leaves the outbox (its body holds a live link). A no-op if it
    /// is already gone.
    async fn mark_mail_sent(&self, id: MailId) -> Result<(), StoreError>;

    /// The attempt failed with `error`. `Some(at)`: due again at `at`; `None`: abandoned,
    /// never claimed again, kept with recipient, subject and error for the operator but
    /// without its bodies (they hold a link). A no-op if it is gone.
    async fn record_mail_failure(
        &self,
        id: MailId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}
