//! Two-factor authentication as `AuthService` methods: setup, enable, the second step of
//! sign-in, disable. Codes are RFC 6238 TOTP (SHA-1, 6 digits, 30 s steps, one step of skew
//! either way, as authenticator apps expect) or recovery codes. Time comes from the core's
//! clock, never the system's, so tests can step it.
//!
//! Invariants: a TOTP time step is accepted once per account (the store keeps the last one
//! and refuses any step not above it, atomically); a recovery code is accepted once; wrong
//! codes count against a per-account window of the same size as wrong passwords
//! (`max_login_failures` per `login_window`), and a full window refuses even a right code.

use std::slice;
use time::OffsetDateTime;
use totp_rs::{Builder, Totp};
use uuid::Uuid;

use super::service::AuthService;
use super::{AuthError, ClientInfo, EnableOutcome, Principal, TokenHash, TokenPair, TotpSecret};
use crate::audit::{AuditAction, AuditEvent};
use crate::store::StoreError;
use crate::users::User;

/// The issuer authenticator apps show next to the account name.
const ISSUER: &str = "Veza";
/// How many recovery codes enabling hands out.
const RECOVERY_CODE_COUNT: usize = 10;
/// Digits and capitals without the look-alikes 0/O, 1/I/L: 31 symbols, so ten of them carry
/// about 49 bits, far beyond what a rate-limited guesser can reach.
const RECOVERY_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const RECOVERY_CODE_LEN: usize = 10;
/// Longer input is no code we issued; refused before any work.
const MAX_CODE_LEN: usize = 64;
const MAX_CHALLENGE_LEN: usize = 4096;
/// Passwords longer than this are refused without hashing, as at login.
const MAX_PASSWORD_CHARS: usize = 1024;

/// A pending secret, as the client shows it: base32 to type, or a URI for a QR code.
/// `Debug` hides both.
#[derive(Clone)]
pub struct TwoFactorSetup {
    pub secret: String,
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TwoFactorSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TwoFactorSetup(..)")
    }
}

/// Which kind of code a caller proved the second factor with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondFactor {
    Totp,
    RecoveryCode,
}

impl SecondFactor {
    fn label(self) -> &'static str {
        match self {
            SecondFactor::Totp => "second factor: TOTP",
            SecondFactor::RecoveryCode => "second factor: recovery code",
        }
    }
}

impl AuthService {
    /// Draws a new secret and keeps it pending (replacing a pending one) until `enable`.
    ///
    /// # Errors
    /// `TwoFactorAlreadyEnabled`.
    pub async fn setup_two_factor(
        &self,
        principal: &Principal,
    ) -> Result<TwoFactorSetup, AuthError> {
        let user = &principal.user;
        if user.two_factor_enabled {
            return Err(AuthError::TwoFactorAlreadyEnabled);
        }
        let secret = TotpSecret::from_bytes(totp_rs::Secret::generate().as_bytes().to_vec());
        let otpauth_uri = totp_for(user, &secret)?.to_url().map_err(internal)?;
        let now = self.ports.clock.now();
        if !self.ports.two_factor.set_pending_two_factor(user.id, &secret, now).await? {
            return Err(AuthError::TwoFactorAlreadyEnabled);
        }
        Ok(TwoFactorSetup { secret: secret.to_base32(), otpauth_uri })
    }

