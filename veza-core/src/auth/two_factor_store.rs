//! The storage port of two-factor authentication: one TOTP secret per account (pending until
//! a first code confirms it), the last TOTP time step accepted, and single-use recovery codes
//! kept as SHA-256 hashes. Every method is one atomic decision, so a code can be spent once
//! however many requests race with it.

use async_trait::async_trait;
use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

use super::TokenHash;
use crate::store::StoreError;

/// The shared secret of an authenticator app. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding: what authenticator apps are given and stores keep.
    pub fn to_base32(&self) -> String {
        totp_rs::Secret::from(self.0.clone()).to_base32()
    }

    /// # Errors
    /// If `text` is not base32.
    pub fn from_base32(text: &str) -> Result<Self, StoreError> {
        totp_rs::Secret::try_from_base32(text)
            .map(|secret| Self(secret.as_bytes().to_vec()))
            .map_err(|_| StoreError::backend("a stored TOTP secret is not base32"))
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// An account's two-factor state as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactorRecord {
    pub user_id: Uuid,
    pub secret: TotpSecret,
    /// `None` while pending: set up, not yet confirmed with a code.
    pub enabled_at: Option<OffsetDateTime>,
    /// The last TOTP time step accepted; codes of this step or an earlier one are refused.
    pub last_step: Option<i64>,
}

/// What `enable_two_factor` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnableOutcome {
    Enabled,
    /// Two-factor authentication was already on; nothing changed.
    AlreadyEnabled,
    /// No pending secret, or a newer setup replaced the one the code was checked against.
    NotPending,
}

#[async_trait]
pub trait TwoFactorStore: Send + Sync {
    /// The account's two-factor record, pending or enabled, if any.
    async fn two_factor(&self, user_id: Uuid) -> Result<Option<TwoFactorRecord>, StoreError>;

    /// Makes `secret` the account's pending secret, replacing a pending one.
    /// Returns `false`, and writes nothing, if two-factor authentication is already enabled.
    async fn set_pending_two_factor(
        &self,
        user_id: Uuid,
        secret: &TotpSecret,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// In one transaction, if `secret` is still the account's pending secret: enables it,
    /// sets `users.two_factor_enabled`, records `step` (the step of the confirming code) as
    /// the last accepted one, and replaces the account's recovery codes by `recovery_codes`.
    async fn enable_two_factor(
        &self,
        user_id: Uuid,
        secret: &TotpSecret,
        step: i64,
        recovery_codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<EnableOutcome, StoreError>;

    /// Records `step` as accepted if two-factor authentication is enabled and `step` is
    /// above the last accepted step; else `false`. Calls racing with one step: exactly one
    /// gets `true`.
    async fn accept_totp_step(&self, user_id: Uuid, step: i64) -> Result<bool, StoreError>;

    /// Marks the account's unused recovery code `code` used; `false` if it is unknown,
    /// already used or another account's. Calls racing with one code: exactly one gets `true`.
    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// In one transaction: forgets the secret and the recovery codes and clears
    /// `users.two_factor_enabled`. `false` if it was not enabled (a pending secret is
    /// forgotten all the same).
    async fn disable_two_factor(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}
