//! The server store: PostgreSQL through one sqlx pool. Owns the Postgres schema (applied by
//! `migrate`, mirrored table for table and column for column by `migrations/sqlite`) and the
//! single place where database errors become domain conflicts (`pg_error`). SQL is literal
//! text checked at run time against a real server, never at compile time.

mod accounts;
mod audit;
mod credentials;
mod jobs;
mod mail_outbox;
mod privacy;
mod profiles;
mod tracks;
mod two_factor;
mod uploads;

use async_trait::async_trait;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use std::time::Duration;
use veza_core::store::{Conflict, PoolStatus, StoreError, StoreHealth};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

const MAX_CONNECTIONS: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Opens the pool and checks the server answers. Does not migrate: call `migrate`.
    ///
    /// # Errors
    /// If the URL is malformed or the server cannot be reached within the acquire timeout.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(pg_error)?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the migrations this build knows and the database has not seen; returns how
    /// many. Safe to run from several processes at once: they serialise on sqlx's advisory
    /// lock, and only the one that applied a migration counts it.
    ///
    /// # Errors
    /// If a migration fails, or one already applied differs from this build's copy.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        // A connection outside the pool: the advisory lock lives as long as the session, so
        // an error part-way must close the connection rather than return it to the pool.
        let mut conn =
            PgConnection::connect_with(&self.pool.connect_options()).await.map_err(pg_error)?;
        let table = &*MIGRATOR.table_name;
        // Held across both counts so a concurrent migrator cannot land between them. The
        // migrator takes the same lock again inside; Postgres advisory locks nest.
        conn.lock().await.map_err(StoreError::backend)?;
        conn.ensure_migrations_table(table).await.map_err(StoreError::backend)?;
        let before = conn.list_applied_migrations(table).await.map_err(StoreError::backend)?.len();
        MIGRATOR.run(&mut conn).await.map_err(StoreError::backend)?;
        let after = conn.list_applied_migrations(table).await.map_err(StoreError::backend)?.len();
        conn.unlock().await.map_err(StoreError::backend)?;
        conn.close().await.map_err(pg_error)?;
        let applied = after - before;
        if applied > 0 {
            tracing::info!(applied, "applied postgres migrations");
        }
        Ok(applied)
    }
}

/// A count or size as PostgreSQL's (signed) BIGINT or INTEGER.
pub(crate) fn wide<T: TryInto<i64>>(value: T) -> Result<i64, StoreError> {
    value.try_into().map_err(|_| StoreError::backend("number out of range for the database"))
}

/// Blob keys read back from a text column.
pub(crate) fn blob_keys(keys: &[String]) -> Result<Vec<veza_core::blobs::BlobKey>, StoreError> {
    keys.iter().map(|k| veza_core::blobs::BlobKey::parse(k).map_err(StoreError::backend)).collect()
}

/// The one place Postgres errors become domain conflicts, keyed by the constraint names
/// `0001_accounts.sql` gives.
pub(crate) fn pg_error(err: sqlx::Error) -> StoreError {
    if let Some(db) = err.as_database_error()
        && db.is_unique_violation()
    {
        match db.constraint() {
            Some("users_email_key") => return Conflict::EmailTaken.into(),
            Some("users_username_key") => return Conflict::UsernameTaken.into(),
            _ => {}
        }
    }
    StoreError::backend(err)
}

