//! Two-factor secrets and recovery codes on PostgreSQL. Spending a step or a code is one
//! conditional `UPDATE`: a racing caller blocks on the row lock, then re-checks the condition
//! against the winner's committed row (READ COMMITTED) and changes nothing. Enabling locks
//! the pending row first, so a concurrent setup cannot swap the secret under it.

use async_trait::async_trait;
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::auth::{EnableOutcome, TokenHash, TotpSecret, TwoFactorRecord, TwoFactorStore};
use veza_core::store::StoreError;

use super::{PgStore, pg_error};

#[derive(FromRow)]
struct TwoFactorRow {
    user_id: Uuid,
    secret: String,
    enabled_at: Option<OffsetDateTime>,
    last_step: Option<i64>,
}

impl TryFrom<TwoFactorRow> for TwoFactorRecord {
    type Error = StoreError;

    fn try_from(row: TwoFactorRow) -> Result<Self, StoreError> {
        Ok(TwoFactorRecord {
            user_id: row.user_id,
            secret: TotpSecret::from_base32(&row.secret)?,
            enabled_at: row.enabled_at,
            last_step: row.last_step,
        })
    }
}

#[async_trait]
impl TwoFactorStore for PgStore {
    async fn two_factor(&self, user_id: Uuid) -> Result<Option<TwoFactorRecord>, StoreError> {
        sqlx::query_as::<_, TwoFactorRow>(
            "SELECT user_id, secret, enabled_at, last_step FROM two_factor WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await
        .map_err(pg_error)?
        .map(TwoFactorRecord::try_from)
        .transpose()
    }

    async fn set_pending_two_factor(
        &self,
        user_id: Uuid,
        secret: &TotpSecret,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // The upsert's WHERE leaves an enabled row alone: then no row changes.
        let done = sqlx::query(
            "INSERT INTO two_factor (user_id, secret, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = NULL, \
             created_at = excluded.created_at, updated_at = excluded.updated_at \
             WHERE two_factor.enabled_at IS NULL",
        )
        .bind(user_id)
        .bind(secret.to_base32())
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(pg_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn enable_two_factor(
        &self,
        user_id: Uuid,
        secret: &TotpSecret,
        step: i64,
        recovery_codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<EnableOutcome, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        let current: Option<(String, Option<OffsetDateTime>)> = sqlx::query_as(
            "SELECT secret, enabled_at FROM two_factor WHERE user_id = $1 FOR UPDATE",
        )
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(pg_error)?;
        let outcome = match current {
            Some((_, Some(_))) => EnableOutcome::AlreadyEnabled,
            Some((pending, None)) if pending == secret.to_base32() => EnableOutcome::Enabled,
            _ => EnableOutcome::NotPending,
        };
        if outcome != EnableOutcome::Enabled {
            // Nothing was written; committing releases the row lock at once.
            tx.commit().await.map_err(pg_error)?;
            return Ok(outcome);
        }
        sqlx::query(
            "UPDATE two_factor SET enabled_at = $2, last_step = $3, updated_at = $2 \
             WHERE user_id = $1",
        )
        .bind(user_id)
        .bind(now)
        .bind(step)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        let hashes: Vec<String> = recovery_codes.iter().map(|c| c.as_str().to_owned()).collect();
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) \
             SELECT $1, code_hash, $3 FROM unnest($2::text[]) AS code_hash",
        )
        .bind(user_id)
        .bind(&hashes)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        sqlx::query("UPDATE users SET two_factor_enabled = TRUE, updated_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(EnableOutcome::Enabled)
    }

    async fn accept_totp_step(&self, user_id: Uuid, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE two_factor SET last_step = $2 WHERE user_id = $1 \
             AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(self.pool())
        .await
        .map_err(pg_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(code.as_str())
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(pg_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn disable_two_factor(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        let removed: Option<(Option<OffsetDateTime>,)> =
            sqlx::query_as("DELETE FROM two_factor WHERE user_id = $1 RETURNING enabled_at")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(pg_error)?;
        let enabled = matches!(removed, Some((Some(_),)));
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        if enabled {
            sqlx::query(
                "UPDATE users SET two_factor_enabled = FALSE, updated_at = $2 WHERE id = $1",
            )
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(enabled)
    }
}
