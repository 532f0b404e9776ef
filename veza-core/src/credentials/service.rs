//! The credential flows. Every mail is queued with its token in one transaction and the
//! relay is woken; no request waits for a mail server.

use time::Duration;

use super::{NewUserToken, TokenPurpose, mails};
use crate::Ports;
use crate::audit::{AuditAction, AuditEvent, AuditLog};
use crate::auth::tokens::random_url_safe;
use crate::auth::{AuthError, ClientInfo, Principal, TokenHash, check_password_policy};
use crate::mail::{MailRelay, NewMail, OutgoingMail, RelayConfig};
use crate::users::{Email, User, UserService};

/// Tokens start with these so secret scanners can recognise a leaked one.
const RESET_PREFIX: &str = "vzp_";
const VERIFICATION_PREFIX: &str = "vze_";
/// No token we issue is longer; longer input is refused before any lookup.
const MAX_TOKEN_LEN: usize = 128;

/// Links and lifetimes of the mailed tokens, and the relay's schedule.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `VEZA_PUBLIC_URL`: links are this + `/reset-password?token=…` or
    /// `/verify-email?token=…`.
    pub public_url: String,
    /// API.md: a reset link works once, within 1 hour.
    pub password_reset_ttl: Duration,
    /// Long enough to survive a weekend away from the inbox.
    pub email_verification_ttl: Duration,
    /// Mails of one kind one account may be sent per hour; more requests send nothing
    /// (reset: still 202, so nobody learns why) or are refused (resend: 429).
    pub mails_per_hour: u32,
    pub relay: RelayConfig,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            password_reset_ttl: Duration::hours(1),
            email_verification_ttl: Duration::hours(48),
            mails_per_hour: 5,
            relay: RelayConfig::default(),
        }
    }
}

#[derive(Clone)]
pub struct CredentialService {
    ports: Ports,
    config: MailConfig,
    users: UserService,
    audit: AuditLog,
    relay: MailRelay,
    max_failures: u32,
    failure_window: Duration,
}

impl CredentialService {
    /// Wrong current passwords in a password change are limited like failed logins:
    /// `max_failures` per `failure_window` and account.
    pub fn new(
        ports: Ports,
        config: MailConfig,
        users: UserService,
        audit: AuditLog,
        relay: MailRelay,
        (max_failures, failure_window): (u32, Duration),
    ) -> Self {
        Self { ports, config, users, audit, relay, max_failures, failure_window }
    }

    pub fn config(&self) -> &MailConfig {
        &self.config
    }

