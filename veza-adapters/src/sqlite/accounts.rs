//! Accounts and sessions on SQLite.

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::auth::{NewSession, Rotation, Session, SessionStore, TokenHash};
use veza_core::blobs::BlobKey;
use veza_core::pagination::PageRequest;
use veza_core::store::{PoolStatus, StoreError, StoreHealth};
use veza_core::users::{DisplayName, Email, NewUser, Role, User, UserStore, Username};

use super::SqliteStore;
use crate::time_text;

const USER_COLUMNS: &str = "id, email, username, display_name, role, password_hash, \
    email_verified, two_factor_enabled, token_version, suspended_at, created_at, updated_at";
pub(super) const SESSION_COLUMNS: &str =
    "id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip";

pub(super) fn conversion(
    index: usize,
    err: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(err))
}

pub(super) fn uuid_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    Uuid::try_parse(&row.get::<_, String>(index)?).map_err(|e| conversion(index, e))
}

pub(super) fn time_at(row: &Row<'_>, index: usize) -> rusqlite::Result<OffsetDateTime> {
    time_text::parse(&row.get::<_, String>(index)?).map_err(|e| conversion(index, e))
}

/// A non-negative INTEGER column (SQLite has no unsigned type).
pub(super) fn unsigned_at(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    u64::try_from(row.get::<_, i64>(index)?).map_err(|e| conversion(index, e))
}

/// As `unsigned_at`, for a nullable column.
pub(super) fn optional_unsigned_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<u64>> {
    row.get::<_, Option<i64>>(index)?
        .map(|v| u64::try_from(v).map_err(|e| conversion(index, e)))
        .transpose()
}

/// A `u64` as SQLite's (signed) INTEGER.
pub(super) fn wide(value: u64) -> rusqlite::Result<i64> {
    i64::try_from(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

pub(super) fn blob_key_at(row: &Row<'_>, index: usize) -> rusqlite::Result<BlobKey> {
    BlobKey::parse(&row.get::<_, String>(index)?).map_err(|e| conversion(index, e))
}

pub(super) fn optional_blob_key_at(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<BlobKey>> {
    row.get::<_, Option<String>>(index)?
        .map(|key| BlobKey::parse(&key).map_err(|e| conversion(index, e)))
        .transpose()
}

pub(super) fn optional_uuid_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Uuid>> {
    row.get::<_, Option<String>>(index)?
        .map(|s| Uuid::try_parse(&s).map_err(|e| conversion(index, e)))
        .transpose()
}

pub(super) fn optional_time_at(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<OffsetDateTime>> {
    row.get::<_, Option<String>>(index)?
        .map(|s| time_text::parse(&s).map_err(|e| conversion(index, e)))
        .transpose()
}

/// Reads a user from `USER_COLUMNS` starting at `at`.
fn user_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    let role: String = row.get(at + 4)?;
    Ok(User {
        id: uuid_at(row, at)?,
        email: Email::from_trusted(row.get(at + 1)?),
        username: Username::from_trusted(row.get(at + 2)?),
        display_name: DisplayName::from_trusted(row.get(at + 3)?),
        role: role.parse::<Role>().map_err(|e| conversion(at + 4, e))?,
        password_hash: row.get(at + 5)?,
        email_verified: row.get(at + 6)?,
        two_factor_enabled: row.get(at + 7)?,
        token_version: row.get(at + 8)?,
        suspended_at: optional_time_at(row, at + 9)?,
        created_at: time_at(row, at + 10)?,
        updated_at: time_at(row, at + 11)?,
    })
}

pub(super) fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: uuid_at(row, 0)?,
        user_id: uuid_at(row, 1)?,
        created_at: time_at(row, 2)?,
        last_used_at: time_at(row, 3)?,
        expires_at: time_at(row, 4)?,
        revoked_at: optional_time_at(row, 5)?,
        user_agent: row.get(6)?,
        ip: row.get(7)?,
    })
}

pub(super) fn user_by_id(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id.to_string()], |row| user_from_row(row, 0))
        .optional()
}

