//! What every storage adapter reports back: a domain conflict the caller can act on, or a
//! backend failure it cannot (logged, answered as a generic 500).

use std::error::Error as StdError;

pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A uniqueness rule the database refused; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("email already registered")]
    EmailTaken,
    #[error("username already taken")]
    UsernameTaken,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error("storage backend failed: {0}")]
    Backend(#[source] BoxError),
}

impl StoreError {
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(err.into())
    }
}

/// Liveness and pool figures of a store, for `/readyz`, `/metrics` and `veza doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub connections: u32,
    pub idle: u32,
}

#[async_trait::async_trait]
pub trait StoreHealth: Send + Sync {
    /// `Ok` if the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;

    fn pool_status(&self) -> PoolStatus;

    /// `sqlite` or `postgres`, for logs and `veza doctor`.
    fn backend(&self) -> &'static str;
}

/// Declares `AccountStore` and its blanket impl from one list of bounds, so a new port is
/// added in one place rather than two that must agree.
macro_rules! account_store {
    ($($bounds:tt)+) => {
        /// Everything the domains need from one database, as one object adapters implement.
        pub trait AccountStore: $($bounds)+ {}

        impl<T: $($bounds)+> AccountStore for T {}
    };
}

account_store!(
    crate::users::UserStore
        + crate::auth::SessionStore
        + crate::auth::TwoFactorStore
        + crate::audit::AuditStore
        + crate::profiles::ProfileStore
        + crate::privacy::PrivacyStore
        + crate::jobs::JobStore
        + crate::tracks::TrackStore
        + crate::uploads::UploadStore
        + crate::credentials::CredentialStore
        + crate::mail::MailOutbox
        + StoreHealth
);
