//! A migration runner over `PRAGMA user_version`: migration N is applied when the file's
//! version is below N, inside one transaction with the version bump.

use rusqlite::{Connection, TransactionBehavior};
use veza_core::store::StoreError;

/// `(name, sql)` in order; the position + 1 is the version. Never edit a shipped one: the
/// files live on users' devices. Add a new one, mirrored in `migrations/postgres`.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_accounts", include_str!("../../migrations/sqlite/0001_accounts.sql")),
    ("0002_audit", include_str!("../../migrations/sqlite/0002_audit.sql")),
    ("0003_two_factor", include_str!("../../migrations/sqlite/0003_two_factor.sql")),
    ("0004_mail", include_str!("../../migrations/sqlite/0004_mail.sql")),
    ("0005_profiles", include_str!("../../migrations/sqlite/0005_profiles.sql")),
    ("0006_jobs", include_str!("../../migrations/sqlite/0006_jobs.sql")),
    ("0007_tracks", include_str!("../../migrations/sqlite/0007_tracks.sql")),
    ("0008_uploads", include_str!("../../migrations/sqlite/0008_uploads.sql")),
    ("0009_stream", include_str!("../../migrations/sqlite/0009_stream.sql")),
    ("0010_track_versions", include_str!("../../migrations/sqlite/0010_track_versions.sql")),
    (
        "0011_track_index_upkeep",
        include_str!("../../migrations/sqlite/0011_track_index_upkeep.sql"),
    ),
];

pub(crate) fn apply(conn: &mut Connection) -> Result<usize, StoreError> {
    let current: usize = conn
        .pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))
        .map_err(StoreError::backend)?
        .try_into()
        .map_err(StoreError::backend)?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::backend(format!(
            "database schema version {current} is newer than this build's {}; upgrade veza",
            MIGRATIONS.len()
        )));
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(StoreError::backend)?;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", (index + 1) as i64))
            .and_then(|()| tx.commit())
            .map_err(|err| StoreError::backend(format!("migration {name} failed: {err}")))?;
        tracing::info!(migration = name, "applied sqlite migration");
    }
    Ok(MIGRATIONS.len() - current)
}