#[async_trait]
impl StoreHealth for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop).map_err(pg_error)
    }

    fn pool_status(&self) -> PoolStatus {
        PoolStatus {
            connections: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}

pub mod testing {
    //! Throwaway databases for tests, here and in the e2e crate. Each test gets its own
    //! database on the server named by `VEZA_TEST_POSTGRES_URL`, so tests never see each
    //! other's rows. Without that variable the tests skip, except under `CI=true`, where a
    //! skip would hide a missing service and so fails instead.

    use sqlx::{AssertSqlSafe, Connection, PgConnection};
    use uuid::Uuid;

    pub const URL_VAR: &str = "VEZA_TEST_POSTGRES_URL";

    /// The server to create test databases on, or `None` (after a one-line notice) to skip.
    ///
    /// # Panics
    /// If the variable is unset while `CI=true`.
    pub fn test_server_url() -> Option<String> {
        crate::testing::service_var(URL_VAR, "a PostgreSQL")
    }

    /// Creates an empty database `veza_test_<uuid>` on the server and returns its URL.
    ///
    /// # Panics
    /// If the server cannot be reached or refuses: with a URL given, that is a failure.
    pub async fn fresh_database(server_url: &str) -> String {
        let mut conn = PgConnection::connect(server_url).await.unwrap_or_else(|err| {
            panic!("cannot reach the PostgreSQL server named by {URL_VAR}: {err}")
        });
        let name = format!("veza_test_{}", Uuid::new_v4().simple());
        // The name is built here from hex digits only; nothing from outside reaches the SQL.
        sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|err| panic!("cannot create test database {name}: {err}"));
        conn.close().await.unwrap_or_else(|err| panic!("closing the setup connection: {err}"));
        with_database(server_url, &name)
    }

    /// Drops the test database at `database_url`, closing its connections first (a test of
    /// what happens when the database disappears).
    ///
    /// # Panics
    /// If the server cannot be reached or refuses.
    pub async fn drop_database(server_url: &str, database_url: &str) {
        let name = database_url
            .rsplit('/')
            .next()
            .and_then(|tail| tail.split('?').next())
            .filter(|name| name.starts_with("veza_test_"))
            .unwrap_or_else(|| panic!("{database_url} is not a test database"));
        let mut conn = PgConnection::connect(server_url).await.unwrap_or_else(|err| {
            panic!("cannot reach the PostgreSQL server named by {URL_VAR}: {err}")
        });
        // Only names made by `fresh_database` (checked above) reach the SQL.
        sqlx::query(AssertSqlSafe(format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#)))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|err| panic!("cannot drop test database {name}: {err}"));
    }

    /// `url` with its path (the database name) replaced by `name`, user, host and query kept.
    fn with_database(url: &str, name: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap_or_else(|| {
            panic!("{URL_VAR} must be a URL like postgres://user@host:5432/postgres")
        });
        let (before_query, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
        let authority = before_query.split_once('/').map_or(before_query, |(host, _)| host);
        format!("{scheme}://{authority}/{name}{query}")
    }

    #[cfg(test)]
    mod tests {
        use super::with_database;

        #[test]
        fn only_the_database_name_of_a_url_is_replaced() {
            let cases = [
                (
                    "postgres://postgres@127.0.0.1:5432/postgres",
                    "postgres://postgres@127.0.0.1:5432/db",
                ),
                (
                    "postgres://u:p@h/postgres?sslmode=disable",
                    "postgres://u:p@h/db?sslmode=disable",
                ),
                ("postgresql://h:5432", "postgresql://h:5432/db"),
                ("postgres://h?application_name=x", "postgres://h/db?application_name=x"),
            ];
            for (url, expected) in cases {
                assert_eq!(with_database(url, "db"), expected, "{url}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::sync::Arc;
    use veza_core::store::AccountStore;

    /// A migrated store on a database of its own, or `None` when Postgres tests are skipped.
    pub(super) async fn migrated() -> Option<PgStore> {
        let server = testing::test_server_url()?;
        let store =
            PgStore::connect(&testing::fresh_database(&server).await).await.expect("connect");
        store.migrate().await.expect("migrate");
        Some(store)
    }

    async fn fresh() -> Option<Arc<dyn AccountStore>> {
        Some(Arc::new(migrated().await?))
    }

    veza_core::account_store_contract!(fresh => optional);
    veza_core::two_factor_store_contract!(fresh => optional);
    veza_core::profile_store_contract!(fresh => optional);
    veza_core::track_store_contract!(fresh => optional);
    veza_core::upload_store_contract!(fresh => optional);

    fn migration_files(dialect: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dialect);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
            .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Search structures are dialect-specific by design (SQLite's FTS5 tables, PostgreSQL's
    /// generated tsvector columns) and left out of the comparison.
    #[tokio::test]
    async fn both_dialects_create_the_same_tables_and_columns() {
        // Checked before the skip: it needs no server.
        assert_eq!(migration_files("postgres"), migration_files("sqlite"));
        let Some(pg) = migrated().await else { return };
        let pg_columns: BTreeSet<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' \
             AND is_generated = 'NEVER'",
        )
        .fetch_all(pg.pool())
        .await
        .expect("postgres columns")
        .into_iter()
        .collect();

        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = crate::sqlite::SqliteStore::open(dir.path().join("veza.db")).expect("open");
        sqlite.migrate().await.expect("migrate sqlite");
        let sqlite_columns = sqlite
            .read(|conn| {
                conn.prepare(
                    "SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                     AND NOT EXISTS (SELECT 1 FROM sqlite_schema v \
                     WHERE v.sql LIKE 'CREATE VIRTUAL TABLE%' \
                     AND (m.name = v.name OR m.name LIKE v.name || '\\_%' ESCAPE '\\'))",
                )?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<BTreeSet<(String, String)>>>()
            })
            .await
            .expect("sqlite columns");

        assert!(!pg_columns.is_empty());
        assert_eq!(pg_columns, sqlite_columns);
    }

    #[tokio::test]
    async fn migrating_twice_applies_nothing_the_second_time() {
        let Some(server) = testing::test_server_url() else { return };
        let url = testing::fresh_database(&server).await;
        let store = PgStore::connect(&url).await.expect("connect");
        assert_eq!(store.migrate().await.unwrap(), MIGRATOR.migrations.len());
        assert_eq!(store.migrate().await.unwrap(), 0);
        let reconnected = PgStore::connect(&url).await.expect("reconnect");
        assert_eq!(reconnected.migrate().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn health_names_postgres_and_counts_its_pool() {
        let Some(store) = migrated().await else { return };
        store.ping().await.expect("ping");
        assert_eq!(store.backend(), "postgres");
        let status = store.pool_status();
        assert!((1..=MAX_CONNECTIONS).contains(&status.connections), "{status:?}");
        assert!(status.idle <= status.connections, "{status:?}");
    }
}
