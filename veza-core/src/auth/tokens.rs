//! Access, chat and two-factor challenge JWTs (HS256 only) and opaque refresh tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::AuthError;
use crate::users::User;

pub const ACCESS_AUDIENCE: &str = "veza-api";
pub const CHAT_AUDIENCE: &str = "veza-chat";
/// Challenge tokens are signed with the access key; this audience (checked both ways) keeps
/// one from ever passing for the other.
pub const CHALLENGE_AUDIENCE: &str = "veza-2fa-challenge";
/// Refresh tokens start with this so secret scanners can recognise a leaked one.
const REFRESH_PREFIX: &str = "vzr_";

/// The claims of an access token, as API.md lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub role: String,
    pub ver: i64,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChatClaims {
    sub: Uuid,
    username: String,
    role: String,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// A password-verified sign-in waiting for its second factor: who, and at which token
/// version (logout-all kills pending challenges too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChallengeClaims {
    pub sub: Uuid,
    pub ver: i64,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatToken {
    pub token: String,
    pub expires_in: i64,
}

/// Signing keys and lifetimes. `Debug` never prints a key.
#[derive(Clone)]
pub struct TokenKeys {
    access_encoding: EncodingKey,
    access_decoding: DecodingKey,
    chat_encoding: EncodingKey,
    issuer: String,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// `chat_secret` defaults to a key derived from `jwt_secret` (HMAC-SHA256 with a fixed
    /// label), so a chat server holding it cannot forge API tokens.
    pub fn new(jwt_secret: &[u8], chat_secret: Option<&[u8]>, issuer: impl Into<String>) -> Self {
        let derived;
        let chat_secret = match chat_secret {
            Some(secret) => secret,
            None => {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(jwt_secret)
                    .expect("HMAC takes keys of any length");
                mac.update(b"veza chat token key v1");
                derived = mac.finalize().into_bytes();
                derived.as_slice()
            }
        };
        Self {
            access_encoding: EncodingKey::from_secret(jwt_secret),
            access_decoding: DecodingKey::from_secret(jwt_secret),
            chat_encoding: EncodingKey::from_secret(chat_secret),
            issuer: issuer.into(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub(crate) fn issue_access(
        &self,
        user: &User,
        session_id: Uuid,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let claims = AccessClaims {
            sub: user.id,
            sid: session_id,
            role: user.role.as_str().to_owned(),
            ver: user.token_version,
            iat: now.unix_timestamp(),
            exp: (now + ttl).unix_timestamp(),
            iss: self.issuer.clone(),
            aud: ACCESS_AUDIENCE.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.access_encoding)
            .map_err(|err| AuthError::Store(crate::store::StoreError::backend(err)))
    }

    /// Checks signature (HS256 only: `none` and every other algorithm fail), audience,
    /// issuer and expiry against `now` (the core's clock, so tests can move time).
    pub(crate) fn verify_access(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<AccessClaims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[ACCESS_AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.access_decoding, &validation)
            .map_err(|_| AuthError::InvalidToken)?;
        if data.claims.exp <= now.unix_timestamp() {
            return Err(AuthError::InvalidToken);
        }
        Ok(data.claims)
    }

    pub(crate) fn issue_challenge(
        &self,
        user: &User,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let claims = ChallengeClaims {
            sub: user.id,
            ver: user.token_version,
            iat: now.unix_timestamp(),
            exp: (now + ttl).unix_timestamp(),
            iss: self.issuer.clone(),
            aud: CHALLENGE_AUDIENCE.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.access_encoding)
            .map_err(|err| AuthError::Store(crate::store::StoreError::backend(err)))
    }

    /// As `verify_access`, for the challenge audience; every failure is `InvalidChallenge`.
    pub(crate) fn verify_challenge(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<ChallengeClaims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[CHALLENGE_AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_exp = false;
        let data =
            jsonwebtoken::decode::<ChallengeClaims>(token, &self.access_decoding, &validation)
                .map_err(|_| AuthError::InvalidChallenge)?;
        if data.claims.exp <= now.unix_timestamp() {
            return Err(AuthError::InvalidChallenge);
        }
        Ok(data.claims)
    }

    pub(crate) fn issue_chat(
        &self,
        user: &User,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<ChatToken, AuthError> {
        let claims = ChatClaims {
            sub: user.id,
            username: user.username.as_str().to_owned(),
            role: user.role.as_str().to_owned(),
            iat: now.unix_timestamp(),
            exp: (now + ttl).unix_timestamp(),
            iss: self.issuer.clone(),
            aud: CHAT_AUDIENCE.to_owned(),
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.chat_encoding)
                .map_err(|err| AuthError::Store(crate::store::StoreError::backend(err)))?;
        Ok(ChatToken { token, expires_in: ttl.whole_seconds() })
    }
}

/// 256 random bits, URL-safe, with the `vzr_` prefix.
pub(crate) fn new_refresh_token() -> String {
    format!("{REFRESH_PREFIX}{}", random_url_safe(32))
}

pub(crate) fn random_url_safe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source works");
    URL_SAFE_NO_PAD.encode(buf)
}
