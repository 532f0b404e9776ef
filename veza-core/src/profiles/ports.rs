use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AvatarChange, FollowEntry, FollowOutcome, NewFollow, Profile, ProfileChanges, Settings,
};
use crate::blobs::BlobKey;
use crate::pagination::PageRequest;
use crate::store::StoreError;

/// Persistence of profiles, settings and follows. Follow counts are read from the follow rows
/// themselves, so they are exact whatever runs concurrently.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// The profile of the account with this id; `None` if there is none.
    async fn profile_by_id(&self, id: Uuid) -> Result<Option<Profile>, StoreError>;

    /// The profile whose case-folded username is `username_key`.
    async fn profile_by_username(&self, username_key: &str) -> Result<Option<Profile>, StoreError>;

    /// Writes the `Some` fields of `changes` and nothing else, so two edits of different
    /// fields both land; `None` if no such account.
    async fn update_profile(
        &self,
        id: Uuid,
        changes: &ProfileChanges,
        now: OffsetDateTime,
    ) -> Result<Option<Profile>, StoreError>;

    /// Points the account's avatar at `avatar`, and reports the previous key as orphaned
    /// when it differs and no account uses it any more; `None` if no such account.
    async fn set_avatar(
        &self,
        id: Uuid,
        avatar: &BlobKey,
        now: OffsetDateTime,
    ) -> Result<Option<AvatarChange>, StoreError>;

    /// The account's settings; `Settings::default()` if it never saved any.
    async fn settings(&self, id: Uuid) -> Result<Settings, StoreError>;

    /// Replaces the account's settings and returns them.
    async fn save_settings(
        &self,
        id: Uuid,
        settings: &Settings,
        now: OffsetDateTime,
    ) -> Result<Settings, StoreError>;

    /// Records that `follower_id` follows `followee_id`. Idempotent: a second call is
    /// `AlreadyFollowing` and keeps the first row. `UnknownUser` if either account is missing.
    /// The core refuses self-follows before calling; a store may refuse them too.
    async fn follow(&self, follow: &NewFollow) -> Result<FollowOutcome, StoreError>;

    /// Removes the relation; `false` if there was none.
    async fn unfollow(&self, follower_id: Uuid, followee_id: Uuid) -> Result<bool, StoreError>;

    /// Accounts following `id`, newest follow first, at most `page.fetch_limit()`.
    async fn followers(&self, id: Uuid, page: PageRequest) -> Result<Vec<FollowEntry>, StoreError>;

    /// Accounts `id` follows, newest follow first, at most `page.fetch_limit()`.
    async fn following(&self, id: Uuid, page: PageRequest) -> Result<Vec<FollowEntry>, StoreError>;
}
