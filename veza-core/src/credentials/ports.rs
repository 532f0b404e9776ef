use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{NewUserToken, TokenPurpose};
use crate::auth::TokenHash;
use crate::mail::NewMail;
use crate::store::StoreError;
use crate::users::User;

/// Persistence of single-use tokens and of the password changes they allow. A token is
/// live while unused and unexpired; every consuming method decides in one transaction, so
/// two requests racing with one token succeed exactly once.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Stores the token and queues `mail` (carrying its link) in one transaction.
    /// # Errors
    /// If either write fails; then neither exists (an unknown user is such a failure).
    async fn create_user_token(
        &self,
        token: &NewUserToken,
        mail: &NewMail,
    ) -> Result<(), StoreError>;

    /// The account a live token of `purpose` belongs to; `None` if the token is unknown,
    /// used, expired at `now`, or of another purpose.
    async fn user_by_token(
        &self,
        token: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError>;

    /// If `token` is a live password-reset token, in one transaction: sets the password
    /// hash, marks every reset token of the account used, revokes all its sessions and bumps
    /// its token version. Returns the updated account, or `None` and changes nothing.
    async fn reset_password(
        &self,
        token: &TokenHash,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError>;

    /// If `token` is a live verification token for the account's current address, in one
    /// transaction: marks the address verified and every verification token of the account
    /// used. Returns the updated account, or `None` and changes nothing.
    async fn verify_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError>;

    /// In one transaction: sets the password hash, revokes every session of the account but
    /// `keep_session`, and marks its outstanding reset tokens used (links mailed before the
    /// change must not undo it). `None` if there is no such account.
    async fn change_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep_session: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError>;
}
