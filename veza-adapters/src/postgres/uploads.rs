//! Resumable uploads on PostgreSQL. An append is one conditional `UPDATE` and the part's
//! insert in one transaction: a racing append at the same offset waits for the row lock,
//! re-checks the condition against the committed offset, and updates nothing.

use async_trait::async_trait;
use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::blobs::BlobKey;
use veza_core::jobs::NewJob;
use veza_core::store::StoreError;
use veza_core::uploads::{
    AppendOutcome, NewUpload, RemoveIf, Upload, UploadMetadata, UploadPart, UploadStore,
};

use super::jobs::enqueue_in;
use super::{PgStore, blob_keys, pg_error, wide};

#[derive(FromRow)]
struct UploadRow {
    id: Uuid,
    owner_id: Uuid,
    length_bytes: i64,
    offset_bytes: i64,
    metadata: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

fn unsigned(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(StoreError::backend)
}

impl TryFrom<UploadRow> for Upload {
    type Error = StoreError;

    fn try_from(row: UploadRow) -> Result<Self, StoreError> {
        Ok(Upload {
            id: row.id,
            owner_id: row.owner_id,
            length: unsigned(row.length_bytes)?,
            offset: unsigned(row.offset_bytes)?,
            metadata: UploadMetadata::from_stored(&row.metadata),
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

async fn upload_by_id<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<Upload>, StoreError> {
    sqlx::query_as::<_, UploadRow>(
        "SELECT id, owner_id, length_bytes, offset_bytes, metadata, created_at, expires_at \
         FROM uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(executor)
    .await
    .map_err(pg_error)?
    .map(Upload::try_from)
    .transpose()
}

async fn parts<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> Result<Vec<UploadPart>, StoreError> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT offset_bytes, blob_key, size_bytes FROM upload_parts WHERE upload_id = $1 \
         ORDER BY offset_bytes",
    )
    .bind(id)
    .fetch_all(executor)
    .await
    .map_err(pg_error)?;
    rows.into_iter()
        .map(|(offset, key, size)| {
            Ok(UploadPart {
                offset: unsigned(offset)?,
                blob: BlobKey::parse(&key).map_err(StoreError::backend)?,
                size: unsigned(size)?,
            })
        })
        .collect()
}

#[async_trait]
impl UploadStore for PgStore {
    async fn insert_upload(
        &self,
        upload: &NewUpload,
        expiry: &NewJob,
    ) -> Result<Upload, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        sqlx::query(
            "INSERT INTO uploads (id, owner_id, length_bytes, offset_bytes, metadata, \
             created_at, expires_at) VALUES ($1, $2, $3, 0, $4, $5, $6)",
        )
        .bind(upload.id)
        .bind(upload.owner_id)
        .bind(wide(upload.length)?)
        .bind(upload.metadata.to_stored())
        .bind(upload.created_at)
        .bind(upload.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        enqueue_in(&mut *tx, expiry).await?;
        let inserted = upload_by_id(&mut *tx, upload.id).await?;
        tx.commit().await.map_err(pg_error)?;
        inserted.ok_or_else(|| StoreError::backend("inserted upload not found"))
    }

    async fn upload_by_id(&self, id: Uuid) -> Result<Option<Upload>, StoreError> {
        upload_by_id(self.pool(), id).await
    }

    async fn append_upload_part(
        &self,
        id: Uuid,
        part: &UploadPart,
        now: OffsetDateTime,
    ) -> Result<AppendOutcome, StoreError> {
        let (start, size) = (wide(part.offset)?, wide(part.size)?);
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        let moved: Option<i64> = sqlx::query_scalar(
            "UPDATE uploads SET offset_bytes = offset_bytes + $3 WHERE id = $1 \
             AND offset_bytes = $2 AND offset_bytes + $3 <= length_bytes AND expires_at > $4 \
             RETURNING offset_bytes",
        )
        .bind(id)
        .bind(start)
        .bind(size)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(pg_error)?;
        let outcome = match moved {
            Some(offset) => {
                sqlx::query(
                    "INSERT INTO upload_parts (upload_id, offset_bytes, blob_key, size_bytes) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(start)
                .bind(part.blob.as_str())
                .bind(size)
                .execute(&mut *tx)
                .await
                .map_err(pg_error)?;
                AppendOutcome::Appended { offset: unsigned(offset)? }
            }
            None => {
                let current: Option<i64> = sqlx::query_scalar(
                    "SELECT offset_bytes FROM uploads WHERE id = $1 AND expires_at > $2",
                )
                .bind(id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(pg_error)?;
                match current {
                    Some(offset) => AppendOutcome::Refused { offset: unsigned(offset)? },
                    None => AppendOutcome::Missing,
                }
            }
        };
        tx.commit().await.map_err(pg_error)?;
        Ok(outcome)
    }

    async fn upload_parts(&self, id: Uuid) -> Result<Vec<UploadPart>, StoreError> {
        parts(self.pool(), id).await
    }

    async fn owner_upload_part_keys(&self, owner_id: Uuid) -> Result<Vec<BlobKey>, StoreError> {
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT p.blob_key FROM upload_parts p JOIN uploads u ON u.id = p.upload_id \
             WHERE u.owner_id = $1 ORDER BY p.blob_key",
        )
        .bind(owner_id)
        .fetch_all(self.pool())
        .await
        .map_err(pg_error)?;
        blob_keys(&keys)
    }

    async fn claim_upload(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE uploads SET claimed_until = $3 WHERE id = $1 \
             AND offset_bytes = length_bytes AND expires_at > $2 \
             AND (claimed_until IS NULL OR claimed_until <= $2)",
        )
        .bind(id)
        .bind(now)
        .bind(until)
        .execute(self.pool())
        .await
        .map_err(pg_error)?
        .rows_affected();
        Ok(claimed == 1)
    }

    async fn release_upload(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE uploads SET claimed_until = NULL WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(pg_error)
    }

    async fn remove_upload(
        &self,
        id: Uuid,
        rule: RemoveIf,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<UploadPart>>, StoreError> {
        let sql = match rule {
            RemoveIf::Any => "DELETE FROM uploads WHERE id = $1 AND $2::timestamptz IS NOT NULL",
            RemoveIf::Unclaimed => {
                "DELETE FROM uploads WHERE id = $1 \
                 AND (claimed_until IS NULL OR claimed_until <= $2)"
            }
            RemoveIf::ExpiredAndUnclaimed => {
                "DELETE FROM uploads WHERE id = $1 AND expires_at <= $2 \
                 AND (claimed_until IS NULL OR claimed_until <= $2)"
            }
        };
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        // Locked first, so no append adds a part between the read and the delete.
        sqlx::query("SELECT 1 FROM uploads WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        let removed_parts = parts(&mut *tx, id).await?;
        let removed = sqlx::query(sql)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?
            .rows_affected();
        tx.commit().await.map_err(pg_error)?;
        Ok((removed == 1).then_some(removed_parts))
    }
}
