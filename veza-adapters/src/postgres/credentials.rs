//! Single-use tokens and the password changes they allow, on PostgreSQL. A consuming call
//! locks the token row (`FOR UPDATE`) before deciding: a racing call with the same token
//! waits, then re-reads `used_at` and finds the token spent.

use async_trait::async_trait;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::auth::TokenHash;
use veza_core::credentials::{CredentialStore, NewUserToken, TokenPurpose};
use veza_core::mail::NewMail;
use veza_core::store::StoreError;
use veza_core::users::User;

use super::accounts::user_by_id;
use super::mail_outbox::enqueue_mail;
use super::{PgStore, pg_error};

/// Locks a live token; its owner and mailed-to address.
async fn lock_live_token(
    tx: &mut PgConnection,
    token: &TokenHash,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> Result<Option<(Uuid, String)>, StoreError> {
    sqlx::query_as(
        "SELECT user_id, email FROM user_tokens WHERE token_hash = $1 AND purpose = $2 \
         AND used_at IS NULL AND expires_at > $3 FOR UPDATE",
    )
    .bind(token.as_str())
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(tx)
    .await
    .map_err(pg_error)
}

async fn use_all_tokens(
    tx: &mut PgConnection,
    user_id: Uuid,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE user_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 \
         AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(now)
    .execute(tx)
    .await
    .map(drop)
    .map_err(pg_error)
}

#[async_trait]
impl CredentialStore for PgStore {
    async fn create_user_token(
        &self,
        token: &NewUserToken,
        mail: &NewMail,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        sqlx::query(
            "INSERT INTO user_tokens (token_hash, user_id, purpose, email, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.hash.as_str())
        .bind(token.user_id)
        .bind(token.purpose.as_str())
        .bind(token.email.as_str())
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        enqueue_mail(&mut tx, mail).await?;
        tx.commit().await.map_err(pg_error)
    }

    async fn user_by_token(
        &self,
        token: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let owner: Option<(Uuid,)> = sqlx::query_as(
            "SELECT user_id FROM user_tokens WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token.as_str())
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(pg_error)?;
        match owner {
            Some((id,)) => user_by_id(self.pool(), id).await,
            None => Ok(None),
        }
    }

    async fn reset_password(
        &self,
        token: &TokenHash,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        let Some((user_id, _)) =
            lock_live_token(&mut tx, token, TokenPurpose::PasswordReset, now).await?
        else {
            // Committed, not dropped: releases nothing held, but returns the connection clean.
            tx.commit().await.map_err(pg_error)?;
            return Ok(None);
        };
        use_all_tokens(&mut tx, user_id, TokenPurpose::PasswordReset, now).await?;
        sqlx::query(
            "UPDATE users SET password_hash = $2, token_version = token_version + 1, \
             updated_at = $3 WHERE id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        let user = user_by_id(&mut *tx, user_id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(user)
    }

    async fn verify_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let purpose = TokenPurpose::EmailVerification;
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        let Some((user_id, email)) = lock_live_token(&mut tx, token, purpose, now).await? else {
            tx.commit().await.map_err(pg_error)?;
            return Ok(None);
        };
        let verified = sqlx::query(
            "UPDATE users SET email_verified = TRUE, updated_at = $3 WHERE id = $1 AND email = $2",
        )
        .bind(user_id)
        .bind(&email)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        if verified.rows_affected() == 0 {
            tx.commit().await.map_err(pg_error)?;
            return Ok(None);
        }
        use_all_tokens(&mut tx, user_id, purpose, now).await?;
        let user = user_by_id(&mut *tx, user_id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(user)
    }

    async fn change_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep_session: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        let changed =
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(user_id)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(pg_error)?;
        if changed.rows_affected() == 0 {
            tx.commit().await.map_err(pg_error)?;
            return Ok(None);
        }
        sqlx::query(
            "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND id <> $2 \
             AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(keep_session)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        use_all_tokens(&mut tx, user_id, TokenPurpose::PasswordReset, now).await?;
        let user = user_by_id(&mut *tx, user_id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(user)
    }
}
