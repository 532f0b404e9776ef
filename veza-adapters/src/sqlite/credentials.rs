//! Single-use tokens and the password changes they allow, on SQLite. The single writer
//! serialises every consuming call, so a token is consumed at most once.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::auth::TokenHash;
use veza_core::credentials::{CredentialStore, NewUserToken, TokenPurpose};
use veza_core::mail::NewMail;
use veza_core::store::StoreError;
use veza_core::users::User;

use super::SqliteStore;
use super::accounts::{user_by_id, uuid_at};
use super::mail_outbox::enqueue_mail;
use crate::time_text;

/// The owner and mailed-to address of a live token, in the writer's transaction.
fn live_token(
    tx: &Transaction<'_>,
    token: &str,
    purpose: TokenPurpose,
    now: &str,
) -> rusqlite::Result<Option<(Uuid, String)>> {
    tx.prepare_cached(
        "SELECT user_id, email FROM user_tokens WHERE token_hash = ?1 AND purpose = ?2 \
         AND used_at IS NULL AND expires_at > ?3",
    )?
    .query_row(params![token, purpose.as_str(), now], |row| Ok((uuid_at(row, 0)?, row.get(1)?)))
    .optional()
}

fn use_all_tokens(
    tx: &Transaction<'_>,
    user_id: &str,
    purpose: TokenPurpose,
    now: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE user_tokens SET used_at = ?3 WHERE user_id = ?1 AND purpose = ?2 \
         AND used_at IS NULL",
        params![user_id, purpose.as_str(), now],
    )?;
    Ok(())
}

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn create_user_token(
        &self,
        token: &NewUserToken,
        mail: &NewMail,
    ) -> Result<(), StoreError> {
        let (token, mail) = (token.clone(), mail.clone());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO user_tokens (token_hash, user_id, purpose, email, created_at, \
                 expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    token.hash.as_str(),
                    token.user_id.to_string(),
                    token.purpose.as_str(),
                    token.email.as_str(),
                    time_text::format(token.created_at),
                    time_text::format(token.expires_at),
                ],
            )?;
            enqueue_mail(tx, &mail)
        })
        .await
    }

    async fn user_by_token(
        &self,
        token: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let token = token.as_str().to_owned();
        self.read(move |conn| {
            let owner: Option<String> = conn
                .prepare_cached(
                    "SELECT user_id FROM user_tokens WHERE token_hash = ?1 AND purpose = ?2 \
                     AND used_at IS NULL AND expires_at > ?3",
                )?
                .query_row(params![token, purpose.as_str(), time_text::format(now)], |row| {
                    row.get(0)
                })
                .optional()?;
            match owner.map(|id| Uuid::try_parse(&id)) {
                Some(Ok(id)) => user_by_id(conn, id),
                Some(Err(_)) | None => Ok(None),
            }
        })
        .await
    }

    async fn reset_password(
        &self,
        token: &TokenHash,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let (token, password_hash) = (token.as_str().to_owned(), password_hash.to_owned());
        self.write(move |tx| {
            let now = time_text::format(now);
            let Some((user_id, _)) = live_token(tx, &token, TokenPurpose::PasswordReset, &now)?
            else {
                return Ok(None);
            };
            let id = user_id.to_string();
            use_all_tokens(tx, &id, TokenPurpose::PasswordReset, &now)?;
            tx.execute(
                "UPDATE users SET password_hash = ?2, token_version = token_version + 1, \
                 updated_at = ?3 WHERE id = ?1",
                params![id, password_hash, now],
            )?;
            tx.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![id, now],
            )?;
            user_by_id(tx, user_id)
        })
        .await
    }

    async fn verify_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let token = token.as_str().to_owned();
        self.write(move |tx| {
            let now = time_text::format(now);
            let purpose = TokenPurpose::EmailVerification;
            let Some((user_id, email)) = live_token(tx, &token, purpose, &now)? else {
                return Ok(None);
            };
            let id = user_id.to_string();
            let verified = tx.execute(
                "UPDATE users SET email_verified = 1, updated_at = ?3 WHERE id = ?1 AND email = ?2",
                params![id, email, now],
            )?;
            if verified == 0 {
                return Ok(None);
            }
            use_all_tokens(tx, &id, purpose, &now)?;
            user_by_id(tx, user_id)
        })
        .await
    }

    async fn change_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep_session: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let password_hash = password_hash.to_owned();
        self.write(move |tx| {
            let (id, now) = (user_id.to_string(), time_text::format(now));
            let changed = tx.execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, password_hash, now],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            tx.execute(
                "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 AND id <> ?2 \
                 AND revoked_at IS NULL",
                params![id, keep_session.to_string(), now],
            )?;
            use_all_tokens(tx, &id, TokenPurpose::PasswordReset, &now)?;
            user_by_id(tx, user_id)
        })
        .await
    }
}
