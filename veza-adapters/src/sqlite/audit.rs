//! The audit log on SQLite.

use async_trait::async_trait;
use rusqlite::params;
use veza_core::audit::{AuditEntry, AuditFilter, AuditStore};
use veza_core::pagination::PageRequest;
use veza_core::store::StoreError;

use super::SqliteStore;
use super::accounts::{optional_uuid_at, time_at, uuid_at};
use crate::time_text;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let entry = entry.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO audit_log (id, action, actor_id, target_id, ip, user_agent, detail, \
                 occurred_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                entry.id.to_string(),
                entry.action,
                entry.actor_id.map(|id| id.to_string()),
                entry.target_id.map(|id| id.to_string()),
                entry.ip,
                entry.user_agent,
                entry.detail,
                time_text::format(entry.occurred_at),
            ])?;
            Ok(())
        })
        .await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, action, actor_id, target_id, ip, user_agent, detail, occurred_at \
                 FROM audit_log WHERE (?1 IS NULL OR actor_id = ?1) \
                 AND (?2 IS NULL OR target_id = ?2) AND (?3 IS NULL OR action = ?3) \
                 AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5",
            )?
            .query_map(
                params![
                    filter.actor_id.map(|id| id.to_string()),
                    filter.target_id.map(|id| id.to_string()),
                    filter.action,
                    page.after.map(|id| id.to_string()),
                    page.fetch_limit(),
                ],
                |row| {
                    Ok(AuditEntry {
                        id: uuid_at(row, 0)?,
                        action: row.get(1)?,
                        actor_id: optional_uuid_at(row, 2)?,
                        target_id: optional_uuid_at(row, 3)?,
                        ip: row.get(4)?,
                        user_agent: row.get(5)?,
                        detail: row.get(6)?,
                        occurred_at: time_at(row, 7)?,
                    })
                },
            )?
            .collect()
        })
        .await
    }
}
