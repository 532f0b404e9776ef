//! Outgoing mail. Services never send mail inline: they enqueue it in the `mail_outbox` table
//! in the same transaction as the row that needs it (a reset token, a verification token), and
//! the `MailRelay` delivers it through the `Mailer` port afterwards. A crash between the two
//! loses nothing: the row is still there and due. Delivery is at least once; a mail that keeps
//! failing is retried on a schedule and then abandoned with its last error kept.

mod model;
mod ports;
mod relay;

pub use model::{MailError, MailId, NewMail, OutgoingMail, QueuedMail};
pub use ports::{MailOutbox, Mailer};
pub use relay::{MailRelay, RelayConfig, RelayHandle};
