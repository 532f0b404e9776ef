//! The one way both adapters turn an `OutgoingMail` into a MIME message.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use veza_core::mail::{MailError, OutgoingMail};

/// Sender when `VEZA_MAIL_FROM` is unset.
pub const DEFAULT_FROM: &str = "Veza <no-reply@localhost>";

/// Parses a sender like `Veza <no-reply@example.com>` or a bare address.
///
/// # Errors
/// A message naming the bad value.
pub fn parse_sender(from: &str) -> Result<Mailbox, String> {
    from.parse::<Mailbox>().map_err(|e| format!("VEZA_MAIL_FROM {from:?} is not a mailbox: {e}"))
}

pub(super) fn build(from: &Mailbox, mail: &OutgoingMail) -> Result<Message, MailError> {
    let to = mail
        .to
        .parse::<Mailbox>()
        .map_err(|e| MailError::Permanent(format!("recipient {:?}: {e}", mail.to)))?;
    // Under the sender's domain, which we speak for, rather than this machine's host name.
    let message_id = format!("<{}@{}>", uuid::Uuid::new_v4().simple(), from.email.domain());
    Message::builder()
        .message_id(Some(message_id))
        .from(from.clone())
        .to(to)
        .subject(mail.subject.as_str())
        .multipart(MultiPart::alternative_plain_html(
            mail.text_body.clone(),
            mail.html_body.clone(),
        ))
        .map_err(|e| MailError::Permanent(format!("message cannot be built: {e}")))
}
