//! The embedded store: one SQLite file in WAL mode. Writes go through a single connection
//! behind a mutex (they queue instead of failing with SQLITE_BUSY), reads through a small
//! pool; both run on tokio's blocking pool, never on the async threads.

mod accounts;
mod audit;
mod credentials;
mod jobs;
mod mail_outbox;
mod migrate;
mod privacy;
mod profiles;
mod tracks;
mod two_factor;
mod uploads;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use veza_core::store::{Conflict, PoolStatus, StoreError};

const READERS: u32 = 4;

#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file. Does not migrate: call `migrate`.
    ///
    /// # Errors
    /// If the file cannot be opened or configured.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let writer = Connection::open(&path).map_err(StoreError::backend)?;
        configure(&writer).map_err(StoreError::backend)?;
        let manager =
            SqliteConnectionManager::file(&path).with_init(|conn: &mut Connection| configure(conn));
        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .min_idle(Some(1))
            .build(manager)
            .map_err(StoreError::backend)?;
        Ok(Self { writer: Arc::new(Mutex::new(writer)), readers, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies the migrations this build knows and the file has not seen; returns how many.
    ///
    /// # Errors
    /// If a migration fails (it is rolled back) or the file is newer than this build.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            migrate::apply(&mut conn)
        })
        .await
        .map_err(StoreError::backend)?
    }

    /// Runs `f` in an immediate transaction on the single writer; commits if it returns `Ok`.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(StoreError::backend)?
        .map_err(sqlite_error)
    }

    /// Runs `f` on a pooled reader.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.get().map_err(StoreError::backend)?;
            f(&conn).map_err(sqlite_error)
        })
        .await
        .map_err(StoreError::backend)?
    }

    /// As `read`, for a point lookup by primary key: run on the calling task when a reader is
    /// free at once. Such a read of a WAL database never waits for the writer and takes
    /// microseconds from the page cache, less than the hand-off to the blocking pool it
    /// saves (the hottest reads: a track before each streamed range). With every reader
    /// busy, it queues on the blocking pool like any read.
    pub(crate) async fn read_point<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        match self.readers.try_get() {
            Some(conn) => f(&conn).map_err(sqlite_error),
            None => self.read(f).await,
        }
    }

    pub(crate) fn readers_status(&self) -> PoolStatus {
        let state = self.readers.state();
        // The writer is one more connection, always open.
        PoolStatus { connections: state.connections + 1, idle: state.idle_connections }
    }
}

/// The one place SQLite errors become domain conflicts. SQLite names columns, not
/// constraints, in its message.
pub(crate) fn sqlite_error(err: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, Some(message)) = &err
        && code.code == ErrorCode::ConstraintViolation
    {
        if message.contains("users.email") {
            return Conflict::EmailTaken.into();
        }
        if message.contains("users.username_key") {
            return Conflict::UsernameTaken.into();
        }
    }
    StoreError::backend(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use veza_core::store::AccountStore;

    async fn fresh() -> Arc<dyn AccountStore> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("veza.db")).expect("open");
        store.migrate().await.expect("migrate");
        // The directory must outlive the test: leak it (removed with the OS temp dir).
        std::mem::forget(dir);
        Arc::new(store)
    }

    veza_core::account_store_contract!(fresh);
    veza_core::two_factor_store_contract!(fresh);
    veza_core::profile_store_contract!(fresh);
    veza_core::track_store_contract!(fresh);
    veza_core::upload_store_contract!(fresh);

    #[tokio::test]
    async fn migrating_twice_applies_nothing_the_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("veza.db")).unwrap();
        assert!(store.migrate().await.unwrap() > 0);
        assert_eq!(store.migrate().await.unwrap(), 0);
        let reopened = SqliteStore::open(dir.path().join("veza.db")).unwrap();
        assert_eq!(reopened.migrate().await.unwrap(), 0);
    }
}
