//! Export reads and account erasure on PostgreSQL.

use async_trait::async_trait;
use uuid::Uuid;
use veza_core::auth::Session;
use veza_core::privacy::{ErasedAccount, PrivacyStore};
use veza_core::store::StoreError;

use super::accounts::SessionRow;
use super::profiles::{avatar_in_use, blob_key};
use super::{PgStore, pg_error};

#[async_trait]
impl PrivacyStore for PgStore {
    async fn all_sessions(&self, user_id: Uuid) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query_as::<_, SessionRow>(
            "SELECT id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, \
             ip FROM sessions WHERE user_id = $1 ORDER BY id DESC",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await
        .map_err(pg_error)?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn delete_account(&self, user_id: Uuid) -> Result<Option<ErasedAccount>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        sqlx::query(
            "UPDATE audit_log SET ip = NULL, user_agent = NULL \
             WHERE actor_id = $1 OR target_id = $1",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        // Sessions, refresh tokens, settings and follows go by ON DELETE CASCADE. A follow
        // racing with this waits on the row lock, then fails its foreign key: no row of the
        // account survives.
        let deleted: Option<Option<String>> =
            sqlx::query_scalar("DELETE FROM users WHERE id = $1 RETURNING avatar_key")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(pg_error)?;
        let Some(avatar) = deleted else {
            tx.rollback().await.map_err(pg_error)?;
            return Ok(None);
        };
        let orphaned_avatar = match avatar {
            Some(key) if !avatar_in_use(&mut *tx, &key).await? => blob_key(Some(key))?,
            _ => None,
        };
        tx.commit().await.map_err(pg_error)?;
        Ok(Some(ErasedAccount { orphaned_avatar }))
    }
}
