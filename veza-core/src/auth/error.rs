use crate::pagination::PageError;
use crate::store::{Conflict, StoreError};

/// One rejected input field, with a message meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("password too weak: {0}")]
    WeakPassword(String),
    #[error("email already registered")]
    EmailTaken,
    #[error("username already taken")]
    UsernameTaken,
    /// Unknown account and wrong password alike: the caller must not learn which.
    #[error("invalid login or password")]
    InvalidCredentials,
    #[error("account suspended")]
    Suspended,
    #[error("too many failed attempts")]
    RateLimited { retry_after_secs: u64 },
    /// Bad signature, other algorithm, wrong audience or issuer, expired, old token version,
    /// revoked session or suspended account.
    #[error("access token invalid")]
    InvalidToken,
    #[error("refresh token invalid")]
    InvalidRefreshToken,
    #[error("refresh token already used; session revoked")]
    RefreshTokenReused,
    /// A wrong, replayed or already used TOTP or recovery code.
    #[error("invalid two-factor code")]
    InvalidCode,
    /// A two-factor challenge token that is forged, expired, of another audience, or whose
    /// account changed since (token version, two-factor turned off).
    #[error("invalid two-factor challenge")]
    InvalidChallenge,
    #[error("two-factor authentication already enabled")]
    TwoFactorAlreadyEnabled,
    #[error("two-factor authentication not enabled")]
    TwoFactorNotEnabled,
    /// Enabling needs a pending secret from setup (or a newer setup replaced it).
    #[error("two-factor authentication not set up")]
    TwoFactorSetupRequired,
    /// Unknown, used or expired password-reset token.
    #[error("password reset token invalid")]
    InvalidResetToken,
    /// Unknown, used or expired verification token, or one mailed to a former address.
    #[error("e-mail verification token invalid")]
    InvalidVerificationToken,
    #[error("e-mail address already verified")]
    EmailAlreadyVerified,
    #[error("session not found")]
    SessionNotFound,
    #[error("user not found")]
    UserNotFound,
    /// Signed in, but the role does not allow it.
    #[error("not allowed")]
    Forbidden,
    /// An admin tried to demote or suspend their own account.
    #[error("cannot change your own role or suspension")]
    CannotModifySelf,
    #[error(transparent)]
    BadPage(#[from] PageError),
    #[error("storage failed")]
    Store(#[source] StoreError),
}

impl From<StoreError> for AuthError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(Conflict::EmailTaken) => AuthError::EmailTaken,
            StoreError::Conflict(Conflict::UsernameTaken) => AuthError::UsernameTaken,
            other => AuthError::Store(other),
        }
    }
}

impl From<FieldError> for AuthError {
    fn from(err: FieldError) -> Self {
        AuthError::Invalid(vec![err])
    }
}
