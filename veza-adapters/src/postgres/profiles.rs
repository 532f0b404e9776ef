//! Profiles, settings and follows on PostgreSQL. Follow counts are `COUNT(*)` over the
//! follow indexes, exact by construction. A follow is one `INSERT … ON CONFLICT DO NOTHING`:
//! the unique pair makes it idempotent under any concurrency, and the foreign keys refuse an
//! account that does not exist, or is being erased, atomically.

use async_trait::async_trait;
use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::blobs::BlobKey;
use veza_core::pagination::PageRequest;
use veza_core::profiles::{
    AvatarChange, Bio, FollowEntry, FollowOutcome, Language, Location, NewFollow, Profile,
    ProfileChanges, ProfileStore, ProfileSummary, Settings, Website,
};
use veza_core::store::StoreError;
use veza_core::users::{DisplayName, Username};

use super::{PgStore, pg_error};

macro_rules! profile_select {
    () => {
        "SELECT u.id, u.username, u.display_name, u.bio, u.location, u.website, u.avatar_key, \
         u.created_at, \
         (SELECT COUNT(*) FROM follows f WHERE f.followee_id = u.id) AS followers_count, \
         (SELECT COUNT(*) FROM follows f WHERE f.follower_id = u.id) AS following_count, \
         COALESCE(s.private_profile, FALSE) AS private_profile, \
         (SELECT COUNT(*) FROM tracks t WHERE t.owner_id = u.id AND t.status = 'ready' \
          AND t.visibility = 'public') AS tracks_count \
         FROM users u LEFT JOIN user_settings s ON s.user_id = u.id"
    };
}

pub(super) fn blob_key(stored: Option<String>) -> Result<Option<BlobKey>, StoreError> {
    stored.map(|key| BlobKey::parse(&key).map_err(StoreError::backend)).transpose()
}

#[derive(FromRow)]
struct ProfileRow {
    id: Uuid,
    username: String,
    display_name: String,
    bio: Option<String>,
    location: Option<String>,
    website: Option<String>,
    avatar_key: Option<String>,
    created_at: OffsetDateTime,
    followers_count: i64,
    following_count: i64,
    tracks_count: i64,
    private_profile: bool,
}

impl TryFrom<ProfileRow> for Profile {
    type Error = StoreError;

    fn try_from(row: ProfileRow) -> Result<Self, StoreError> {
        Ok(Profile {
            id: row.id,
            username: Username::from_trusted(row.username),
            display_name: DisplayName::from_trusted(row.display_name),
            bio: row.bio.map(Bio::from_trusted),
            location: row.location.map(Location::from_trusted),
            website: row.website.map(Website::from_trusted),
            avatar: blob_key(row.avatar_key)?,
            followers_count: row.followers_count,
            following_count: row.following_count,
            tracks_count: row.tracks_count,
            private: row.private_profile,
            created_at: row.created_at,
        })
    }
}

#[derive(FromRow)]
struct FollowRow {
    follow_id: Uuid,
    followed_at: OffsetDateTime,
    id: Uuid,
    username: String,
    display_name: String,
    avatar_key: Option<String>,
}

impl TryFrom<FollowRow> for FollowEntry {
    type Error = StoreError;

    fn try_from(row: FollowRow) -> Result<Self, StoreError> {
        Ok(FollowEntry {
            follow_id: row.follow_id,
            followed_at: row.followed_at,
            user: ProfileSummary {
                id: row.id,
                username: Username::from_trusted(row.username),
                display_name: DisplayName::from_trusted(row.display_name),
                avatar: blob_key(row.avatar_key)?,
            },
        })
    }
}

#[derive(FromRow)]
struct SettingsRow {
    email_notifications: bool,
    private_profile: bool,
    language: String,
    explicit_content: bool,
}

impl From<SettingsRow> for Settings {
    fn from(row: SettingsRow) -> Self {
        Settings {
            email_notifications: row.email_notifications,
            private_profile: row.private_profile,
            language: Language::from_trusted(row.language),
            explicit_content: row.explicit_content,
        }
    }
}

