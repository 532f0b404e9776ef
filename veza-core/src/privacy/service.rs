//! Data export and account deletion (GDPR articles 15, 17 and 20).

use std::sync::Arc;
use time::Duration;

use super::{ExportDocument, ExportSection, PrivacyError};
use crate::Ports;
use crate::audit::{AuditAction, AuditEvent, AuditLog};
use crate::auth::{ClientInfo, Principal};
use crate::users::UserService;

/// Wrong passwords tolerated on account deletion per account and window: a stolen access
/// token must not become a way to guess the password.
const MAX_CONFIRM_FAILURES: u32 = 10;
const CONFIRM_WINDOW: Duration = Duration::minutes(15);

#[derive(Clone)]
pub struct PrivacyService {
    ports: Ports,
    users: UserService,
    audit: AuditLog,
    sections: Arc<[Arc<dyn ExportSection>]>,
}

impl PrivacyService {
    /// `users` brings the process's one password hasher.
    pub fn new(ports: Ports, users: UserService, audit: AuditLog) -> Self {
        let sections = super::sections::all(&ports).into();
        Self { ports, users, audit, sections }
    }

    /// Everything the caller's account holds, section by section.
    ///
    /// # Errors
    /// Only storage failures.
    pub async fn export(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<ExportDocument, PrivacyError> {
        let user = &principal.user;
        let mut sections = Vec::with_capacity(self.sections.len());
        for section in self.sections.iter() {
            sections.push((section.name(), section.export(user).await?));
        }
        let event = AuditEvent::new(AuditAction::DataExported).actor(user.id).target(user.id);
        self.audit.record(event.from_client(client)).await;
        Ok(ExportDocument { user_id: user.id, exported_at: self.ports.clock.now(), sections })
    }

    /// Erases the caller's account once `password` confirms it is them. What goes and what
    /// stays is `PrivacyStore::delete_account`'s contract (see ADR 0004). The audit entry of
    /// the deletion itself carries ids only.
    ///
    /// # Errors
    /// `InvalidCredentials` for a wrong password; `RateLimited` after too many of those.
    pub async fn delete_account(
        &self,
        principal: &Principal,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(), PrivacyError> {
        let user = &principal.user;
        let now = self.ports.clock.now();
        let key = format!("delete-confirm-failures:{}", user.id);
        if let Some(window) = self.ports.rate_limiter.current(&key, now).await?
            && window.count >= MAX_CONFIRM_FAILURES
        {
            let wait = (window.resets_at - now).whole_seconds().max(1);
            return Err(PrivacyError::RateLimited { retry_after_secs: wait as u64 });
        }
        if !self.users.hasher().verify(password, &user.password_hash).await {
            self.ports.rate_limiter.hit(&key, now, CONFIRM_WINDOW).await?;
            let refused = AuditEvent::new(AuditAction::AccountDeletionRefused).actor(user.id);
            self.audit
                .record(refused.target(user.id).from_client(client).detail("wrong password"))
                .await;
            return Err(PrivacyError::InvalidCredentials);
        }
        // Read before the rows go: the account's audio, every version of every track and the
        // parts of its unfinished uploads.
        let mut audio = self.ports.tracks.owner_blob_keys(user.id).await?;
        audio.extend(self.ports.uploads.owner_upload_part_keys(user.id).await?);
        let Some(erased) = self.ports.privacy.delete_account(user.id).await? else {
            // A concurrent request erased it first: the outcome the caller asked for.
            return Ok(());
        };
        self.ports.rate_limiter.clear(&key).await?;
        if let Some(avatar) = erased.orphaned_avatar
            && let Err(err) = self.ports.blobs.delete(&avatar).await
        {
            // The account is gone and nothing references the file; an operator can remove it.
            tracing::error!(error = %err, key = %avatar, "avatar of an erased account not deleted");
        }
        // Removed by jobs, which keep any file another account's track shares.
        for key in &audio {
            let job = crate::tracks::blob_removal_job(key, &self.ports);
            if let Err(err) = self.ports.jobs.enqueue_job(&job).await {
                tracing::error!(error = %err, key = %key, "audio of an erased account not queued for removal");
            }
        }
        self.audit
            .record(AuditEvent::new(AuditAction::AccountDeleted).actor(user.id).target(user.id))
            .await;
        Ok(())
    }
}
