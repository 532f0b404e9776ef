//! The audit log on PostgreSQL.

use async_trait::async_trait;
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::audit::{AuditEntry, AuditFilter, AuditStore};
use veza_core::pagination::PageRequest;
use veza_core::store::StoreError;

use super::{PgStore, pg_error};

#[derive(FromRow)]
struct AuditRow {
    id: Uuid,
    action: String,
    actor_id: Option<Uuid>,
    target_id: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
    occurred_at: OffsetDateTime,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        AuditEntry {
            id: row.id,
            action: row.action,
            actor_id: row.actor_id,
            target_id: row.target_id,
            ip: row.ip,
            user_agent: row.user_agent,
            detail: row.detail,
            occurred_at: row.occurred_at,
        }
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (id, action, actor_id, target_id, ip, user_agent, detail, \
             occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(entry.id)
        .bind(&entry.action)
        .bind(entry.actor_id)
        .bind(entry.target_id)
        .bind(&entry.ip)
        .bind(&entry.user_agent)
        .bind(&entry.detail)
        .bind(entry.occurred_at)
        .execute(self.pool())
        .await
        .map(drop)
        .map_err(pg_error)
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query_as::<_, AuditRow>(
            "SELECT id, action, actor_id, target_id, ip, user_agent, detail, occurred_at \
             FROM audit_log WHERE ($1::uuid IS NULL OR actor_id = $1) \
             AND ($2::uuid IS NULL OR target_id = $2) AND ($3::text IS NULL OR action = $3) \
             AND ($4::uuid IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(filter.actor_id)
        .bind(filter.target_id)
        .bind(&filter.action)
        .bind(page.after)
        .bind(i64::from(page.fetch_limit()))
        .fetch_all(self.pool())
        .await
        .map_err(pg_error)?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }
}
