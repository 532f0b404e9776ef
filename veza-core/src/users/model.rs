use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::FieldError;

/// What an account may do. A new account is a `listener`; selling needs `creator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Listener,
    Creator,
    Moderator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Listener, Role::Creator, Role::Moderator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Listener => "listener",
            Role::Creator => "creator",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            FieldError::new("role", "must be one of listener, creator, moderator, admin")
        })
    }
}

/// An account as stored. `password_hash` never leaves the core: wire types copy the rest.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: Email,
    pub username: Username,
    pub display_name: DisplayName,
    pub role: Role,
    pub password_hash: String,
    pub email_verified: bool,
    pub two_factor_enabled: bool,
    /// Bumped by logout-all: every access token carrying an older value is rejected.
    pub token_version: i64,
    pub suspended_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("token_version", &self.token_version)
            .field("suspended_at", &self.suspended_at)
            .finish_non_exhaustive()
    }
}

impl User {
    pub fn is_suspended(&self) -> bool {
        self.suspended_at.is_some()
    }
}

/// A validated account about to be inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub id: Uuid,
    pub email: Email,
    pub username: Username,
    pub display_name: DisplayName,
    pub role: Role,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
}

/// Lower-cased, trimmed address: one `@`, a dotted domain, at most 254 bytes (RFC 5321).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// A `FieldError` on `email` saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_lowercase();
        let err = |msg: &str| Err(FieldError::new("email", msg));
        if value.is_empty() {
            return err("is required");
        }
        if value.len() > 254 {
            return err("must be at most 254 characters");
        }
        let Some((local, domain)) = value.split_once('@') else {
            return err("must be an e-mail address");
        };
        let bad_char =
            |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c);
        if local.is_empty()
            || local.len() > 64
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || local.chars().any(bad_char)
            || domain.chars().any(bad_char)
        {
            return err("must be an e-mail address");
        }
        Ok(Self(value))
    }

    /// For values read back from storage, which were validated on the way in.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or(&self.0, |(local, _)| local)
    }
}

/// 3–30 characters of ASCII letters, digits, `_`, `-`, `.`, starting with a letter or digit.
/// Case is kept for display; uniqueness ignores it (`key()`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 30;

    /// # Errors
    /// A `FieldError` on `username` saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        let err = |msg: String| Err(FieldError::new("username", msg));
        if value.is_empty() {
            return err("is required".into());
        }
        let len = value.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&len) {
            return err(format!("must be {} to {} characters", Self::MIN, Self::MAX));
        }
        if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            return err("may only contain letters, digits, '_', '-' and '.'".into());
        }
        if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return err("must start with a letter or a digit".into());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form the uniqueness rule and log-in by username compare.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// 1–100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX: usize = 100;

    /// # Errors
    /// A `FieldError` on `display_name` saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        let err = |msg: String| Err(FieldError::new("display_name", msg));
        if value.is_empty() {
            return err("must not be empty".into());
        }
        if value.chars().count() > Self::MAX {
            return err(format!("must be at most {} characters", Self::MAX));
        }
        if value.chars().any(char::is_control) {
            return err("must not contain control characters".into());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_junk_is_refused() {
        assert_eq!(Email::parse("  Ana@Example.COM ").unwrap().as_str(), "ana@example.com");
        for bad in
            ["", "ana", "ana@", "@example.com", "ana@example", "a b@example.com", "ana@ex..com"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn usernames_follow_the_documented_alphabet() {
        assert_eq!(Username::parse("Ana_B-2.0").unwrap().key(), "ana_b-2.0");
        for bad in ["", "ab", "a'; DROP TABLE users;--", "ana b", "_ana", "ünï", &"x".repeat(31)]
        {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ana  ").unwrap().as_str(), "Ana");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse(&"é".repeat(101)).is_err());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
