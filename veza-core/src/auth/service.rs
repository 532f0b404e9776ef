use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::tokens::{new_refresh_token, random_url_safe};
use super::{
    AuthError, ChatToken, FieldError, HashParams, NewSession, Principal, Rotation, Session,
    TokenHash, TokenKeys,
};
use crate::Ports;
use crate::audit::{AuditAction, AuditEvent, AuditLog};
use crate::credentials::{CredentialService, MailConfig};
use crate::pagination::{Page, PageRequest};
use crate::users::{CreateUser, Role, User, UserService};

/// Lifetimes and limits of the auth domain. `Debug` hides the keys.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub keys: TokenKeys,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub chat_ttl: Duration,
    /// Lifetime of the challenge token between password and second factor.
    pub challenge_ttl: Duration,
    pub max_login_failures: u32,
    pub login_window: Duration,
    pub hash_params: HashParams,
    /// Links and lifetimes of mailed tokens, and the mail relay's schedule.
    pub mail: MailConfig,
}

impl AuthConfig {
    /// API.md's defaults: 15 min access tokens, 5 min chat and 2FA challenge tokens, 10
    /// failures per 15 min (passwords and 2FA codes alike).
    pub fn new(keys: TokenKeys) -> Self {
        Self {
            keys,
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            chat_ttl: Duration::minutes(5),
            challenge_ttl: Duration::minutes(5),
            max_login_failures: 10,
            login_window: Duration::minutes(15),
            hash_params: HashParams::OWASP,
            mail: MailConfig::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Register {
    pub email: String,
    pub username: String,
    pub password: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Login {
    /// E-mail or username.
    pub login: String,
    pub password: String,
}

/// Where a request came from, kept on the session it creates.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// What a successful sign-in hands the client. `Debug` hides the tokens.
#[derive(Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub session_id: Uuid,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair").field("session_id", &self.session_id).finish_non_exhaustive()
    }
}

#[derive(Clone)]
#[expect(clippy::large_enum_variant, reason = "one short-lived value per sign-in")]
pub enum LoginOutcome {
    SignedIn {
        user: User,
        tokens: TokenPair,
    },
    /// The password was right and the account has two-factor authentication on: no session
    /// yet, only a token to present with a code to `AuthService::verify_two_factor`.
    TwoFactorRequired {
        challenge_token: String,
    },
}

impl std::fmt::Debug for LoginOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginOutcome::SignedIn { user, tokens } => {
                f.debug_struct("SignedIn").field("user", user).field("tokens", tokens).finish()
            }
            LoginOutcome::TwoFactorRequired { .. } => {
                f.debug_struct("TwoFactorRequired").finish_non_exhaustive()
            }
        }
    }
}

/// User agents longer than this are cut: it is a label, not data.
const MAX_USER_AGENT_CHARS: usize = 512;
/// No refresh token we issue is longer; longer input is refused before any lookup.
const MAX_REFRESH_TOKEN_LEN: usize = 128;

#[derive(Clone)]
pub struct AuthService {
    pub(super) ports: Ports,
    pub(super) config: AuthConfig,
    pub(super) users: UserService,
    pub(super) audit: AuditLog,
    pub(super) credentials: CredentialService,
}

impl AuthService {
    /// `users` brings the password hasher the service shares with account administration;
    /// `credentials` mails the verification link of a new account.
    pub fn new(
        ports: Ports,
        config: AuthConfig,
        users: UserService,
        audit: AuditLog,
        credentials: CredentialService,
    ) -> Self {
        Self { ports, config, users, audit, credentials }
    }

