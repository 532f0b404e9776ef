//! Two-factor secrets and recovery codes on SQLite. Each decision is one statement or one
//! transaction on the single writer, so racing uses of a step or a code queue behind each
//! other and only the first changes a row.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::auth::{EnableOutcome, TokenHash, TotpSecret, TwoFactorRecord, TwoFactorStore};
use veza_core::store::StoreError;

use super::SqliteStore;
use super::accounts::{optional_time_at, uuid_at};
use crate::time_text;

#[async_trait]
impl TwoFactorStore for SqliteStore {
    async fn two_factor(&self, user_id: Uuid) -> Result<Option<TwoFactorRecord>, StoreError> {
        let row = self
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT user_id, secret, enabled_at, last_step FROM two_factor \
                     WHERE user_id = ?1",
                )?
                .query_row([user_id.to_string()], |row| {
                    Ok((
                        uuid_at(row, 0)?,
                        row.get::<_, String>(1)?,
                        optional_time_at(row, 2)?,
                        row.get::<_, Option<i64>>(3)?,
                    ))
                })
                .optional()
            })
            .await?;
        row.map(|(user_id, secret, enabled_at, last_step)| {
            Ok(TwoFactorRecord {
                user_id,
                secret: TotpSecret::from_base32(&secret)?,
                enabled_at,
                last_step,
            })
        })
        .transpose()
    }

    async fn set_pending_two_factor(
        &self,
        user_id: Uuid,
        secret: &TotpSecret,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let secret = secret.to_base32();
        self.write(move |tx| {
            // The upsert's WHERE leaves an enabled row alone: then no row changes.
            let changed = tx.execute(
                "INSERT INTO two_factor (user_id, secret, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?3) \
                 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
                 last_step = NULL, created_at = excluded.created_at, \
                 updated_at = excluded.updated_at \
                 WHERE two_factor.enabled_at IS NULL",
                params![user_id.to_string(), secret, time_text::format(now)],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn enable_two_factor(
        &self,
        user_id: Uuid,
        secret: &TotpSecret,
        step: i64,
        recovery_codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<EnableOutcome, StoreError> {
        let secret = secret.to_base32();
        let codes: Vec<String> = recovery_codes.iter().map(|c| c.as_str().to_owned()).collect();
        self.write(move |tx| {
            let (id, now) = (user_id.to_string(), time_text::format(now));
            let current: Option<(String, Option<String>)> = tx
                .prepare_cached("SELECT secret, enabled_at FROM two_factor WHERE user_id = ?1")?
                .query_row([&id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            match current {
                Some((_, Some(_))) => return Ok(EnableOutcome::AlreadyEnabled),
                Some((pending, None)) if pending == secret => {}
                _ => return Ok(EnableOutcome::NotPending),
            }
            tx.execute(
                "UPDATE two_factor SET enabled_at = ?2, last_step = ?3, updated_at = ?2 \
                 WHERE user_id = ?1",
                params![id, now, step],
            )?;
            tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [&id])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?1, ?2, ?3)",
            )?;
            for code in &codes {
                insert.execute(params![id, code, now])?;
            }
            tx.execute(
                "UPDATE users SET two_factor_enabled = 1, updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            Ok(EnableOutcome::Enabled)
        })
        .await
    }

    async fn accept_totp_step(&self, user_id: Uuid, step: i64) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE two_factor SET last_step = ?2 WHERE user_id = ?1 \
                 AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < ?2)",
                params![user_id.to_string(), step],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let code = code.as_str().to_owned();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE recovery_codes SET used_at = ?3 \
                 WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
                params![user_id.to_string(), code, time_text::format(now)],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn disable_two_factor(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let (id, now) = (user_id.to_string(), time_text::format(now));
            let removed: Option<Option<String>> = tx
                .prepare_cached("DELETE FROM two_factor WHERE user_id = ?1 RETURNING enabled_at")?
                .query_row([&id], |row| row.get(0))
                .optional()?;
            let enabled = matches!(removed, Some(Some(_)));
            tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [&id])?;
            if enabled {
                tx.execute(
                    "UPDATE users SET two_factor_enabled = 0, updated_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
            }
            Ok(enabled)
        })
        .await
    }
}