    /// Sets a new password after checking the current one; every other session of the
    /// account is revoked, the caller's stays signed in.
    ///
    /// # Errors
    /// `InvalidCredentials` for a wrong current password, `RateLimited` after too many,
    /// `WeakPassword` if the new one fails the sign-up policy.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current_password: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let user = &principal.user;
        let now = self.ports.clock.now();
        let failures = format!("password-change-failures:{}", user.id);
        if let Some(window) = self.ports.rate_limiter.current(&failures, now).await?
            && window.count >= self.max_failures
        {
            let wait = (window.resets_at - now).whole_seconds().max(1);
            return Err(AuthError::RateLimited { retry_after_secs: wait.unsigned_abs() });
        }
        let plausible = current_password.chars().count() <= 1024;
        if !plausible || !self.users.hasher().verify(current_password, &user.password_hash).await {
            self.ports.rate_limiter.hit(&failures, now, self.failure_window).await?;
            return Err(AuthError::InvalidCredentials);
        }
        let password_hash = self.hash_new_password(user, new_password).await?;
        let now = self.ports.clock.now();
        self.ports
            .credentials
            .change_password(user.id, &password_hash, principal.session_id, now)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        self.ports.rate_limiter.clear(&failures).await?;
        let event = own_event(AuditAction::PasswordChanged, user, client);
        self.audit.record(event.detail("other sessions revoked")).await;
        Ok(())
    }

    /// Mails a reset link if `email` names an account. The answer is the same either way;
    /// nothing is mailed past `mails_per_hour`.
    ///
    /// # Errors
    /// `Invalid` if `email` is not an e-mail address (that says nothing about accounts).
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let email = Email::parse(email)?;
        let Some(user) = self.ports.users.user_by_login(email.as_str()).await? else {
            return Ok(());
        };
        if !self.within_mail_budget(TokenPurpose::PasswordReset, &user).await? {
            tracing::info!(user_id = %user.id, "password reset mail not sent: hourly limit");
            return Ok(());
        }
        self.mail_token(TokenPurpose::PasswordReset, &user).await?;
        let event = AuditEvent::new(AuditAction::PasswordResetRequested).target(user.id);
        self.audit.record(event.from_client(client)).await;
        Ok(())
    }

    /// Sets a new password with a mailed reset token. Every session of the account is
    /// revoked and every access token already issued rejected.
    ///
    /// # Errors
    /// `InvalidResetToken` if the token is unknown, used or expired; `WeakPassword` (the
    /// token stays usable).
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let hash = plausible_token(token).ok_or(AuthError::InvalidResetToken)?;
        let now = self.ports.clock.now();
        let user = self
            .ports
            .credentials
            .user_by_token(&hash, TokenPurpose::PasswordReset, now)
            .await?
            .ok_or(AuthError::InvalidResetToken)?;
        let password_hash = self.hash_new_password(&user, new_password).await?;
        let now = self.ports.clock.now();
        let user = self
            .ports
            .credentials
            .reset_password(&hash, &password_hash, now)
            .await?
            .ok_or(AuthError::InvalidResetToken)?;
        let event = AuditEvent::new(AuditAction::PasswordReset).target(user.id);
        self.audit.record(event.from_client(client).detail("all sessions revoked")).await;
        Ok(())
    }

    /// Queues the verification mail of a new account. A failure is logged, not returned:
    /// the account exists either way, and its holder can ask for the mail again.
    pub async fn send_verification_after_signup(&self, user: &User) {
        // Counted against the hour's budget, which a new account cannot have spent yet.
        let sent = async {
            self.within_mail_budget(TokenPurpose::EmailVerification, user).await?;
            self.mail_token(TokenPurpose::EmailVerification, user).await
        }
        .await;
        if let Err(err) = sent {
            tracing::error!(user_id = %user.id, error = %err, "verification mail not queued");
        }
    }

    /// Mails a new verification link to the caller.
    ///
    /// # Errors
    /// `EmailAlreadyVerified`; `RateLimited` past `mails_per_hour`.
    pub async fn resend_verification(&self, principal: &Principal) -> Result<(), AuthError> {
        let user = &principal.user;
        if user.email_verified {
            return Err(AuthError::EmailAlreadyVerified);
        }
        if !self.within_mail_budget(TokenPurpose::EmailVerification, user).await? {
            let now = self.ports.clock.now();
            let key = budget_key(TokenPurpose::EmailVerification, user);
            let resets_at = self.ports.rate_limiter.current(&key, now).await?.map(|w| w.resets_at);
            let wait = resets_at.map_or(1, |at| (at - now).whole_seconds().max(1));
            return Err(AuthError::RateLimited { retry_after_secs: wait.unsigned_abs() });
        }
        self.mail_token(TokenPurpose::EmailVerification, user).await
    }

    /// Marks the account's address verified with a mailed token.
    ///
    /// # Errors
    /// `InvalidVerificationToken` if the token is unknown, used, expired, or was mailed to
    /// an address the account no longer has.
    pub async fn verify_email(&self, token: &str, client: &ClientInfo) -> Result<(), AuthError> {
        let hash = plausible_token(token).ok_or(AuthError::InvalidVerificationToken)?;
        let now = self.ports.clock.now();
        let user = self
            .ports
            .credentials
            .verify_email(&hash, now)
            .await?
            .ok_or(AuthError::InvalidVerificationToken)?;
        let event = AuditEvent::new(AuditAction::EmailVerified).target(user.id);
        self.audit.record(event.from_client(client).detail(user.email.as_str())).await;
        Ok(())
    }

    async fn hash_new_password(&self, user: &User, password: &str) -> Result<String, AuthError> {
        check_password_policy(password, Some(&user.username), Some(&user.email))
            .map_err(|weak| AuthError::WeakPassword(weak.message))?;
        self.users
            .hasher()
            .hash(password)
            .await
            .map_err(|err| AuthError::Store(crate::store::StoreError::backend(err.to_string())))
    }

    /// Counts one mail of `purpose` to `user`; `false` once the hour's budget is spent.
    async fn within_mail_budget(
        &self,
        purpose: TokenPurpose,
        user: &User,
    ) -> Result<bool, AuthError> {
        let now = self.ports.clock.now();
        let key = budget_key(purpose, user);
        let window = self.ports.rate_limiter.hit(&key, now, Duration::hours(1)).await?;
        Ok(window.count <= self.config.mails_per_hour)
    }

    /// Creates a token of `purpose` for `user` and queues the mail carrying its link, in
    /// one transaction; then wakes the relay.
    async fn mail_token(&self, purpose: TokenPurpose, user: &User) -> Result<(), AuthError> {
        let (prefix, path, ttl) = match purpose {
            TokenPurpose::PasswordReset => {
                (RESET_PREFIX, "/reset-password", self.config.password_reset_ttl)
            }
            TokenPurpose::EmailVerification => {
                (VERIFICATION_PREFIX, "/verify-email", self.config.email_verification_ttl)
            }
        };
        let token = format!("{prefix}{}", random_url_safe(32));
        let link = format!("{}{path}?token={token}", self.config.public_url.trim_end_matches('/'));
        let mail: OutgoingMail = match purpose {
            TokenPurpose::PasswordReset => mails::password_reset(user, &link, ttl),
            TokenPurpose::EmailVerification => mails::email_verification(user, &link, ttl),
        };
        let now = self.ports.clock.now();
        let row = NewUserToken {
            hash: TokenHash::of(&token),
            user_id: user.id,
            purpose,
            email: user.email.clone(),
            created_at: now,
            expires_at: now + ttl,
        };
        let queued = NewMail { id: self.ports.ids.new_id(), mail, queued_at: now };
        self.ports.credentials.create_user_token(&row, &queued).await?;
        self.relay.wake();
        Ok(())
    }
}

fn budget_key(purpose: TokenPurpose, user: &User) -> String {
    format!("mail-budget:{}:{}", purpose.as_str(), user.id)
}

fn own_event<'a>(action: AuditAction, user: &User, client: &'a ClientInfo) -> AuditEvent<'a> {
    AuditEvent::new(action).actor(user.id).target(user.id).from_client(client)
}

/// The hash to look up, or `None` for input no issued token could be (empty, oversized),
/// which is refused without asking the database.
fn plausible_token(token: &str) -> Option<TokenHash> {
    let token = token.trim();
    (!token.is_empty() && token.len() <= MAX_TOKEN_LEN).then(|| TokenHash::of(token))
}
