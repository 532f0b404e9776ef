use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::TokenHash;
use crate::users::Email;

/// What a single-use token may be exchanged for. `as_str` is what the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerification,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailVerification => "email_verification",
        }
    }
}

/// A token about to be stored: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserToken {
    pub hash: TokenHash,
    pub user_id: Uuid,
    pub purpose: TokenPurpose,
    /// The address the link was mailed to. A verification token proves this address only,
    /// so it verifies nothing once the account's address is another one.
    pub email: Email,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}