async fn profile_by_id(conn: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Profile>, StoreError> {
    sqlx::query_as::<_, ProfileRow>(concat!(profile_select!(), " WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(pg_error)?
        .map(Profile::try_from)
        .transpose()
}

/// Whether any account still has `key` as its avatar.
pub(super) async fn avatar_in_use(
    conn: impl PgExecutor<'_>,
    key: &str,
) -> Result<bool, StoreError> {
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM users WHERE avatar_key = $1)")
        .bind(key)
        .fetch_one(conn)
        .await
        .map_err(pg_error)
}

fn entries(rows: Vec<FollowRow>) -> Result<Vec<FollowEntry>, StoreError> {
    rows.into_iter().map(FollowEntry::try_from).collect()
}

#[async_trait]
impl ProfileStore for PgStore {
    async fn profile_by_id(&self, id: Uuid) -> Result<Option<Profile>, StoreError> {
        profile_by_id(self.pool(), id).await
    }

    async fn profile_by_username(&self, username_key: &str) -> Result<Option<Profile>, StoreError> {
        sqlx::query_as::<_, ProfileRow>(concat!(profile_select!(), " WHERE u.username_key = $1"))
            .bind(username_key)
            .fetch_optional(self.pool())
            .await
            .map_err(pg_error)?
            .map(Profile::try_from)
            .transpose()
    }

    async fn update_profile(
        &self,
        id: Uuid,
        changes: &ProfileChanges,
        now: OffsetDateTime,
    ) -> Result<Option<Profile>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        let bio = changes.bio.as_ref().map(|v| v.as_ref().map(Bio::as_str));
        let location = changes.location.as_ref().map(|v| v.as_ref().map(Location::as_str));
        let website = changes.website.as_ref().map(|v| v.as_ref().map(Website::as_str));
        sqlx::query(
            "UPDATE users SET \
             display_name = CASE WHEN $2 THEN $3 ELSE display_name END, \
             bio = CASE WHEN $4 THEN $5 ELSE bio END, \
             location = CASE WHEN $6 THEN $7 ELSE location END, \
             website = CASE WHEN $8 THEN $9 ELSE website END, \
             updated_at = $10 WHERE id = $1",
        )
        .bind(id)
        .bind(changes.display_name.is_some())
        .bind(changes.display_name.as_ref().map(DisplayName::as_str))
        .bind(bio.is_some())
        .bind(bio.flatten())
        .bind(location.is_some())
        .bind(location.flatten())
        .bind(website.is_some())
        .bind(website.flatten())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        let profile = profile_by_id(&mut *tx, id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(profile)
    }

    async fn set_avatar(
        &self,
        id: Uuid,
        avatar: &BlobKey,
        now: OffsetDateTime,
    ) -> Result<Option<AvatarChange>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        // The row lock orders concurrent avatar changes of one account.
        let previous: Option<Option<String>> =
            sqlx::query_scalar("SELECT avatar_key FROM users WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(pg_error)?;
        let Some(previous) = previous else { return Ok(None) };
        sqlx::query("UPDATE users SET avatar_key = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(avatar.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        let orphaned = match previous {
            Some(old) if old != avatar.as_str() && !avatar_in_use(&mut *tx, &old).await? => {
                blob_key(Some(old))?
            }
            _ => None,
        };
        let profile = profile_by_id(&mut *tx, id)
            .await?
            .ok_or_else(|| StoreError::backend("account vanished under its row lock"))?;
        tx.commit().await.map_err(pg_error)?;
        Ok(Some(AvatarChange { profile, orphaned }))
    }

    async fn settings(&self, id: Uuid) -> Result<Settings, StoreError> {
        let stored = sqlx::query_as::<_, SettingsRow>(
            "SELECT email_notifications, private_profile, language, explicit_content \
             FROM user_settings WHERE user_id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(pg_error)?;
        Ok(stored.map(Settings::from).unwrap_or_default())
    }

    async fn save_settings(
        &self,
        id: Uuid,
        settings: &Settings,
        now: OffsetDateTime,
    ) -> Result<Settings, StoreError> {
        sqlx::query_as::<_, SettingsRow>(
            "INSERT INTO user_settings (user_id, email_notifications, private_profile, \
             language, explicit_content, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id) DO UPDATE SET \
             email_notifications = excluded.email_notifications, \
             private_profile = excluded.private_profile, language = excluded.language, \
             explicit_content = excluded.explicit_content, updated_at = excluded.updated_at \
             RETURNING email_notifications, private_profile, language, explicit_content",
        )
        .bind(id)
        .bind(settings.email_notifications)
        .bind(settings.private_profile)
        .bind(settings.language.as_str())
        .bind(settings.explicit_content)
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map(Settings::from)
        .map_err(pg_error)
    }

    async fn follow(&self, follow: &NewFollow) -> Result<FollowOutcome, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO follows (id, follower_id, followee_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (follower_id, followee_id) DO NOTHING",
        )
        .bind(follow.id)
        .bind(follow.follower_id)
        .bind(follow.followee_id)
        .bind(follow.created_at)
        .execute(self.pool())
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => Ok(FollowOutcome::Followed),
            Ok(_) => Ok(FollowOutcome::AlreadyFollowing),
            Err(err) if err.as_database_error().is_some_and(|db| db.is_foreign_key_violation()) => {
                Ok(FollowOutcome::UnknownUser)
            }
            Err(err) => Err(pg_error(err)),
        }
    }

    async fn unfollow(&self, follower_id: Uuid, followee_id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(follower_id)
            .bind(followee_id)
            .execute(self.pool())
            .await
            .map_err(pg_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn followers(&self, id: Uuid, page: PageRequest) -> Result<Vec<FollowEntry>, StoreError> {
        let rows = sqlx::query_as::<_, FollowRow>(
            "SELECT f.id AS follow_id, f.created_at AS followed_at, u.id, u.username, \
             u.display_name, u.avatar_key FROM follows f JOIN users u ON u.id = f.follower_id \
             WHERE f.followee_id = $1 AND ($2::uuid IS NULL OR f.id < $2) \
             ORDER BY f.id DESC LIMIT $3",
        )
        .bind(id)
        .bind(page.after)
        .bind(i64::from(page.fetch_limit()))
        .fetch_all(self.pool())
        .await
        .map_err(pg_error)?;
        entries(rows)
    }

    async fn following(&self, id: Uuid, page: PageRequest) -> Result<Vec<FollowEntry>, StoreError> {
        let rows = sqlx::query_as::<_, FollowRow>(
            "SELECT f.id AS follow_id, f.created_at AS followed_at, u.id, u.username, \
             u.display_name, u.avatar_key FROM follows f JOIN users u ON u.id = f.followee_id \
             WHERE f.follower_id = $1 AND ($2::uuid IS NULL OR f.id < $2) \
             ORDER BY f.id DESC LIMIT $3",
        )
        .bind(id)
        .bind(page.after)
        .bind(i64::from(page.fetch_limit()))
        .fetch_all(self.pool())
        .await
        .map_err(pg_error)?;
        entries(rows)
    }
}
