//! The sections of the data export. `all` is the one list the export walks: a new domain
//! (tracks, playlists, comments, likes, orders) adds its `ExportSection` there and nowhere
//! else.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

use super::{ExportSection, ExportValue, PrivacyStore};
use crate::Ports;
use crate::audit::{AuditEntry, AuditFilter, AuditStore};
use crate::blobs::{BlobKey, BlobStore};
use crate::pagination::{MAX_LIMIT, PageRequest};
use crate::profiles::{FollowEntry, ImageFormat, ProfileStore};
use crate::store::StoreError;
use crate::users::User;

/// Every section, in document order.
pub fn all(ports: &Ports) -> Vec<Arc<dyn ExportSection>> {
    vec![
        Arc::new(Account),
        Arc::new(Profile { profiles: ports.profiles.clone(), blobs: ports.blobs.clone() }),
        Arc::new(Settings { profiles: ports.profiles.clone() }),
        Arc::new(Sessions { privacy: ports.privacy.clone() }),
        Arc::new(Follows { profiles: ports.profiles.clone() }),
        Arc::new(Audit { audit: ports.audit.clone() }),
    ]
}

/// Reads every page of a list ordered by descending id.
async fn every_page<T, F, Fut>(
    id_of: impl Fn(&T) -> Uuid,
    mut fetch: F,
) -> Result<Vec<T>, StoreError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, StoreError>>,
{
    let mut all = Vec::new();
    let mut page = PageRequest::first(MAX_LIMIT);
    loop {
        let mut rows = fetch(page).await?;
        let more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        page.after = rows.last().map(&id_of);
        all.extend(rows);
        if !more {
            return Ok(all);
        }
    }
}

struct Account;

#[async_trait]
impl ExportSection for Account {
    fn name(&self) -> &'static str {
        "account"
    }

    async fn export(&self, user: &User) -> Result<ExportValue, StoreError> {
        Ok(ExportValue::record([
            ("id", user.id.into()),
            ("email", user.email.as_str().into()),
            ("username", user.username.as_str().into()),
            ("display_name", user.display_name.as_str().into()),
            ("role", user.role.as_str().into()),
            ("email_verified", user.email_verified.into()),
            ("two_factor_enabled", user.two_factor_enabled.into()),
            ("suspended_at", user.suspended_at.into()),
            ("created_at", user.created_at.into()),
            ("updated_at", user.updated_at.into()),
        ]))
    }
}

struct Profile {
    profiles: Arc<dyn ProfileStore>,
    blobs: Arc<dyn BlobStore>,
}

impl Profile {
    /// The image itself, base64-encoded: the export must hold the data, not a link to it.
    async fn avatar(&self, key: &BlobKey) -> Result<ExportValue, StoreError> {
        let bytes = match self.blobs.get(key, None).await {
            Ok(read) => read.body.collect().await.map_err(StoreError::backend)?,
            Err(crate::blobs::BlobError::NotFound) => return Ok(ExportValue::Null),
            Err(err) => return Err(StoreError::backend(err)),
        };
        let content_type = key.extension().and_then(ImageFormat::from_extension);
        Ok(ExportValue::record([
            ("content_type", content_type.map(ImageFormat::content_type).into()),
            ("sha256", key.file_stem().into()),
            ("data_base64", STANDARD.encode(bytes).into()),
        ]))
    }
}

#[async_trait]
impl ExportSection for Profile {
    fn name(&self) -> &'static str {
        "profile"
    }

    async fn export(&self, user: &User) -> Result<ExportValue, StoreError> {
        let Some(profile) = self.profiles.profile_by_id(user.id).await? else {
            return Ok(ExportValue::Null);
        };
        let avatar = match &profile.avatar {
            Some(key) => self.avatar(key).await?,
            None => ExportValue::Null,
        };
        Ok(ExportValue::record([
            ("display_name", profile.display_name.as_str().into()),
            ("bio", profile.bio.as_ref().map(|v| v.as_str()).into()),
            ("location", profile.location.as_ref().map(|v| v.as_str()).into()),
            ("website", profile.website.as_ref().map(|v| v.as_str()).into()),
            ("avatar", avatar),
        ]))
    }
}

