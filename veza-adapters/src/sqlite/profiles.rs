//! Profiles, settings and follows on SQLite. Follow counts are `COUNT(*)` over the follow
//! indexes, so they are exact by construction; writes go through the single writer, so a
//! follow's existence checks and insert cannot interleave with another write.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
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

use super::SqliteStore;
use super::accounts::{optional_blob_key_at, time_at, uuid_at};
use crate::time_text;

const PROFILE_SELECT: &str = "SELECT u.id, u.username, u.display_name, u.bio, u.location, \
    u.website, u.avatar_key, u.created_at, \
    (SELECT COUNT(*) FROM follows f WHERE f.followee_id = u.id), \
    (SELECT COUNT(*) FROM follows f WHERE f.follower_id = u.id), \
    COALESCE(s.private_profile, 0), \
    (SELECT COUNT(*) FROM tracks t WHERE t.owner_id = u.id AND t.status = 'ready' \
     AND t.visibility = 'public') \
    FROM users u LEFT JOIN user_settings s ON s.user_id = u.id";

fn profile_from_row(row: &Row<'_>) -> rusqlite::Result<Profile> {
    Ok(Profile {
        id: uuid_at(row, 0)?,
        username: Username::from_trusted(row.get(1)?),
        display_name: DisplayName::from_trusted(row.get(2)?),
        bio: row.get::<_, Option<String>>(3)?.map(Bio::from_trusted),
        location: row.get::<_, Option<String>>(4)?.map(Location::from_trusted),
        website: row.get::<_, Option<String>>(5)?.map(Website::from_trusted),
        avatar: optional_blob_key_at(row, 6)?,
        created_at: time_at(row, 7)?,
        followers_count: row.get(8)?,
        following_count: row.get(9)?,
        tracks_count: row.get(11)?,
        private: row.get(10)?,
    })
}

fn profile_by_id(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<Profile>> {
    conn.prepare_cached(&format!("{PROFILE_SELECT} WHERE u.id = ?1"))?
        .query_row([id.to_string()], profile_from_row)
        .optional()
}

/// Who follows `id` when `followers`, else whom `id` follows; newest follow first.
fn follow_list(
    conn: &Connection,
    id: Uuid,
    page: PageRequest,
    followers: bool,
) -> rusqlite::Result<Vec<FollowEntry>> {
    let sql = if followers {
        "SELECT f.id, f.created_at, u.id, u.username, u.display_name, u.avatar_key \
         FROM follows f JOIN users u ON u.id = f.follower_id \
         WHERE f.followee_id = ?1 AND (?2 IS NULL OR f.id < ?2) ORDER BY f.id DESC LIMIT ?3"
    } else {
        "SELECT f.id, f.created_at, u.id, u.username, u.display_name, u.avatar_key \
         FROM follows f JOIN users u ON u.id = f.followee_id \
         WHERE f.follower_id = ?1 AND (?2 IS NULL OR f.id < ?2) ORDER BY f.id DESC LIMIT ?3"
    };
    conn.prepare_cached(sql)?
        .query_map(
            params![id.to_string(), page.after.map(|a| a.to_string()), page.fetch_limit()],
            |row| {
                Ok(FollowEntry {
                    follow_id: uuid_at(row, 0)?,
                    followed_at: time_at(row, 1)?,
                    user: ProfileSummary {
                        id: uuid_at(row, 2)?,
                        username: Username::from_trusted(row.get(3)?),
                        display_name: DisplayName::from_trusted(row.get(4)?),
                        avatar: optional_blob_key_at(row, 5)?,
                    },
                })
            },
        )?
        .collect()
}

/// Whether any account still has `key` as its avatar.
pub(super) fn avatar_in_use(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE avatar_key = ?1)")?
        .query_row([key], |row| row.get(0))
}

#[async_trait]
impl ProfileStore for SqliteStore {
    async fn profile_by_id(&self, id: Uuid) -> Result<Option<Profile>, StoreError> {
        self.read(move |conn| profile_by_id(conn, id)).await
    }