    /// Confirms the pending secret with a TOTP code from it and turns two-factor
    /// authentication on. Returns the recovery codes, in the clear this once.
    ///
    /// # Errors
    /// `TwoFactorAlreadyEnabled`, `TwoFactorSetupRequired`, `RateLimited`, `InvalidCode`.
    pub async fn enable_two_factor(
        &self,
        principal: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<String>, AuthError> {
        let user = &principal.user;
        if user.two_factor_enabled {
            return Err(AuthError::TwoFactorAlreadyEnabled);
        }
        let now = self.ports.clock.now();
        let key = failure_key(user.id);
        self.refuse_if_limited(slice::from_ref(&key), now).await?;
        let record = match self.ports.two_factor.two_factor(user.id).await? {
            Some(record) if record.enabled_at.is_none() => record,
            Some(_) => return Err(AuthError::TwoFactorAlreadyEnabled),
            None => return Err(AuthError::TwoFactorSetupRequired),
        };
        let Some(step) = totp_step(&totp_for(user, &record.secret)?, code, now) else {
            self.code_failed(user.id, Some(user.id), &key, now, client, "wrong code enabling")
                .await?;
            return Err(AuthError::InvalidCode);
        };
        let codes: Vec<String> = (0..RECOVERY_CODE_COUNT).map(|_| new_recovery_code()).collect();
        let hashes: Vec<TokenHash> = codes.iter().map(|code| recovery_hash(code)).collect();
        let outcome = self
            .ports
            .two_factor
            .enable_two_factor(user.id, &record.secret, step, &hashes, now)
            .await?;
        match outcome {
            EnableOutcome::Enabled => {}
            EnableOutcome::AlreadyEnabled => return Err(AuthError::TwoFactorAlreadyEnabled),
            EnableOutcome::NotPending => return Err(AuthError::TwoFactorSetupRequired),
        }
        self.ports.rate_limiter.clear(&key).await?;
        self.audit.record(Self::own_event(AuditAction::TwoFactorEnabled, user.id, client)).await;
        Ok(codes)
    }

    /// The second step of sign-in: a challenge token from `login` and a TOTP or recovery
    /// code. Signs in exactly like `login` does without two-factor authentication.
    ///
    /// # Errors
    /// `InvalidChallenge` (forged, expired, another audience, or the account's token version
    /// or two-factor state changed since), `Suspended`, `RateLimited`, `InvalidCode`.
    pub async fn verify_two_factor(
        &self,
        challenge_token: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(User, TokenPair), AuthError> {
        if challenge_token.len() > MAX_CHALLENGE_LEN {
            return Err(AuthError::InvalidChallenge);
        }
        let now = self.ports.clock.now();
        let claims = self.config.keys.verify_challenge(challenge_token, now)?;
        let user =
            self.ports.users.user_by_id(claims.sub).await?.ok_or(AuthError::InvalidChallenge)?;
        if user.token_version != claims.ver || !user.two_factor_enabled {
            return Err(AuthError::InvalidChallenge);
        }
        if user.is_suspended() {
            return Err(AuthError::Suspended);
        }
        let key = failure_key(user.id);
        self.refuse_if_limited(slice::from_ref(&key), now).await?;
        let Some(factor) = self.spend_code(&user, code, now).await? else {
            self.code_failed(user.id, None, &key, now, client, "wrong code signing in").await?;
            return Err(AuthError::InvalidCode);
        };
        self.ports.rate_limiter.clear(&key).await?;
        let tokens = self.start_session(&user, client).await?;
        if factor == SecondFactor::RecoveryCode {
            let used = Self::own_event(AuditAction::RecoveryCodeUsed, user.id, client);
            self.audit.record(used).await;
        }
        let login = Self::own_event(AuditAction::Login, user.id, client);
        self.audit.record(login.detail(factor.label())).await;
        Ok((user, tokens))
    }

    /// Turns two-factor authentication off; needs the password and a TOTP or recovery code.
    ///
    /// # Errors
    /// `TwoFactorNotEnabled`, `RateLimited`, `InvalidCredentials`, `InvalidCode`.
    pub async fn disable_two_factor(
        &self,
        principal: &Principal,
        password: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let user = &principal.user;
        if !user.two_factor_enabled {
            return Err(AuthError::TwoFactorNotEnabled);
        }
        let now = self.ports.clock.now();
        let key = failure_key(user.id);
        self.refuse_if_limited(slice::from_ref(&key), now).await?;
        let password_ok = !password.is_empty()
            && password.chars().count() <= MAX_PASSWORD_CHARS
            && self.users.hasher().verify(password, &user.password_hash).await;
        if !password_ok {
            let detail = "wrong password disabling";
            self.code_failed(user.id, Some(user.id), &key, now, client, detail).await?;
            return Err(AuthError::InvalidCredentials);
        }
        let Some(factor) = self.spend_code(user, code, now).await? else {
            self.code_failed(user.id, Some(user.id), &key, now, client, "wrong code disabling")
                .await?;
            return Err(AuthError::InvalidCode);
        };
        if !self.ports.two_factor.disable_two_factor(user.id, now).await? {
            return Err(AuthError::TwoFactorNotEnabled);
        }
        self.ports.rate_limiter.clear(&key).await?;
        if factor == SecondFactor::RecoveryCode {
            let used = Self::own_event(AuditAction::RecoveryCodeUsed, user.id, client);
            self.audit.record(used).await;
        }
        let disabled = Self::own_event(AuditAction::TwoFactorDisabled, user.id, client);
        self.audit.record(disabled.detail(factor.label())).await;
        Ok(())
    }

    /// Spends `code` if it is a TOTP code of a step not accepted before, or an unused
    /// recovery code; `None` otherwise.
    async fn spend_code(
        &self,
        user: &User,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SecondFactor>, AuthError> {
        let code = code.trim();
        if code.len() > MAX_CODE_LEN {
            return Ok(None);
        }
        let store = &self.ports.two_factor;
        let Some(record) = store.two_factor(user.id).await?.filter(|r| r.enabled_at.is_some())
        else {
            return Ok(None);
        };
        if let Some(step) = totp_step(&totp_for(user, &record.secret)?, code, now) {
            let fresh = store.accept_totp_step(user.id, step).await?;
            return Ok(fresh.then_some(SecondFactor::Totp));
        }
        match normalize_recovery_code(code) {
            Some(canonical) => {
                let hash = TokenHash::of(&canonical);
                let unused = store.use_recovery_code(user.id, &hash, now).await?;
                Ok(unused.then_some(SecondFactor::RecoveryCode))
            }
            None => Ok(None),
        }
    }

    /// Counts a failed attempt and logs it. `actor` is the signed-in caller, if any.
    async fn code_failed(
        &self,
        user_id: Uuid,
        actor: Option<Uuid>,
        key: &str,
        now: OffsetDateTime,
        client: &ClientInfo,
        detail: &str,
    ) -> Result<(), AuthError> {
        self.ports.rate_limiter.hit(key, now, self.config.login_window).await?;
        let mut event = AuditEvent::new(AuditAction::TwoFactorFailed).target(user_id);
        if let Some(actor) = actor {
            event = event.actor(actor);
        }
        self.audit.record(event.from_client(client).detail(detail)).await;
        Ok(())
    }
}

fn failure_key(user_id: Uuid) -> String {
    format!("two-factor-failures:user:{user_id}")
}

fn internal(err: impl std::fmt::Display) -> AuthError {
    AuthError::Store(StoreError::backend(err.to_string()))
}

fn totp_for(user: &User, secret: &TotpSecret) -> Result<Totp, AuthError> {
    Builder::new()
        .with_secret(secret.as_bytes().to_vec())
        .with_account_name(user.email.as_str())
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(internal)
}

/// The time step `code` belongs to, if it is valid at `now` (within one step either way).
fn totp_step(totp: &Totp, code: &str, now: OffsetDateTime) -> Option<i64> {
    let seconds = u64::try_from(now.unix_timestamp()).ok()?;
    totp.check(code.trim(), seconds).and_then(|step| i64::try_from(step).ok())
}

/// `ABCDE-FGHJK`: ten symbols of the alphabet, uniformly drawn, grouped for reading aloud.
fn new_recovery_code() -> String {
    // Rejection sampling: 248 = 8 × 31, so bytes below it map to symbols without bias.
    let mut symbols = Vec::with_capacity(RECOVERY_CODE_LEN);
    while symbols.len() < RECOVERY_CODE_LEN {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source works");
        symbols.extend(
            bytes
                .into_iter()
                .filter(|b| *b < 248)
                .map(|b| RECOVERY_ALPHABET[usize::from(b) % RECOVERY_ALPHABET.len()]),
        );
    }
    symbols.truncate(RECOVERY_CODE_LEN);
    let (head, tail) = symbols.split_at(RECOVERY_CODE_LEN / 2);
    format!("{}-{}", String::from_utf8_lossy(head), String::from_utf8_lossy(tail))
}

fn recovery_hash(code: &str) -> TokenHash {
    TokenHash::of(&normalize_recovery_code(code).expect("a code we generated is canonical"))
}

/// The canonical form of a recovery code as typed (any case, with or without the dash or
/// spaces), or `None` if it cannot be one.
fn normalize_recovery_code(input: &str) -> Option<String> {
    let code: String =
        input.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == RECOVERY_CODE_LEN && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
        .then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_grouped_canonical_and_distinct() {
        let codes: std::collections::HashSet<String> =
            (0..200).map(|_| new_recovery_code()).collect();
        assert_eq!(codes.len(), 200);
        for code in &codes {
            assert_eq!(code.len(), RECOVERY_CODE_LEN + 1, "{code}");
            assert_eq!(code.as_bytes()[5], b'-', "{code}");
            let canonical = normalize_recovery_code(code).expect("canonical");
            assert_eq!(canonical, code.replace('-', ""));
        }
    }

    #[test]
    fn recovery_codes_are_read_in_any_case_with_or_without_the_dash() {
        assert_eq!(normalize_recovery_code("abcde-fghjk").as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(normalize_recovery_code(" ABCDE FGHJK ").as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(normalize_recovery_code("ABCDEFGHJK").as_deref(), Some("ABCDEFGHJK"));
        for bad in ["", "123456", "ABCDE-FGHJ", "ABCDE-FGHJKM", "ABCDE-FGHJ0", "ABCDE-FGHJI"] {
            assert_eq!(normalize_recovery_code(bad), None, "{bad}");
        }
    }
}