struct Settings {
    profiles: Arc<dyn ProfileStore>,
}

#[async_trait]
impl ExportSection for Settings {
    fn name(&self) -> &'static str {
        "settings"
    }

    async fn export(&self, user: &User) -> Result<ExportValue, StoreError> {
        let settings = self.profiles.settings(user.id).await?;
        Ok(ExportValue::record([
            ("email_notifications", settings.email_notifications.into()),
            ("private_profile", settings.private_profile.into()),
            ("language", settings.language.as_str().into()),
            ("explicit_content", settings.explicit_content.into()),
        ]))
    }
}

struct Sessions {
    privacy: Arc<dyn PrivacyStore>,
}

#[async_trait]
impl ExportSection for Sessions {
    fn name(&self) -> &'static str {
        "sessions"
    }

    async fn export(&self, user: &User) -> Result<ExportValue, StoreError> {
        let sessions = self.privacy.all_sessions(user.id).await?;
        Ok(ExportValue::list(sessions.into_iter().map(|s| {
            ExportValue::record([
                ("id", s.id.into()),
                ("created_at", s.created_at.into()),
                ("last_used_at", s.last_used_at.into()),
                ("expires_at", s.expires_at.into()),
                ("revoked_at", s.revoked_at.into()),
                ("user_agent", s.user_agent.into()),
                ("ip", s.ip.into()),
            ])
        })))
    }
}

struct Follows {
    profiles: Arc<dyn ProfileStore>,
}

fn follow_value(entry: FollowEntry) -> ExportValue {
    ExportValue::record([
        ("user_id", entry.user.id.into()),
        ("username", entry.user.username.as_str().into()),
        ("followed_at", entry.followed_at.into()),
    ])
}

#[async_trait]
impl ExportSection for Follows {
    fn name(&self) -> &'static str {
        "follows"
    }

    async fn export(&self, user: &User) -> Result<ExportValue, StoreError> {
        let id_of = |e: &FollowEntry| e.follow_id;
        let following = every_page(id_of, |page| self.profiles.following(user.id, page)).await?;
        let followers = every_page(id_of, |page| self.profiles.followers(user.id, page)).await?;
        Ok(ExportValue::record([
            ("following", ExportValue::list(following.into_iter().map(follow_value))),
            ("followers", ExportValue::list(followers.into_iter().map(follow_value))),
        ]))
    }
}

struct Audit {
    audit: Arc<dyn AuditStore>,
}

#[async_trait]
impl ExportSection for Audit {
    fn name(&self) -> &'static str {
        "audit_log"
    }

    /// Security events the account caused or that concerned it, newest first.
    async fn export(&self, user: &User) -> Result<ExportValue, StoreError> {
        let mut entries = BTreeMap::new();
        for filter in [
            AuditFilter { actor_id: Some(user.id), ..AuditFilter::default() },
            AuditFilter { target_id: Some(user.id), ..AuditFilter::default() },
        ] {
            let rows = every_page(
                |e: &AuditEntry| e.id,
                |page| {
                    let filter = filter.clone();
                    async move { self.audit.list_audit(&filter, page).await }
                },
            )
            .await?;
            entries.extend(rows.into_iter().map(|e| (e.id, e)));
        }
        Ok(ExportValue::list(entries.into_values().rev().map(|e| {
            ExportValue::record([
                ("id", e.id.into()),
                ("action", e.action.into()),
                ("actor_id", e.actor_id.into()),
                ("target_id", e.target_id.into()),
                ("ip", e.ip.into()),
                ("user_agent", e.user_agent.into()),
                ("detail", e.detail.into()),
                ("occurred_at", e.occurred_at.into()),
            ])
        })))
    }
}
