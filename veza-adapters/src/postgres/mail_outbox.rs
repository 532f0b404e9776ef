//! The mail outbox on PostgreSQL. A claim locks due rows with `FOR UPDATE SKIP LOCKED` and
//! pushes them one lease ahead in the same statement: concurrent relays, in this process or
//! others, each get different rows and never wait on each other.

use async_trait::async_trait;
use sqlx::{FromRow, PgConnection};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use veza_core::mail::{MailId, MailOutbox, NewMail, OutgoingMail, QueuedMail};
use veza_core::store::StoreError;

use super::{PgStore, pg_error};

/// Queues `mail` inside the caller's transaction (that of the row it belongs to).
pub(super) async fn enqueue_mail(tx: &mut PgConnection, mail: &NewMail) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body, queued_at, \
         next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(mail.id)
    .bind(&mail.mail.to)
    .bind(&mail.mail.subject)
    .bind(&mail.mail.text_body)
    .bind(&mail.mail.html_body)
    .bind(mail.queued_at)
    .execute(tx)
    .await
    .map(drop)
    .map_err(pg_error)
}

#[derive(FromRow)]
struct QueuedRow {
    id: Uuid,
    recipient: String,
    subject: String,
    text_body: String,
    html_body: String,
    queued_at: OffsetDateTime,
    attempts: i32,
    last_error: Option<String>,
}

impl From<QueuedRow> for QueuedMail {
    fn from(row: QueuedRow) -> Self {
        QueuedMail {
            id: row.id,
            mail: OutgoingMail {
                to: row.recipient,
                subject: row.subject,
                text_body: row.text_body,
                html_body: row.html_body,
            },
            queued_at: row.queued_at,
            attempts: row.attempts.try_into().unwrap_or(0),
            last_error: row.last_error,
        }
    }
}

#[async_trait]
impl MailOutbox for PgStore {
    async fn claim_due_mails(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        // RETURNING gives the rows in no particular order: sorted below, oldest first.
        let mut rows = sqlx::query_as::<_, QueuedRow>(
            "UPDATE mail_outbox m SET attempts = m.attempts + 1, next_attempt_at = $3 \
             FROM (SELECT id, next_attempt_at FROM mail_outbox \
                   WHERE abandoned_at IS NULL AND next_attempt_at <= $1 \
                   ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) due \
             WHERE m.id = due.id \
             RETURNING m.id, m.recipient, m.subject, m.text_body, m.html_body, m.queued_at, \
                       m.attempts, m.last_error",
        )
        .bind(now)
        .bind(i64::from(limit))
        .bind(now + lease)
        .fetch_all(self.pool())
        .await
        .map_err(pg_error)?;
        rows.sort_by_key(|row| (row.queued_at, row.id));
        Ok(rows.into_iter().map(QueuedMail::from).collect())
    }

    async fn mark_mail_sent(&self, id: MailId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM mail_outbox WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(pg_error)
    }

    async fn record_mail_failure(
        &self,
        id: MailId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let query = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE mail_outbox SET last_error = $2, next_attempt_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(error)
            .bind(at),
            None => sqlx::query(
                "UPDATE mail_outbox SET last_error = $2, abandoned_at = $3, text_body = '', \
                 html_body = '' WHERE id = $1",
            )
            .bind(id)
            .bind(error)
            .bind(now),
        };
        query.execute(self.pool()).await.map(drop).map_err(pg_error)
    }
}
