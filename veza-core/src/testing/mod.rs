//! Contract suites: the behaviour every adapter of a port must show, run unchanged against
//! each of them (`account_store_contract!`, `two_factor_store_contract!`,
//! `profile_store_contract!`, `blob_store_contract!`, `job_store_contract!`,
//! `track_store_contract!`, `upload_store_contract!`, `mailer_contract!`, `rate_limiter_contract!`,
//! `virus_scanner_contract!`). Concurrency cases use real parallel tasks and assert exact
//! outcomes.

pub mod account_store;
pub mod blob_store;
pub mod credential_store;
pub mod job_store;
pub mod mailer;
pub mod mime;
pub mod profile_store;
pub mod rate_limiter;
pub mod track_store;
pub mod two_factor_store;
pub mod upload_store;
pub mod virus_scanner;

/// Expands the cases of `testing::$module` into one `#[tokio::test]` each, against the
/// adapter `$fresh()` returns. With `=> optional`, `$fresh()` returns an `Option` and each
/// case returns early on `None`: for backends whose server may be absent outside CI (their
/// `$fresh` says so, and fails under `CI=true`). Every port's `…_contract!` macro is this
/// with its list of cases.
#[doc(hidden)]
#[macro_export]
macro_rules! contract_suite {
    ($module:ident [$($case:ident),+ $(,)?] $fresh:path => optional) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(subject) = $fresh().await else { return };
                $crate::testing::$module::$case(subject).await
            }
        )+
    };
    ($module:ident [$($case:ident),+ $(,)?] $fresh:path) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::testing::$module::$case($fresh().await).await
            }
        )+
    };
}

use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::truncate_to_micros;
use crate::users::{DisplayName, Email, NewUser, Role, Username};

/// A valid new account whose names derive from `tag`.
pub fn new_user(tag: &str) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        email: Email::parse(&format!("{tag}@example.com")).expect("valid e-mail"),
        username: Username::parse(tag).expect("valid username"),
        display_name: DisplayName::parse(&format!("User {tag}")).expect("valid display name"),
        role: Role::Listener,
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".to_owned(),
        created_at: now(),
    }
}

pub fn now() -> OffsetDateTime {
    truncate_to_micros(OffsetDateTime::now_utc())
}

/// A unique tag usable as a username (3–30 chars).
pub fn unique_tag(prefix: &str) -> String {
    let id = Uuid::now_v7().simple().to_string();
    format!("{prefix}{}", &id[id.len() - 12..])
}
