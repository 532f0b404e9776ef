//! Accounts and sessions on PostgreSQL. Every operation that writes more than one row runs in
//! one transaction. Refresh-token rotation locks the token row, then its session row, in that
//! order everywhere, so racing rotations of one token queue behind each other and exactly one
//! of them rotates.

use async_trait::async_trait;
use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::auth::{NewSession, Rotation, Session, SessionStore, TokenHash};
use veza_core::pagination::PageRequest;
use veza_core::store::StoreError;
use veza_core::users::{DisplayName, Email, NewUser, Role, User, UserStore, Username};

use super::{PgStore, pg_error};

// Macros, not consts: sqlx takes only `&'static str` literals, which `concat!` can build.
macro_rules! user_columns {
    () => {
        "id, email, username, display_name, role, password_hash, email_verified, \
         two_factor_enabled, token_version, suspended_at, created_at, updated_at"
    };
}

macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip"
    };
}

#[derive(FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    username: String,
    display_name: String,
    role: String,
    password_hash: String,
    email_verified: bool,
    two_factor_enabled: bool,
    token_version: i64,
    suspended_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            id: row.id,
            email: Email::from_trusted(row.email),
            username: Username::from_trusted(row.username),
            display_name: DisplayName::from_trusted(row.display_name),
            role: row.role.parse::<Role>().map_err(StoreError::backend)?,
            password_hash: row.password_hash,
            email_verified: row.email_verified,
            two_factor_enabled: row.two_factor_enabled,
            token_version: row.token_version,
            suspended_at: row.suspended_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(FromRow)]
pub(super) struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    created_at: OffsetDateTime,
    last_used_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
    user_agent: Option<String>,
    ip: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id: row.id,
            user_id: row.user_id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            user_agent: row.user_agent,
            ip: row.ip,
        }
    }
}

/// A session joined with its user in one round trip (it backs every authenticated request).
/// Both tables have `id` and `created_at`, so the session's columns carry a `session_` prefix.
#[derive(FromRow)]
struct SessionUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    session_id: Uuid,
    session_created_at: OffsetDateTime,
    session_last_used_at: OffsetDateTime,
    session_expires_at: OffsetDateTime,
    session_revoked_at: Option<OffsetDateTime>,
    session_user_agent: Option<String>,
    session_ip: Option<String>,
}

impl TryFrom<SessionUserRow> for (Session, User) {
    type Error = StoreError;

    fn try_from(row: SessionUserRow) -> Result<Self, StoreError> {
        let session = Session {
            id: row.session_id,
            user_id: row.user.id,
            created_at: row.session_created_at,
            last_used_at: row.session_last_used_at,
            expires_at: row.session_expires_at,
            revoked_at: row.session_revoked_at,
            user_agent: row.session_user_agent,
            ip: row.session_ip,
        };
        Ok((session, row.user.try_into()?))
    }
}

