//! The mail outbox on SQLite. Claims run on the single writer, so two relays (even in two
//! processes, through SQLite's own lock) never claim one row at once.

use async_trait::async_trait;
use rusqlite::{Transaction, params};
use time::{Duration, OffsetDateTime};
use veza_core::mail::{MailId, MailOutbox, NewMail, OutgoingMail, QueuedMail};
use veza_core::store::StoreError;

use super::SqliteStore;
use super::accounts::{time_at, uuid_at};
use crate::time_text;

/// Queues `mail` inside the caller's transaction (that of the row it belongs to).
pub(super) fn enqueue_mail(tx: &Transaction<'_>, mail: &NewMail) -> rusqlite::Result<()> {
    let queued = time_text::format(mail.queued_at);
    tx.prepare_cached(
        "INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body, queued_at, \
         next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![
        mail.id.to_string(),
        mail.mail.to,
        mail.mail.subject,
        mail.mail.text_body,
        mail.mail.html_body,
        queued,
    ])?;
    Ok(())
}

#[async_trait]
impl MailOutbox for SqliteStore {
    async fn claim_due_mails(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        self.write(move |tx| {
            let mut due: Vec<QueuedMail> = tx
                .prepare_cached(
                    "SELECT id, recipient, subject, text_body, html_body, queued_at, attempts, \
                     last_error FROM mail_outbox \
                     WHERE abandoned_at IS NULL AND next_attempt_at <= ?1 \
                     ORDER BY next_attempt_at, id LIMIT ?2",
                )?
                .query_map(params![time_text::format(now), limit], |row| {
                    Ok(QueuedMail {
                        id: uuid_at(row, 0)?,
                        mail: OutgoingMail {
                            to: row.get(1)?,
                            subject: row.get(2)?,
                            text_body: row.get(3)?,
                            html_body: row.get(4)?,
                        },
                        queued_at: time_at(row, 5)?,
                        attempts: row.get(6)?,
                        last_error: row.get(7)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let leased_until = time_text::format(now + lease);
            for mail in &mut due {
                tx.prepare_cached(
                    "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = ?2 \
                     WHERE id = ?1",
                )?
                .execute(params![mail.id.to_string(), leased_until])?;
                mail.attempts += 1;
            }
            Ok(due)
        })
        .await
    }

    async fn mark_mail_sent(&self, id: MailId) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute("DELETE FROM mail_outbox WHERE id = ?1", [id.to_string()])?;
            Ok(())
        })
        .await
    }

    async fn record_mail_failure(
        &self,
        id: MailId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.write(move |tx| {
            match retry_at {
                Some(at) => tx.execute(
                    "UPDATE mail_outbox SET last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
                    params![id.to_string(), error, time_text::format(at)],
                )?,
                None => tx.execute(
                    "UPDATE mail_outbox SET last_error = ?2, abandoned_at = ?3, text_body = '', \
                     html_body = '' WHERE id = ?1",
                    params![id.to_string(), error, time_text::format(now)],
                )?,
            };
            Ok(())
        })
        .await
    }
}
