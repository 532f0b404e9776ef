//! Argon2id hashing and the password policy. Hashing is CPU-bound (tens of milliseconds by
//! design), so it runs on the blocking pool, never on the async threads.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use tokio::sync::OnceCell;

use super::FieldError;
use crate::users::{Email, Username};

pub const MIN_PASSWORD_CHARS: usize = 12;
/// Long enough for any passphrase, short enough that hashing cannot be used to burn CPU.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Django's list of 20 000 common passwords (BSD licence), lower-cased.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common-passwords.txt").lines().map(str::trim).collect());

/// Rejects passwords that are short, common, or built from the account's own names.
///
/// # Errors
/// A `FieldError` on `password` saying which rule failed.
pub fn check_password_policy(
    password: &str,
    username: Option<&Username>,
    email: Option<&Email>,
) -> Result<(), FieldError> {
    let weak = |msg: &str| Err(FieldError::new("password", msg));
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return weak("must be at least 12 characters");
    }
    if chars > MAX_PASSWORD_CHARS {
        return weak("must be at most 256 characters");
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS.contains(lowered.as_str()) {
        return weak("is too common");
    }
    let own_names = [username.map(Username::key), email.map(|e| e.local_part().to_owned())];
    if own_names.iter().flatten().any(|name| name.len() >= 3 && lowered.contains(name.as_str())) {
        return weak("must not contain your username or e-mail");
    }
    if let Some(email) = email
        && lowered.contains(email.as_str())
    {
        return weak("must not contain your username or e-mail");
    }
    Ok(())
}

/// Argon2id cost parameters. `OWASP` for deployments; `FAST_FOR_TESTS` only in test suites
/// (same algorithm, a fraction of the memory, so debug builds stay quick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl HashParams {
    /// OWASP's first recommended set: m = 19 MiB, t = 2, p = 1.
    pub const OWASP: Self = Self { memory_kib: 19 * 1024, iterations: 2 };
    pub const FAST_FOR_TESTS: Self = Self { memory_kib: 64, iterations: 1 };
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of nothing, verified against when the account does not exist, so an unknown
    /// login costs the same time as a wrong password.
    decoy: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    /// # Panics
    /// If `params` are outside Argon2's bounds (a programming error, not input).
    pub fn new(params: HashParams) -> Self {
        let params = Params::new(params.memory_kib, params.iterations, 1, None)
            .expect("argon2 parameters within bounds");
        Self { params, decoy: Arc::new(OnceCell::new()) }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    ///
    /// # Errors
    /// Only if the operating system's random source fails.
    pub async fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let argon2 = self.argon2();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            argon2.hash_password(password.as_bytes()).map(|hash| hash.to_string())
        })
        .await
        .unwrap_or(Err(argon2::password_hash::Error::Crypto))
    }

    /// `true` if `password` matches `phc`. A malformed stored hash counts as no match.
    pub async fn verify(&self, password: &str, phc: &str) -> bool {
        let argon2 = self.argon2();
        let password = password.to_owned();
        let phc = phc.to_owned();
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .is_ok_and(|parsed| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .unwrap_or(false)
    }

    /// Spends the time of one verification, for a login whose account does not exist.
    pub async fn verify_decoy(&self, password: &str) {
        let decoy = self
            .decoy
            .get_or_init(|| async {
                self.hash("decoy password for unknown accounts").await.unwrap_or_default()
            })
            .await;
        let _ = self.verify(password, decoy).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_short_common_and_personal_passwords() {
        let user = Username::parse("ana_beat").unwrap();
        let email = Email::parse("ana.k@example.com").unwrap();
        let check = |pw: &str| check_password_policy(pw, Some(&user), Some(&email));
        assert!(check("short").is_err());
        assert!(check("Qwerty123456").is_err(), "common password accepted");
        assert!(check("my-ana_beat-pass").is_err());
        assert!(check("ANA.K-super-secret").is_err());
        assert!(check(&"x".repeat(257)).is_err());
        assert!(check("correct horse battery staple").is_ok());
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = PasswordHasher::new(HashParams::FAST_FOR_TESTS);
        let hash = hasher.hash("correct horse battery staple").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"));
        assert!(hasher.verify("correct horse battery staple", &hash).await);
        assert!(!hasher.verify("correct horse battery stapler", &hash).await);
        assert!(!hasher.verify("anything", "not a phc string").await);
    }
}