    async fn profile_by_username(&self, username_key: &str) -> Result<Option<Profile>, StoreError> {
        let key = username_key.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("{PROFILE_SELECT} WHERE u.username_key = ?1"))?
                .query_row([key], profile_from_row)
                .optional()
        })
        .await
    }

    async fn update_profile(
        &self,
        id: Uuid,
        changes: &ProfileChanges,
        now: OffsetDateTime,
    ) -> Result<Option<Profile>, StoreError> {
        let changes = changes.clone();
        self.write(move |tx| {
            let text = |v: &Option<Option<String>>| v.clone().flatten();
            let (bio, location, website) = (
                changes.bio.as_ref().map(|v| v.as_ref().map(|b| b.as_str().to_owned())),
                changes.location.as_ref().map(|v| v.as_ref().map(|l| l.as_str().to_owned())),
                changes.website.as_ref().map(|v| v.as_ref().map(|w| w.as_str().to_owned())),
            );
            tx.execute(
                "UPDATE users SET \
                 display_name = CASE WHEN ?2 THEN ?3 ELSE display_name END, \
                 bio = CASE WHEN ?4 THEN ?5 ELSE bio END, \
                 location = CASE WHEN ?6 THEN ?7 ELSE location END, \
                 website = CASE WHEN ?8 THEN ?9 ELSE website END, \
                 updated_at = ?10 WHERE id = ?1",
                params![
                    id.to_string(),
                    changes.display_name.is_some(),
                    changes.display_name.as_ref().map(|d| d.as_str().to_owned()),
                    bio.is_some(),
                    text(&bio),
                    location.is_some(),
                    text(&location),
                    website.is_some(),
                    text(&website),
                    time_text::format(now),
                ],
            )?;
            profile_by_id(tx, id)
        })
        .await
    }

    async fn set_avatar(
        &self,
        id: Uuid,
        avatar: &BlobKey,
        now: OffsetDateTime,
    ) -> Result<Option<AvatarChange>, StoreError> {
        let avatar = avatar.as_str().to_owned();
        self.write(move |tx| {
            let previous: Option<Option<String>> = tx
                .prepare_cached("SELECT avatar_key FROM users WHERE id = ?1")?
                .query_row([id.to_string()], |row| row.get(0))
                .optional()?;
            let Some(previous) = previous else { return Ok(None) };
            tx.execute(
                "UPDATE users SET avatar_key = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.to_string(), avatar, time_text::format(now)],
            )?;
            let orphaned = match previous {
                Some(old) if old != avatar && !avatar_in_use(tx, &old)? => {
                    BlobKey::parse(&old).ok()
                }
                _ => None,
            };
            let profile = profile_by_id(tx, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            Ok(Some(AvatarChange { profile, orphaned }))
        })
        .await
    }

    async fn settings(&self, id: Uuid) -> Result<Settings, StoreError> {
        self.read(move |conn| {
            let stored = conn
                .prepare_cached(
                    "SELECT email_notifications, private_profile, language, explicit_content \
                     FROM user_settings WHERE user_id = ?1",
                )?
                .query_row([id.to_string()], |row| {
                    Ok(Settings {
                        email_notifications: row.get(0)?,
                        private_profile: row.get(1)?,
                        language: Language::from_trusted(row.get(2)?),
                        explicit_content: row.get(3)?,
                    })
                })
                .optional()?;
            Ok(stored.unwrap_or_default())
        })
        .await
    }

    async fn save_settings(
        &self,
        id: Uuid,
        settings: &Settings,
        now: OffsetDateTime,
    ) -> Result<Settings, StoreError> {
        let saved = settings.clone();
        let settings = settings.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO user_settings (user_id, email_notifications, private_profile, \
                 language, explicit_content, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (user_id) DO UPDATE SET \
                 email_notifications = excluded.email_notifications, \
                 private_profile = excluded.private_profile, language = excluded.language, \
                 explicit_content = excluded.explicit_content, updated_at = excluded.updated_at",
                params![
                    id.to_string(),
                    settings.email_notifications,
                    settings.private_profile,
                    settings.language.as_str(),
                    settings.explicit_content,
                    time_text::format(now),
                ],
            )?;
            Ok(())
        })
        .await?;
        Ok(saved)
    }

    async fn follow(&self, follow: &NewFollow) -> Result<FollowOutcome, StoreError> {
        let follow = follow.clone();
        self.write(move |tx| {
            let (follower, followee) =
                (follow.follower_id.to_string(), follow.followee_id.to_string());
            let known: i64 = tx
                .prepare_cached("SELECT COUNT(*) FROM users WHERE id IN (?1, ?2)")?
                .query_row([&follower, &followee], |row| row.get(0))?;
            if known < 2 {
                return Ok(FollowOutcome::UnknownUser);
            }
            let inserted = tx.execute(
                "INSERT INTO follows (id, follower_id, followee_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (follower_id, followee_id) DO NOTHING",
                params![
                    follow.id.to_string(),
                    follower,
                    followee,
                    time_text::format(follow.created_at)
                ],
            )?;
            Ok(if inserted == 1 {
                FollowOutcome::Followed
            } else {
                FollowOutcome::AlreadyFollowing
            })
        })
        .await
    }

    async fn unfollow(&self, follower_id: Uuid, followee_id: Uuid) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let removed = tx.execute(
                "DELETE FROM follows WHERE follower_id = ?1 AND followee_id = ?2",
                params![follower_id.to_string(), followee_id.to_string()],
            )?;
            Ok(removed == 1)
        })
        .await
    }

    async fn followers(&self, id: Uuid, page: PageRequest) -> Result<Vec<FollowEntry>, StoreError> {
        self.read(move |conn| follow_list(conn, id, page, true)).await
    }

    async fn following(&self, id: Uuid, page: PageRequest) -> Result<Vec<FollowEntry>, StoreError> {
        self.read(move |conn| follow_list(conn, id, page, false)).await
    }
}
