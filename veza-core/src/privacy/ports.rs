use async_trait::async_trait;
use uuid::Uuid;

use crate::auth::Session;
use crate::blobs::BlobKey;
use crate::store::StoreError;

/// What an erased account leaves for the caller to clean up outside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasedAccount {
    /// The account's avatar, when no other account uses the same image: delete its blob.
    pub orphaned_avatar: Option<BlobKey>,
}

/// The storage side of data export and account erasure.
#[async_trait]
pub trait PrivacyStore: Send + Sync {
    /// Every session the account ever had, revoked and expired ones included, newest first.
    async fn all_sessions(&self, user_id: Uuid) -> Result<Vec<Session>, StoreError>;

    /// Erases the account in one transaction: the account row goes, and with it (by
    /// `ON DELETE CASCADE`) its sessions, refresh tokens, settings and follows both ways;
    /// audit rows naming it keep their ids, action, time and detail but lose IP and user
    /// agent. Tables that keep business records (future orders) reference accounts with
    /// `ON DELETE SET NULL` and survive anonymised. `None` if there is no such account.
    async fn delete_account(&self, user_id: Uuid) -> Result<Option<ErasedAccount>, StoreError>;
}
