//! Resumable uploads on SQLite. Appends, claims and removals are single statements (or one
//! transaction) on the single writer, so racing requests serialise: the second append at an
//! offset finds it moved on.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::blobs::BlobKey;
use veza_core::jobs::NewJob;
use veza_core::store::StoreError;
use veza_core::uploads::{
    AppendOutcome, NewUpload, RemoveIf, Upload, UploadMetadata, UploadPart, UploadStore,
};

use super::SqliteStore;
use super::accounts::{blob_key_at, conversion, time_at, unsigned_at, uuid_at, wide};
use super::jobs::enqueue_in;
use crate::time_text;

const UPLOAD_COLUMNS: &str =
    "id, owner_id, length_bytes, offset_bytes, metadata, created_at, expires_at";

fn upload_from_row(row: &Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        id: uuid_at(row, 0)?,
        owner_id: uuid_at(row, 1)?,
        length: unsigned_at(row, 2)?,
        offset: unsigned_at(row, 3)?,
        metadata: UploadMetadata::from_stored(&row.get::<_, String>(4)?),
        created_at: time_at(row, 5)?,
        expires_at: time_at(row, 6)?,
    })
}

fn upload_by_id(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<Upload>> {
    conn.prepare_cached(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1"))?
        .query_row([id.to_string()], upload_from_row)
        .optional()
}

fn parts(conn: &Connection, id: Uuid) -> rusqlite::Result<Vec<UploadPart>> {
    conn.prepare_cached(
        "SELECT offset_bytes, blob_key, size_bytes FROM upload_parts WHERE upload_id = ?1 \
         ORDER BY offset_bytes",
    )?
    .query_map([id.to_string()], |row| {
        Ok(UploadPart {
            offset: unsigned_at(row, 0)?,
            blob: blob_key_at(row, 1)?,
            size: unsigned_at(row, 2)?,
        })
    })?
    .collect()
}

fn append(
    tx: &Transaction<'_>,
    id: Uuid,
    part: &UploadPart,
    now: &str,
) -> rusqlite::Result<AppendOutcome> {
    let (start, size) = (wide(part.offset)?, wide(part.size)?);
    let moved = tx
        .prepare_cached(
            "UPDATE uploads SET offset_bytes = offset_bytes + ?3 WHERE id = ?1 \
             AND offset_bytes = ?2 AND offset_bytes + ?3 <= length_bytes AND expires_at > ?4",
        )?
        .execute(params![id.to_string(), start, size, now])?;
    if moved == 1 {
        tx.prepare_cached(
            "INSERT INTO upload_parts (upload_id, offset_bytes, blob_key, size_bytes) \
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![id.to_string(), start, part.blob.as_str(), size])?;
        return Ok(AppendOutcome::Appended { offset: part.offset + part.size });
    }
    let current: Option<(i64, String)> = tx
        .prepare_cached("SELECT offset_bytes, expires_at FROM uploads WHERE id = ?1")?
        .query_row([id.to_string()], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(match current {
        Some((offset, expires_at)) if expires_at.as_str() > now => {
            AppendOutcome::Refused { offset: u64::try_from(offset).map_err(|e| conversion(0, e))? }
        }
        _ => AppendOutcome::Missing,
    })
}

#[async_trait]
impl UploadStore for SqliteStore {
    async fn insert_upload(
        &self,
        upload: &NewUpload,
        expiry: &NewJob,
    ) -> Result<Upload, StoreError> {
        let (upload, expiry) = (upload.clone(), expiry.clone());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO uploads (id, owner_id, length_bytes, offset_bytes, metadata, \
                 created_at, expires_at) VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6)",
            )?
            .execute(params![
                upload.id.to_string(),
                upload.owner_id.to_string(),
                wide(upload.length)?,
                upload.metadata.to_stored(),
                time_text::format(upload.created_at),
                time_text::format(upload.expires_at),
            ])?;
            enqueue_in(tx, &expiry)?;
            upload_by_id(tx, upload.id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
        })
        .await
    }

    async fn upload_by_id(&self, id: Uuid) -> Result<Option<Upload>, StoreError> {
        self.read(move |conn| upload_by_id(conn, id)).await
    }

    async fn append_upload_part(
        &self,
        id: Uuid,
        part: &UploadPart,
        now: OffsetDateTime,
    ) -> Result<AppendOutcome, StoreError> {
        let part = part.clone();
        self.write(move |tx| append(tx, id, &part, &time_text::format(now))).await
    }

    async fn upload_parts(&self, id: Uuid) -> Result<Vec<UploadPart>, StoreError> {
        self.read(move |conn| parts(conn, id)).await
    }

    async fn owner_upload_part_keys(&self, owner_id: Uuid) -> Result<Vec<BlobKey>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT p.blob_key FROM upload_parts p JOIN uploads u ON u.id = p.upload_id \
                 WHERE u.owner_id = ?1 ORDER BY p.blob_key",
            )?
            .query_map([owner_id.to_string()], |row| blob_key_at(row, 0))?
            .collect()
        })
        .await
    }

    async fn claim_upload(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let claimed = tx
                .prepare_cached(
                    "UPDATE uploads SET claimed_until = ?3 WHERE id = ?1 \
                     AND offset_bytes = length_bytes AND expires_at > ?2 \
                     AND (claimed_until IS NULL OR claimed_until <= ?2)",
                )?
                .execute(params![
                    id.to_string(),
                    time_text::format(now),
                    time_text::format(until)
                ])?;
            Ok(claimed == 1)
        })
        .await
    }

    async fn release_upload(&self, id: Uuid) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute("UPDATE uploads SET claimed_until = NULL WHERE id = ?1", [id.to_string()])
                .map(drop)
        })
        .await
    }

    async fn remove_upload(
        &self,
        id: Uuid,
        rule: RemoveIf,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<UploadPart>>, StoreError> {
        self.write(move |tx| {
            let condition = match rule {
                RemoveIf::Any => "?2 IS ?2",
                RemoveIf::Unclaimed => "(claimed_until IS NULL OR claimed_until <= ?2)",
                RemoveIf::ExpiredAndUnclaimed => {
                    "expires_at <= ?2 AND (claimed_until IS NULL OR claimed_until <= ?2)"
                }
            };
            let removed_parts = parts(tx, id)?;
            let removed = tx
                .prepare_cached(&format!("DELETE FROM uploads WHERE id = ?1 AND {condition}"))?
                .execute(params![id.to_string(), time_text::format(now)])?;
            Ok((removed == 1).then_some(removed_parts))
        })
        .await
    }
}
