use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{NewUser, Role, User};
use crate::pagination::PageRequest;
use crate::store::StoreError;

/// Persistence of accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts the account.
    /// # Errors
    /// `Conflict::EmailTaken` or `Conflict::UsernameTaken` (username compared without case)
    /// if either is in use; nothing is written.
    async fn insert_user(&self, user: &NewUser) -> Result<User, StoreError>;

    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError>;

    /// The account whose e-mail or case-folded username equals `login` (already lower-cased).
    async fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError>;

    /// Sets the role; `None` if no such account.
    async fn set_role(
        &self,
        id: Uuid,
        role: Role,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError>;

    /// Accounts whose e-mail, username or display name contains `query` (without case; `%`
    /// and `_` are literal), newest first, at most `page.fetch_limit()`. An empty query
    /// matches every account.
    async fn search_users(&self, query: &str, page: PageRequest) -> Result<Vec<User>, StoreError>;

    /// Suspends (`Some(time)`) or lifts a suspension (`None`); `None` if no such account.
    async fn set_suspended(
        &self,
        id: Uuid,
        suspended_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError>;
}
