//! Export reads and account erasure on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;
use veza_core::auth::Session;
use veza_core::blobs::BlobKey;
use veza_core::privacy::{ErasedAccount, PrivacyStore};
use veza_core::store::StoreError;

use super::SqliteStore;
use super::accounts::{SESSION_COLUMNS, session_from_row};
use super::profiles::avatar_in_use;

#[async_trait]
impl PrivacyStore for SqliteStore {
    async fn all_sessions(&self, user_id: Uuid) -> Result<Vec<Session>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = ?1 ORDER BY id DESC"
            ))?
            .query_map([user_id.to_string()], session_from_row)?
            .collect()
        })
        .await
    }

    async fn delete_account(&self, user_id: Uuid) -> Result<Option<ErasedAccount>, StoreError> {
        self.write(move |tx| {
            let id = user_id.to_string();
            let avatar: Option<Option<String>> = tx
                .prepare_cached("SELECT avatar_key FROM users WHERE id = ?1")?
                .query_row([&id], |row| row.get(0))
                .optional()?;
            let Some(avatar) = avatar else { return Ok(None) };
            tx.execute(
                "UPDATE audit_log SET ip = NULL, user_agent = NULL \
                 WHERE actor_id = ?1 OR target_id = ?1",
                params![id],
            )?;
            // Sessions, refresh tokens, settings and follows go by ON DELETE CASCADE.
            tx.execute("DELETE FROM users WHERE id = ?1", params![id])?;
            let orphaned_avatar = match avatar {
                Some(key) if !avatar_in_use(tx, &key)? => BlobKey::parse(&key).ok(),
                _ => None,
            };
            Ok(Some(ErasedAccount { orphaned_avatar }))
        })
        .await
    }
}
