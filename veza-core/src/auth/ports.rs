use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{NewSession, Rotation, Session, TokenHash};
use crate::pagination::PageRequest;
use crate::store::StoreError;
use crate::users::User;

/// Persistence of sessions and their refresh tokens.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates the session with `refresh_token` as its live token.
    async fn create_session(&self, session: &NewSession) -> Result<Session, StoreError>;

    /// In one transaction: if `presented` is the live token of an active session, marks it
    /// rotated, makes `next` live, sets `last_used_at = now` and `expires_at`; if `presented`
    /// was rotated before, revokes its session (reuse); else `Rotation::Invalid`.
    /// Two calls racing with one token: exactly one gets `Rotated`.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Rotation, StoreError>;

    /// The session and its user, whatever their state (the caller checks it).
    async fn session_with_user(
        &self,
        session_id: Uuid,
    ) -> Result<Option<(Session, User)>, StoreError>;

    /// The user's active sessions (not revoked, not expired at `now`), newest first.
    async fn list_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        page: PageRequest,
    ) -> Result<Vec<Session>, StoreError>;

    /// Revokes one of the user's sessions; `false` if it is not theirs or already revoked.
    async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Revokes every session of the user and bumps its token version, atomically.
    async fn revoke_all_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}
