//! Administration and moderation: user search, role changes, suspensions, the audit log.
//! Admins may do everything here; moderators may read (search, audit log) but not change.

use uuid::Uuid;

use crate::Ports;
use crate::audit::{Actor, AuditEntry, AuditFilter, AuditLog};
use crate::auth::{AuthError, FieldError, Principal};
use crate::pagination::{Page, PageRequest};
use crate::users::{Role, User, UserService};

/// Longer searches are refused: no name or address is that long.
const MAX_QUERY_CHARS: usize = 254;

#[derive(Clone)]
pub struct AdminService {
    ports: Ports,
    users: UserService,
    audit: AuditLog,
}

/// What a caller wants to do, for the permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Change,
}

fn require(principal: &Principal, access: Access) -> Result<(), AuthError> {
    match (principal.user.role, access) {
        (Role::Admin, _) | (Role::Moderator, Access::Read) => Ok(()),
        _ => Err(AuthError::Forbidden),
    }
}

impl AdminService {
    pub fn new(ports: Ports, users: UserService, audit: AuditLog) -> Self {
        Self { ports, users, audit }
    }

    /// Accounts matching `query` in e-mail, username or display name, newest first.
    ///
    /// # Errors
    /// `Forbidden` below moderator; `Invalid` for an overlong query.
    pub async fn search_users(
        &self,
        principal: &Principal,
        query: &str,
        page: PageRequest,
    ) -> Result<Page<User>, AuthError> {
        require(principal, Access::Read)?;
        let query = query.trim();
        if query.chars().count() > MAX_QUERY_CHARS || query.chars().any(char::is_control) {
            let message = format!("must be at most {MAX_QUERY_CHARS} printable characters");
            return Err(FieldError::new("query", message).into());
        }
        let rows = self.ports.users.search_users(query, page).await?;
        Ok(Page::from_rows(rows, page, |u| u.id))
    }

    /// # Errors
    /// `Forbidden` unless admin; `CannotModifySelf`; `UserNotFound`.
    pub async fn set_role(
        &self,
        principal: &Principal,
        user_id: Uuid,
        role: Role,
        by: &Actor,
    ) -> Result<User, AuthError> {
        require(principal, Access::Change)?;
        if user_id == principal.user.id {
            return Err(AuthError::CannotModifySelf);
        }
        self.users.set_role(&user_id.to_string(), role, by).await
    }

    /// # Errors
    /// `Forbidden` unless admin; `CannotModifySelf`; `UserNotFound`.
    pub async fn set_suspended(
        &self,
        principal: &Principal,
        user_id: Uuid,
        suspended: bool,
        by: &Actor,
    ) -> Result<User, AuthError> {
        require(principal, Access::Change)?;
        if user_id == principal.user.id {
            return Err(AuthError::CannotModifySelf);
        }
        self.users.set_suspended(&user_id.to_string(), suspended, by).await
    }

    /// # Errors
    /// `Forbidden` below moderator.
    pub async fn audit_log(
        &self,
        principal: &Principal,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, AuthError> {
        require(principal, Access::Read)?;
        Ok(self.audit.list(filter, page).await?)
    }
}
