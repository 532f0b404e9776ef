use sha2::{Digest, Sha256};
use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::users::User;

/// One signed-in device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl Session {
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_token: TokenHash,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// The SHA-256 of an opaque token, hex-encoded: what the database keeps instead of the token.
/// Tokens carry 256 random bits, so a fast hash is enough (no salt, no Argon2).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        let digest = Sha256::digest(token.as_bytes());
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn from_trusted(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// What happened to a presented refresh token, decided atomically by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was the session's live token: now dead, `next` is live, the session extended.
    Rotated { session: Session, user: Box<User> },
    /// It had been rotated already: the session is now revoked.
    Reused { session_id: Uuid, user_id: Uuid },
    /// Unknown, or its session is revoked or expired.
    Invalid,
}

/// The caller behind a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: User,
    pub session_id: Uuid,
}
