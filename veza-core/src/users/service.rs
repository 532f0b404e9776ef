//! Account administration: what `veza user …` and (later) the admin API do.

use uuid::Uuid;

use super::{DisplayName, Email, NewUser, Role, User, Username};
use crate::Ports;
use crate::audit::{Actor, AuditAction, AuditLog};
use crate::auth::service::could_name_an_account;
use crate::auth::{AuthError, HashParams, PasswordHasher, check_password_policy};

/// A new account as typed by a person or an operator.
#[derive(Debug, Clone)]
pub struct CreateUser {
    pub email: String,
    pub username: String,
    pub password: String,
    pub display_name: Option<String>,
    pub role: Role,
}

#[derive(Clone)]
pub struct UserService {
    ports: Ports,
    hasher: PasswordHasher,
    audit: AuditLog,
}

impl UserService {
    pub fn new(ports: Ports, params: HashParams, audit: AuditLog) -> Self {
        Self { ports, hasher: PasswordHasher::new(params), audit }
    }

    pub(crate) fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Validates every field (all errors at once), applies the password policy, hashes and
    /// inserts.
    ///
    /// # Errors
    /// `Invalid` with each bad field, `WeakPassword`, `EmailTaken`, `UsernameTaken`.
    pub async fn create(&self, cmd: CreateUser) -> Result<User, AuthError> {
        let mut errors = Vec::new();
        let email = Email::parse(&cmd.email).map_err(|e| errors.push(e)).ok();
        let username = Username::parse(&cmd.username).map_err(|e| errors.push(e)).ok();
        let display_name = match cmd.display_name.as_deref() {
            Some(raw) => DisplayName::parse(raw).map_err(|e| errors.push(e)).ok(),
            None => username.as_ref().map(|u| DisplayName::from_trusted(u.as_str().to_owned())),
        };
        let (Some(email), Some(username), Some(display_name)) = (email, username, display_name)
        else {
            return Err(AuthError::Invalid(errors));
        };
        if let Err(weak) = check_password_policy(&cmd.password, Some(&username), Some(&email)) {
            return Err(AuthError::WeakPassword(weak.message));
        }
        let password_hash =
            self.hasher.hash(&cmd.password).await.map_err(|err| {
                AuthError::Store(crate::store::StoreError::backend(err.to_string()))
            })?;
        let user = NewUser {
            id: self.ports.ids.new_id(),
            email,
            username,
            display_name,
            role: cmd.role,
            password_hash,
            created_at: self.ports.clock.now(),
        };
        Ok(self.ports.users.insert_user(&user).await?)
    }

    /// Finds an account by id, e-mail or username (the last two without case).
    ///
    /// # Errors
    /// `UserNotFound` if none matches.
    pub async fn find(&self, ident: &str) -> Result<User, AuthError> {
        let ident = ident.trim();
        let found = match Uuid::try_parse(ident) {
            Ok(id) => self.ports.users.user_by_id(id).await?,
            Err(_) if could_name_an_account(ident) => {
                self.ports.users.user_by_login(&ident.to_lowercase()).await?
            }
            Err(_) => None,
        };
        found.ok_or(AuthError::UserNotFound)
    }

    /// # Errors
    /// `UserNotFound` if no account matches `ident`.
    pub async fn set_role(&self, ident: &str, role: Role, by: &Actor) -> Result<User, AuthError> {
        let user = self.find(ident).await?;
        let now = self.ports.clock.now();
        let updated =
            self.ports.users.set_role(user.id, role, now).await?.ok_or(AuthError::UserNotFound)?;
        let change = format!("{} -> {}", user.role, updated.role);
        self.audit.record(by.event(AuditAction::RoleChanged).target(user.id).detail(change)).await;
        Ok(updated)
    }

    /// Suspends or reinstates an account. A suspended account cannot log in, and its access
    /// and refresh tokens stop working at once (checked on every request).
    ///
    /// # Errors
    /// `UserNotFound` if no account matches `ident`.
    pub async fn set_suspended(
        &self,
        ident: &str,
        suspended: bool,
        by: &Actor,
    ) -> Result<User, AuthError> {
        let user = self.find(ident).await?;
        let now = self.ports.clock.now();
        let at = suspended.then_some(user.suspended_at.unwrap_or(now));
        let updated = self
            .ports
            .users
            .set_suspended(user.id, at, now)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        let action = if suspended { AuditAction::Suspended } else { AuditAction::Unsuspended };
        self.audit.record(by.event(action).target(user.id)).await;
        Ok(updated)
    }
}