pub(super) async fn user_by_id(
    conn: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<User>, StoreError> {
    sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(pg_error)?
        .map(User::try_from)
        .transpose()
}

#[async_trait]
impl UserStore for PgStore {
    async fn insert_user(&self, user: &NewUser) -> Result<User, StoreError> {
        sqlx::query_as::<_, UserRow>(concat!(
            "INSERT INTO users (id, email, username, username_key, display_name, role, \
             password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             RETURNING ",
            user_columns!()
        ))
        .bind(user.id)
        .bind(user.email.as_str())
        .bind(user.username.as_str())
        .bind(user.username.key())
        .bind(user.display_name.as_str())
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(user.created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(pg_error)?
        .try_into()
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        user_by_id(&self.pool, id).await
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1 OR username_key = $1"
        ))
        .bind(login)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_error)?
        .map(User::try_from)
        .transpose()
    }

    async fn set_role(
        &self,
        id: Uuid,
        role: Role,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(concat!(
            "UPDATE users SET role = $2, updated_at = $3 WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(role.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_error)?
        .map(User::try_from)
        .transpose()
    }

    async fn search_users(&self, query: &str, page: PageRequest) -> Result<Vec<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE (email LIKE $1 ESCAPE '\\' OR username_key LIKE $1 ESCAPE '\\' \
             OR lower(display_name) LIKE $1 ESCAPE '\\') AND ($2::uuid IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(crate::like::contains_pattern(query))
        .bind(page.after)
        .bind(i64::from(page.fetch_limit()))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_error)?
        .into_iter()
        .map(User::try_from)
        .collect()
    }

    async fn set_suspended(
        &self,
        id: Uuid,
        suspended_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(concat!(
            "UPDATE users SET suspended_at = $2, updated_at = $3 WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(suspended_at)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_error)?
        .map(User::try_from)
        .transpose()
    }
}

/// The decision of `rotate_refresh_token`, inside the caller's transaction.
async fn rotate(
    tx: &mut sqlx::PgConnection,
    presented: &TokenHash,
    next: &TokenHash,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<Rotation, StoreError> {
    // Racing callers block here until the winner commits, then re-read the row it changed
    // (READ COMMITTED re-checks locked rows), see `rotated_at` set and take the reuse branch.
    let token: Option<(Uuid, Option<OffsetDateTime>)> = sqlx::query_as(
        "SELECT session_id, rotated_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(presented.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(pg_error)?;
    let Some((session_id, rotated_at)) = token else { return Ok(Rotation::Invalid) };

    // Locked so a concurrent revocation cannot slip between the activity check and the update.
    let session = sqlx::query_as::<_, SessionRow>(concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE id = $1 FOR UPDATE"
    ))
    .bind(session_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(pg_error)?;
    let Some(session) = session.map(Session::from) else { return Ok(Rotation::Invalid) };

    if rotated_at.is_some() {
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(session_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        return Ok(Rotation::Reused { session_id: session.id, user_id: session.user_id });
    }
    if !session.is_active(now) {
        return Ok(Rotation::Invalid);
    }

    sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1")
        .bind(presented.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
    )
    .bind(next.as_str())
    .bind(session_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(pg_error)?;
    let session: Session = sqlx::query_as::<_, SessionRow>(concat!(
        "UPDATE sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1 RETURNING ",
        session_columns!()
    ))
    .bind(session_id)
    .bind(now)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await
    .map_err(pg_error)?
    .into();
    let user = user_by_id(&mut *tx, session.user_id)
        .await?
        .ok_or_else(|| StoreError::backend("session row without its user"))?;
    Ok(Rotation::Rotated { session, user: Box::new(user) })
}

#[async_trait]
impl SessionStore for PgStore {
    async fn create_session(&self, session: &NewSession) -> Result<Session, StoreError> {
        let mut tx = self.pool.begin().await.map_err(pg_error)?;
        let created: Session = sqlx::query_as::<_, SessionRow>(concat!(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, \
             user_agent, ip) VALUES ($1, $2, $3, $3, $4, $5, $6) RETURNING ",
            session_columns!()
        ))
        .bind(session.id)
        .bind(session.user_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.user_agent.as_deref())
        .bind(session.ip.as_deref())
        .fetch_one(&mut *tx)
        .await
        .map_err(pg_error)?
        .into();
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
        )
        .bind(session.refresh_token.as_str())
        .bind(session.id)
        .bind(session.created_at)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(created)
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.pool.begin().await.map_err(pg_error)?;
        let rotation = rotate(&mut tx, presented, next, now, expires_at).await?;
        // Committed on every outcome, `Invalid` included: it releases the row locks at once
        // instead of leaving them to a rollback queued on the pooled connection.
        tx.commit().await.map_err(pg_error)?;
        Ok(rotation)
    }

    async fn session_with_user(
        &self,
        session_id: Uuid,
    ) -> Result<Option<(Session, User)>, StoreError> {
        sqlx::query_as::<_, SessionUserRow>(
            "SELECT s.id AS session_id, s.created_at AS session_created_at, \
             s.last_used_at AS session_last_used_at, s.expires_at AS session_expires_at, \
             s.revoked_at AS session_revoked_at, s.user_agent AS session_user_agent, \
             s.ip AS session_ip, u.id, u.email, u.username, u.display_name, u.role, \
             u.password_hash, u.email_verified, u.two_factor_enabled, u.token_version, \
             u.suspended_at, u.created_at, u.updated_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_error)?
        .map(<(Session, User)>::try_from)
        .transpose()
    }

    async fn list_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        page: PageRequest,
    ) -> Result<Vec<Session>, StoreError> {
        // UUIDv7 compares bytewise like creation time; the cursor is the last id seen.
        let rows = sqlx::query_as::<_, SessionRow>(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        ))
        .bind(user_id)
        .bind(now)
        .bind(page.after)
        .bind(i64::from(page.fetch_limit()))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_error)?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $3 \
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(pg_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_all_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(pg_error)?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        sqlx::query(
            "UPDATE users SET token_version = token_version + 1, updated_at = $2 WHERE id = $1",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)
    }
}
