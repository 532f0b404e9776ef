use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::BoxError;

/// One message for one recipient. Both bodies are always given: clients that render HTML
/// show `html_body`, the others (and spam filters) read `text_body`.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// A bare address (`ana@example.com`).
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

impl fmt::Debug for OutgoingMail {
    /// Bodies carry single-use links: they are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a mail was not sent, and whether trying again could help.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message itself is unusable (unparsable recipient, refused with a 5xx): retrying
    /// the same message cannot succeed.
    #[error("mail refused: {0}")]
    Permanent(String),
    /// Connection refused, timeout, 4xx, full disk: the same message may go through later.
    #[error("mail transport unavailable: {0}")]
    Transient(#[source] BoxError),
}

impl MailError {
    pub fn transient(err: impl Into<BoxError>) -> Self {
        Self::Transient(err.into())
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }
}

pub type MailId = Uuid;

/// A mail to put in the outbox, next to the row that needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub id: MailId,
    pub mail: OutgoingMail,
    pub queued_at: OffsetDateTime,
}

/// A mail claimed from the outbox by a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: MailId,
    pub mail: OutgoingMail,
    pub queued_at: OffsetDateTime,
    /// Delivery attempts so far, this claim included.
    pub attempts: u32,
    /// Why the previous attempt failed, if one did.
    pub last_error: Option<String>,
}