fn session_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<Session>> {
    conn.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"))?
        .query_row([id], session_from_row)
        .optional()
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let user = user.clone();
        self.write(move |tx| {
            let created = time_text::format(user.created_at);
            tx.execute(
                "INSERT INTO users (id, email, username, username_key, display_name, role, \
                 password_hash, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![
                    user.id.to_string(),
                    user.email.as_str(),
                    user.username.as_str(),
                    user.username.key(),
                    user.display_name.as_str(),
                    user.role.as_str(),
                    user.password_hash,
                    created,
                ],
            )?;
            user_by_id(tx, user.id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
        })
        .await
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        self.read(move |conn| user_by_id(conn, id)).await
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        let login = login.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE email = ?1 OR username_key = ?1"
            ))?
            .query_row([login], |row| user_from_row(row, 0))
            .optional()
        })
        .await
    }

    async fn set_role(
        &self,
        id: Uuid,
        role: Role,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE users SET role = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.to_string(), role.as_str(), time_text::format(now)],
            )?;
            user_by_id(tx, id)
        })
        .await
    }

    async fn search_users(&self, query: &str, page: PageRequest) -> Result<Vec<User>, StoreError> {
        let pattern = crate::like::contains_pattern(query);
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE (email LIKE ?1 ESCAPE '\\' \
                 OR username_key LIKE ?1 ESCAPE '\\' OR lower(display_name) LIKE ?1 ESCAPE '\\') \
                 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
            ))?
            .query_map(
                params![pattern, page.after.map(|id| id.to_string()), page.fetch_limit()],
                |row| user_from_row(row, 0),
            )?
            .collect()
        })
        .await
    }

    async fn set_suspended(
        &self,
        id: Uuid,
        suspended_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE users SET suspended_at = ?2, updated_at = ?3 WHERE id = ?1",
                params![
                    id.to_string(),
                    suspended_at.map(time_text::format),
                    time_text::format(now)
                ],
            )?;
            user_by_id(tx, id)
        })
        .await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &NewSession) -> Result<Session, StoreError> {
        let new = session.clone();
        self.write(move |tx| {
            let id = new.id.to_string();
            let created = time_text::format(new.created_at);
            tx.execute(
                "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, \
                 user_agent, ip) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    new.user_id.to_string(),
                    created,
                    time_text::format(new.expires_at),
                    new.user_agent,
                    new.ip
                ],
            )?;
            tx.execute(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES (?1, ?2, ?3)",
                params![new.refresh_token.as_str(), id, created],
            )?;
            session_by_id(tx, &id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let (presented, next) = (presented.as_str().to_owned(), next.as_str().to_owned());
        self.write(move |tx| {
            let token: Option<(String, Option<String>)> = tx
                .prepare_cached(
                    "SELECT session_id, rotated_at FROM refresh_tokens WHERE token_hash = ?1",
                )?
                .query_row([&presented], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let Some((session_id, rotated_at)) = token else { return Ok(Rotation::Invalid) };
            let Some(session) = session_by_id(tx, &session_id)? else {
                return Ok(Rotation::Invalid);
            };
            let now_text = time_text::format(now);
            if rotated_at.is_some() {
                tx.execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![session_id, now_text],
                )?;
                return Ok(Rotation::Reused { session_id: session.id, user_id: session.user_id });
            }
            if !session.is_active(now) {
                return Ok(Rotation::Invalid);
            }
            tx.execute(
                "UPDATE refresh_tokens SET rotated_at = ?2 WHERE token_hash = ?1",
                params![presented, now_text],
            )?;
            tx.execute(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES (?1, ?2, ?3)",
                params![next, session_id, now_text],
            )?;
            tx.execute(
                "UPDATE sessions SET last_used_at = ?2, expires_at = ?3 WHERE id = ?1",
                params![session_id, now_text, time_text::format(expires_at)],
            )?;
            let session = session_by_id(tx, &session_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            let user = user_by_id(tx, session.user_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            Ok(Rotation::Rotated { session, user: Box::new(user) })
        })
        .await
    }

    async fn session_with_user(
        &self,
        session_id: Uuid,
    ) -> Result<Option<(Session, User)>, StoreError> {
        self.read(move |conn| {
            let columns = SESSION_COLUMNS
                .split(", ")
                .map(|c| format!("s.{c}"))
                .chain(USER_COLUMNS.split(", ").map(|c| format!("u.{c}")))
                .collect::<Vec<_>>()
                .join(", ");
            conn.prepare_cached(&format!(
                "SELECT {columns} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1"
            ))?
            .query_row([session_id.to_string()], |row| {
                Ok((session_from_row(row)?, user_from_row(row, 8)?))
            })
            .optional()
        })
        .await
    }

    async fn list_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        page: PageRequest,
    ) -> Result<Vec<Session>, StoreError> {
        self.read(move |conn| {
            // UUIDv7 text sorts like creation time; the cursor is the last id seen.
            let after = page.after.map(|id| id.to_string());
            conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions \
                 WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 \
                 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
            ))?
            .query_map(
                params![user_id.to_string(), time_text::format(now), after, page.fetch_limit()],
                session_from_row,
            )?
            .collect()
        })
        .await
    }

    async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE sessions SET revoked_at = ?3 \
                 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
                params![session_id.to_string(), user_id.to_string(), time_text::format(now)],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn revoke_all_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            let (id, now) = (user_id.to_string(), time_text::format(now));
            tx.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![id, now],
            )?;
            tx.execute(
                "UPDATE users SET token_version = token_version + 1, updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl StoreHealth for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    fn pool_status(&self) -> PoolStatus {
        self.readers_status()
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
