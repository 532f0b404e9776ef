//! The audit log: who did what to whom, from where, when — for security events (sign-ins,
//! failed sign-ins, session and token changes, role changes, suspensions, 2FA and password
//! changes, data exports, account deletions). Rows name users by id only and outlive the
//! accounts they mention; erasing an account strips IP and user agent from its rows.

use crate::names::named_enum;
use async_trait::async_trait;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::ClientInfo;
use crate::clock::{Clock, IdGenerator};
use crate::pagination::PageRequest;
use crate::store::StoreError;

named_enum! {
    /// A security event. `as_str` is the stable name stored and shown (`auth.login_failed`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum AuditAction {
        Registered => "auth.registered",
        Login => "auth.login",
        LoginFailed => "auth.login_failed",
        Logout => "auth.logout",
        LogoutAll => "auth.logout_all",
        SessionRevoked => "auth.session_revoked",
        RefreshTokenReused => "auth.refresh_token_reused",
        RoleChanged => "admin.role_changed",
        Suspended => "admin.user_suspended",
        Unsuspended => "admin.user_unsuspended",
        TwoFactorEnabled => "auth.two_factor_enabled",
        TwoFactorDisabled => "auth.two_factor_disabled",
        TwoFactorFailed => "auth.two_factor_failed",
        RecoveryCodeUsed => "auth.recovery_code_used",
        DataExported => "account.data_exported",
        AccountDeletionRefused => "account.deletion_refused",
        AccountDeleted => "account.deleted",
        PasswordChanged => "auth.password_changed",
        PasswordResetRequested => "auth.password_reset_requested",
        PasswordReset => "auth.password_reset",
        EmailVerified => "auth.email_verified",
        /// The virus scanner flagged an upload; nothing was stored.
        UploadInfected => "track.upload_infected",
    }
}

/// One row of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: Uuid,
    /// Stored as text so rows written by newer builds stay readable by older ones.
    pub action: String,
    /// Who acted: the signed-in user, or `None` for an anonymous caller or the CLI.
    pub actor_id: Option<Uuid>,
    /// Whom it concerned, when that is an account.
    pub target_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A short, non-secret detail (`listener -> creator`, `via veza CLI`).
    pub detail: Option<String>,
    pub occurred_at: OffsetDateTime,
}

/// Which rows to list; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor_id: Option<Uuid>,
    pub target_id: Option<Uuid>,
    pub action: Option<String>,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Matching rows, newest first, at most `page.fetch_limit()`.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

/// What a service knows about an event; `AuditLog` stamps id and time.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub action: AuditAction,
    pub actor_id: Option<Uuid>,
    pub target_id: Option<Uuid>,
    pub client: Option<&'a ClientInfo>,
    pub detail: Option<String>,
}

impl<'a> AuditEvent<'a> {
    pub fn new(action: AuditAction) -> Self {
        Self { action, actor_id: None, target_id: None, client: None, detail: None }
    }

    pub fn actor(mut self, id: Uuid) -> Self {
        self.actor_id = Some(id);
        self
    }

    pub fn target(mut self, id: Uuid) -> Self {
        self.target_id = Some(id);
        self
    }

    pub fn from_client(mut self, client: &'a ClientInfo) -> Self {
        self.client = Some(client);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Appends events for the services. An event the store cannot take is logged as an error
/// and does not undo the action it describes: the action already happened.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn AuditStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl AuditLog {
    pub fn new(
        store: Arc<dyn AuditStore>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { store, clock, ids }
    }

    pub async fn record(&self, event: AuditEvent<'_>) {
        let entry = AuditEntry {
            id: self.ids.new_id(),
            action: event.action.as_str().to_owned(),
            actor_id: event.actor_id,
            target_id: event.target_id,
            ip: event.client.and_then(|c| c.ip).map(|ip| ip.to_string()),
            user_agent: event.client.and_then(|c| c.user_agent.clone()),
            detail: event.detail,
            occurred_at: self.clock.now(),
        };
        if let Err(err) = self.store.append_audit(&entry).await {
            tracing::error!(error = %err, action = %entry.action, "audit entry lost");
        }
    }

    /// # Errors
    /// Only storage failures.
    pub async fn list(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<crate::pagination::Page<AuditEntry>, StoreError> {
        let rows = self.store.list_audit(filter, page).await?;
        Ok(crate::pagination::Page::from_rows(rows, page, |e| e.id))
    }
}

/// Who is acting, for the audit trail: a signed-in user with their connection, or an
/// operator at the command line (no user, no address).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub client: ClientInfo,
}

impl Actor {
    pub fn operator() -> Self {
        Self::default()
    }

    pub fn user(user_id: Uuid, client: ClientInfo) -> Self {
        Self { user_id: Some(user_id), client }
    }

    /// An event by this actor.
    pub fn event(&self, action: AuditAction) -> AuditEvent<'_> {
        let event = AuditEvent::new(action).from_client(&self.client);
        match self.user_id {
            Some(id) => event.actor(id),
            None => event.detail("via veza CLI"),
        }
    }
}
