//! Argon2id hashing and the password policy. Hashing is CPU- and memory-bound by design
//! (tens of milliseconds, 19 MiB), so it runs on dedicated worker threads, never on the
//! async threads.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex, mpsc};
use tokio::sync::{OnceCell, oneshot};

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

/// Stored hashes asking for more memory than this are refused rather than computed: no
/// row, however it got there, can make a login allocate gigabytes.
const MAX_VERIFY_MEMORY_KIB: u32 = 256 * 1024;

/// Argon2id on a fixed set of threads, each owning its working memory.
///
/// Why not `spawn_blocking` per call: every call then allocated and freed 19 MiB, glibc kept
/// the freed buffers, and `veza serve` grew from 11 MiB to 2.8–3.6 GiB RSS after 10 s of login
/// load (measured 2026-11-30, 2 cores). With one buffer per worker, memory stays at
/// workers × m and CPU spent on hashing is bounded; excess logins queue.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
    /// A hash of nothing, verified against when the account does not exist, so an unknown
    /// login costs the same time as a wrong password.
    decoy: Arc<OnceCell<String>>,
}

enum Job {
    Hash { password: String, reply: oneshot::Sender<Result<String, HashError>> },
    Verify { password: String, phc: String, reply: oneshot::Sender<bool> },
}

pub type HashError = argon2::password_hash::Error;

impl PasswordHasher {
    /// Starts one worker per CPU (at most 4).
    ///
    /// # Panics
    /// If `params` are outside Argon2's bounds (a programming error, not input), or the OS
    /// refuses to start a thread.
    pub fn new(params: HashParams) -> Self {
        let params = Params::new(params.memory_kib, params.iterations, 1, None)
            .expect("argon2 parameters within bounds");
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..workers {
            let queue = Arc::clone(&queue);
            let mut worker = Worker { params: params.clone(), memory: Vec::new() };
            std::thread::Builder::new()
                .name(format!("veza-argon2-{index}"))
                .spawn(move || worker.run(&queue))
                .expect("a password hashing thread starts");
        }
        Self { jobs, decoy: Arc::new(OnceCell::new()) }
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    ///
    /// # Errors
    /// Only if the operating system's random source fails.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Hash { password: password.to_owned(), reply };
        if self.jobs.send(job).is_err() {
            return Err(HashError::Crypto);
        }
        answer.await.unwrap_or(Err(HashError::Crypto))
    }

    /// `true` if `password` matches `phc`. A malformed stored hash counts as no match.
    pub async fn verify(&self, password: &str, phc: &str) -> bool {
        let (reply, answer) = oneshot::channel();
        let job = Job::Verify { password: password.to_owned(), phc: phc.to_owned(), reply };
        self.jobs.send(job).is_ok() && answer.await.unwrap_or(false)
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

struct Worker {
    params: Params,
    /// Argon2's working memory, grown once and reused by every job on this thread.
    memory: Vec<Block>,
}

impl Worker {
    /// Serves jobs until every `PasswordHasher` clone is dropped.
    fn run(&mut self, queue: &Mutex<mpsc::Receiver<Job>>) {
        loop {
            let job = {
                let queue = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                queue.recv()
            };
            match job {
                Ok(Job::Hash { password, reply }) => {
                    let _ = reply.send(self.hash(password.as_bytes()));
                }
                Ok(Job::Verify { password, phc, reply }) => {
                    let _ = reply.send(self.verify(password.as_bytes(), &phc));
                }
                Err(mpsc::RecvError) => return,
            }
        }
    }

    fn memory(&mut self, params: &Params) -> &mut [Block] {
        let blocks = params.block_count();
        if self.memory.len() < blocks {
            self.memory.resize(blocks, Block::default());
        }
        &mut self.memory[..blocks]
    }

    fn hash(&mut self, password: &[u8]) -> Result<String, HashError> {
        let salt = argon2::password_hash::try_generate_salt().map_err(|_| HashError::Crypto)?;
        let params = self.params.clone();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
        argon2.hash_password_into_with_memory(
            password,
            &salt,
            &mut output,
            self.memory(&params),
        )?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(Salt::new(&salt)?),
            hash: Some(Output::new(&output)?),
        };
        Ok(phc.to_string())
    }

    /// Recomputes with the stored hash's own algorithm, version and parameters, and compares
    /// in constant time (`Output`'s equality).
    fn verify(&mut self, password: &[u8], phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else { return false };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
        let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else { return false };
        let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else { return false };
        if params.m_cost() > MAX_VERIFY_MEMORY_KIB {
            return false;
        }
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let mut computed = vec![0u8; expected.len()];
        argon2
            .hash_password_into_with_memory(password, salt, &mut computed, self.memory(&params))
            .is_ok()
            && Output::new(&computed).is_ok_and(|computed| computed == *expected)
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

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crates_own_phc_strings() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(HashParams::FAST_FOR_TESTS);
        let ours = hasher.hash("correct horse battery staple").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default().verify_password(b"correct horse battery staple", &parsed).is_ok()
        );
        let params = Params::new(128, 1, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"another long passphrase")
            .unwrap()
            .to_string();
        assert!(hasher.verify("another long passphrase", &theirs).await, "other parameters verify");
        assert!(!hasher.verify("another long passphrasE", &theirs).await);
    }

    #[tokio::test]
    async fn a_stored_hash_demanding_huge_memory_is_refused_not_computed() {
        let hasher = PasswordHasher::new(HashParams::FAST_FOR_TESTS);
        let hash = hasher.hash("correct horse battery staple").await.unwrap();
        let greedy = hash.replace("m=64", "m=4000000");
        assert!(!hasher.verify("correct horse battery staple", &greedy).await);
    }
}