    /// An event by the signed-in caller about their own account.
    pub(super) fn own_event<'a>(
        action: AuditAction,
        user_id: Uuid,
        client: &'a ClientInfo,
    ) -> AuditEvent<'a> {
        AuditEvent::new(action).actor(user_id).target(user_id).from_client(client)
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Creates a `listener` account, signs it in and queues its verification mail.
    ///
    /// # Errors
    /// `Invalid`, `WeakPassword`, `EmailTaken`, `UsernameTaken`.
    pub async fn register(
        &self,
        cmd: Register,
        client: &ClientInfo,
    ) -> Result<(User, TokenPair), AuthError> {
        let user = self
            .users
            .create(CreateUser {
                email: cmd.email,
                username: cmd.username,
                password: cmd.password,
                display_name: cmd.display_name,
                role: Role::Listener,
            })
            .await?;
        let tokens = self.start_session(&user, client).await?;
        self.audit.record(Self::own_event(AuditAction::Registered, user.id, client)).await;
        self.credentials.send_verification_after_signup(&user).await;
        Ok((user, tokens))
    }

    /// Signs in by e-mail or username. Unknown account and wrong password take the same time
    /// and give the same error; after `max_login_failures` failures in `login_window`, per
    /// account or per IP, every attempt is refused until the window ends.
    ///
    /// With two-factor authentication on, the right password answers `TwoFactorRequired`
    /// and starts no session.
    ///
    /// # Errors
    /// `Invalid` for empty fields, `RateLimited`, `InvalidCredentials`, `Suspended` (only once
    /// the password was right).
    pub async fn login(&self, cmd: Login, client: &ClientInfo) -> Result<LoginOutcome, AuthError> {
        let login = cmd.login.trim().to_lowercase();
        let mut errors = Vec::new();
        if login.is_empty() {
            errors.push(FieldError::new("login", "is required"));
        }
        if cmd.password.is_empty() {
            errors.push(FieldError::new("password", "is required"));
        }
        if !errors.is_empty() {
            return Err(AuthError::Invalid(errors));
        }
        let now = self.ports.clock.now();
        let keys = failure_keys(&login, client.ip);
        self.refuse_if_limited(&keys, now).await?;

        let user = if could_name_an_account(&login) && cmd.password.chars().count() <= 1024 {
            self.ports.users.user_by_login(&login).await?
        } else {
            None
        };
        let verified = match &user {
            Some(user) => self.users.hasher().verify(&cmd.password, &user.password_hash).await,
            None => {
                self.users.hasher().verify_decoy(&cmd.password).await;
                false
            }
        };
        let user = match user {
            Some(user) if verified => user,
            known => {
                for key in &keys {
                    self.ports.rate_limiter.hit(key, now, self.config.login_window).await?;
                }
                // The attempted login is not kept: people type passwords into that field.
                let failed = AuditEvent::new(AuditAction::LoginFailed).from_client(client);
                let failed = match known {
                    Some(user) => failed.target(user.id).detail("wrong password"),
                    None => failed.detail("unknown account"),
                };
                self.audit.record(failed).await;
                return Err(AuthError::InvalidCredentials);
            }
        };
        if user.is_suspended() {
            let refused = AuditEvent::new(AuditAction::LoginFailed).target(user.id);
            self.audit.record(refused.from_client(client).detail("account suspended")).await;
            return Err(AuthError::Suspended);
        }
        self.ports.rate_limiter.clear(&keys[0]).await?;
        if user.two_factor_enabled {
            let challenge_token =
                self.config.keys.issue_challenge(&user, now, self.config.challenge_ttl)?;
            return Ok(LoginOutcome::TwoFactorRequired { challenge_token });
        }
        let tokens = self.start_session(&user, client).await?;
        self.audit.record(Self::own_event(AuditAction::Login, user.id, client)).await;
        Ok(LoginOutcome::SignedIn { user, tokens })
    }

    pub(super) async fn refuse_if_limited(
        &self,
        keys: &[String],
        now: OffsetDateTime,
    ) -> Result<(), AuthError> {
        for key in keys {
            if let Some(window) = self.ports.rate_limiter.current(key, now).await?
                && window.count >= self.config.max_login_failures
            {
                let wait = (window.resets_at - now).whole_seconds().max(1);
                return Err(AuthError::RateLimited { retry_after_secs: wait as u64 });
            }
        }
        Ok(())
    }

    pub(super) async fn start_session(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let now = self.ports.clock.now();
        let refresh_token = new_refresh_token();
        let session = self
            .ports
            .sessions
            .create_session(&NewSession {
                id: self.ports.ids.new_id(),
                user_id: user.id,
                refresh_token: TokenHash::of(&refresh_token),
                created_at: now,
                expires_at: now + self.config.refresh_ttl,
                user_agent: client
                    .user_agent
                    .as_deref()
                    .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
                ip: client.ip.map(|ip| ip.to_string()),
            })
            .await?;
        self.token_pair(user, session.id, refresh_token, now)
    }

    fn token_pair(
        &self,
        user: &User,
        session_id: Uuid,
        refresh_token: String,
        now: OffsetDateTime,
    ) -> Result<TokenPair, AuthError> {
        let access_token =
            self.config.keys.issue_access(user, session_id, now, self.config.access_ttl)?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in: self.config.access_ttl.whole_seconds(),
            session_id,
        })
    }

    /// Trades a live refresh token for a new pair; the presented one dies.
    ///
    /// # Errors
    /// `RefreshTokenReused` (and the session is revoked) if it had been used before;
    /// `InvalidRefreshToken` if unknown, expired, revoked, or the account is suspended.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client: &ClientInfo,
    ) -> Result<(User, TokenPair), AuthError> {
        if refresh_token.is_empty() || refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
            return Err(AuthError::InvalidRefreshToken);
        }
        let now = self.ports.clock.now();
        let next = new_refresh_token();
        let rotation = self
            .ports
            .sessions
            .rotate_refresh_token(
                &TokenHash::of(refresh_token),
                &TokenHash::of(&next),
                now,
                now + self.config.refresh_ttl,
            )
            .await?;
        match rotation {
            Rotation::Rotated { session, user } if !user.is_suspended() => {
                let tokens = self.token_pair(&user, session.id, next, now)?;
                Ok((*user, tokens))
            }
            Rotation::Rotated { .. } | Rotation::Invalid => Err(AuthError::InvalidRefreshToken),
            Rotation::Reused { session_id, user_id } => {
                tracing::warn!(%session_id, "refresh token reused; session revoked");
                let event = AuditEvent::new(AuditAction::RefreshTokenReused).target(user_id);
                let detail = format!("session {session_id} revoked");
                self.audit.record(event.from_client(client).detail(detail)).await;
                Err(AuthError::RefreshTokenReused)
            }
        }
    }

    /// Resolves a bearer token to its caller: signature, claims, session alive, account not
    /// suspended, token version current.
    ///
    /// # Errors
    /// `InvalidToken` for any failure, whichever check it was.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthError> {
        let now = self.ports.clock.now();
        let claims = self.config.keys.verify_access(access_token, now)?;
        let (session, user) = self
            .ports
            .sessions
            .session_with_user(claims.sid)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if session.user_id != claims.sub
            || !session.is_active(now)
            || user.is_suspended()
            || user.token_version != claims.ver
        {
            return Err(AuthError::InvalidToken);
        }
        Ok(Principal { user, session_id: session.id })
    }

    /// Ends the caller's current session: its refresh token stops working, and so do the
    /// access tokens issued for it.
    ///
    /// # Errors
    /// Only storage failures.
    pub async fn logout(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.ports.clock.now();
        self.ports.sessions.revoke_session(principal.user.id, principal.session_id, now).await?;
        self.audit.record(Self::own_event(AuditAction::Logout, principal.user.id, client)).await;
        Ok(())
    }

    /// Ends every session of the caller and invalidates every access token already issued.
    ///
    /// # Errors
    /// Only storage failures.
    pub async fn logout_all(
        &self,
        principal: &Principal,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.ports.clock.now();
        self.ports.sessions.revoke_all_sessions(principal.user.id, now).await?;
        self.audit.record(Self::own_event(AuditAction::LogoutAll, principal.user.id, client)).await;
        Ok(())
    }

    /// The caller's active sessions, newest first.
    ///
    /// # Errors
    /// Only storage failures.
    pub async fn sessions(
        &self,
        principal: &Principal,
        page: PageRequest,
    ) -> Result<Page<Session>, AuthError> {
        let now = self.ports.clock.now();
        let rows = self.ports.sessions.list_sessions(principal.user.id, now, page).await?;
        Ok(Page::from_rows(rows, page, |s| s.id))
    }

    /// # Errors
    /// `SessionNotFound` if the session is not the caller's or already revoked.
    pub async fn revoke_session(
        &self,
        principal: &Principal,
        session_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.ports.clock.now();
        if !self.ports.sessions.revoke_session(principal.user.id, session_id, now).await? {
            return Err(AuthError::SessionNotFound);
        }
        let event = Self::own_event(AuditAction::SessionRevoked, principal.user.id, client);
        self.audit.record(event.detail(format!("session {session_id}"))).await;
        Ok(())
    }

    /// A short-lived token the chat server accepts (`aud: veza-chat`).
    ///
    /// # Errors
    /// Only if signing fails.
    pub fn chat_token(&self, principal: &Principal) -> Result<ChatToken, AuthError> {
        let now = self.ports.clock.now();
        self.config.keys.issue_chat(&principal.user, now, self.config.chat_ttl)
    }

    /// A random secret for operators who did not configure one (JWT key, internal token).
    pub fn generate_secret() -> String {
        random_url_safe(32)
    }
}

/// Whether `login` could be an e-mail or username at all. Anything else (too long, control
/// characters such as NUL, which PostgreSQL refuses in text) matches no account without asking
/// the database.
pub(crate) fn could_name_an_account(login: &str) -> bool {
    !login.is_empty() && login.len() <= 254 && !login.chars().any(char::is_control)
}

/// The account key first: a successful login clears it, never the IP's.
fn failure_keys(login: &str, ip: Option<IpAddr>) -> Vec<String> {
    let mut keys = vec![format!("login-failures:account:{login}")];
    if let Some(ip) = ip {
        keys.push(format!("login-failures:ip:{ip}"));
    }
    keys
}
