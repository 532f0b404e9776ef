//! The two-factor storage contract: pending and enabled secrets, the last accepted TOTP step,
//! single-use recovery codes, and the `users.two_factor_enabled` flag kept in step with them.

use std::sync::Arc;
use time::Duration;

use super::{new_user, now, unique_tag};
use crate::auth::{EnableOutcome, TokenHash, TotpSecret};
use crate::store::AccountStore;
use crate::users::User;

/// Instantiates every case below as a `#[tokio::test]`, with the same `$fresh` (and the same
/// `=> optional` form) as `account_store_contract!`.
#[macro_export]
macro_rules! two_factor_store_contract {
    ($($fresh:tt)+) => {
        $crate::contract_suite!(two_factor_store [
            a_pending_secret_is_replaced_by_a_new_setup_until_enabled,
            enabling_needs_the_current_pending_secret_and_sets_the_user_flag,
            a_totp_step_is_accepted_once_and_never_one_below_the_last,
            racing_uses_of_one_totp_step_accept_exactly_one,
            a_recovery_code_works_once_and_only_for_its_account,
            racing_uses_of_one_recovery_code_accept_exactly_one,
            enabling_again_after_disabling_replaces_the_recovery_codes,
            disabling_forgets_the_secret_and_codes_and_clears_the_flag,
        ] $($fresh)+);
    };
}

async fn insert(store: &Arc<dyn AccountStore>, tag: &str) -> User {
    store.insert_user(&new_user(tag)).await.expect("insert user")
}

fn secret(seed: u8) -> TotpSecret {
    TotpSecret::from_bytes(vec![seed; 20])
}

fn codes(prefix: &str) -> Vec<TokenHash> {
    (0..10).map(|i| TokenHash::of(&format!("{prefix}-{i}"))).collect()
}

/// A user with two-factor enabled on `secret(1)`, last step 100, codes `codes("rc")`.
async fn enabled_user(store: &Arc<dyn AccountStore>, tag: &str) -> User {
    let user = insert(store, &unique_tag(tag)).await;
    assert!(store.set_pending_two_factor(user.id, &secret(1), now()).await.unwrap());
    let outcome =
        store.enable_two_factor(user.id, &secret(1), 100, &codes("rc"), now()).await.unwrap();
    assert_eq!(outcome, EnableOutcome::Enabled);
    user
}

pub async fn a_pending_secret_is_replaced_by_a_new_setup_until_enabled(
    store: Arc<dyn AccountStore>,
) {
    let user = insert(&store, &unique_tag("pend")).await;
    assert_eq!(store.two_factor(user.id).await.unwrap(), None);
    assert!(store.set_pending_two_factor(user.id, &secret(1), now()).await.unwrap());
    assert!(store.set_pending_two_factor(user.id, &secret(2), now()).await.unwrap());
    let record = store.two_factor(user.id).await.unwrap().expect("pending record");
    assert_eq!(record.user_id, user.id);
    assert_eq!(record.secret, secret(2), "the newer setup wins");
    assert_eq!(record.enabled_at, None);
    assert_eq!(record.last_step, None);
    assert!(!store.user_by_id(user.id).await.unwrap().unwrap().two_factor_enabled);
    assert!(!store.accept_totp_step(user.id, 5).await.unwrap(), "a pending secret accepts no code");

    let at = now();
    let outcome = store.enable_two_factor(user.id, &secret(2), 7, &codes("p"), at).await.unwrap();
    assert_eq!(outcome, EnableOutcome::Enabled);
    assert!(
        !store.set_pending_two_factor(user.id, &secret(3), now()).await.unwrap(),
        "no setup while enabled"
    );
    let record = store.two_factor(user.id).await.unwrap().unwrap();
    assert_eq!(record.secret, secret(2), "the enabled secret is untouched");
    assert_eq!(record.enabled_at, Some(at));
    assert_eq!(record.last_step, Some(7));
}

pub async fn enabling_needs_the_current_pending_secret_and_sets_the_user_flag(
    store: Arc<dyn AccountStore>,
) {
    let user = insert(&store, &unique_tag("enab")).await;
    let none = store.enable_two_factor(user.id, &secret(1), 1, &codes("a"), now()).await;
    assert_eq!(none.unwrap(), EnableOutcome::NotPending, "nothing set up");
    store.set_pending_two_factor(user.id, &secret(1), now()).await.unwrap();
    store.set_pending_two_factor(user.id, &secret(2), now()).await.unwrap();
    let stale = store.enable_two_factor(user.id, &secret(1), 1, &codes("a"), now()).await;
    assert_eq!(stale.unwrap(), EnableOutcome::NotPending, "a replaced secret cannot be enabled");
    assert!(!store.user_by_id(user.id).await.unwrap().unwrap().two_factor_enabled);
    assert!(!store.use_recovery_code(user.id, &TokenHash::of("a-0"), now()).await.unwrap());

    let later = now() + Duration::seconds(3);
    let done = store.enable_two_factor(user.id, &secret(2), 1, &codes("a"), later).await;
    assert_eq!(done.unwrap(), EnableOutcome::Enabled);
    let user_now = store.user_by_id(user.id).await.unwrap().unwrap();
    assert!(user_now.two_factor_enabled);
    assert_eq!(user_now.updated_at, later);
    let again = store.enable_two_factor(user.id, &secret(2), 2, &codes("b"), now()).await;
    assert_eq!(again.unwrap(), EnableOutcome::AlreadyEnabled);
    assert!(!store.use_recovery_code(user.id, &TokenHash::of("b-0"), now()).await.unwrap());
    assert!(store.use_recovery_code(user.id, &TokenHash::of("a-0"), now()).await.unwrap());
}

pub async fn a_totp_step_is_accepted_once_and_never_one_below_the_last(
    store: Arc<dyn AccountStore>,
) {
    let user = enabled_user(&store, "step").await;
    let other = enabled_user(&store, "stpo").await;
    assert!(!store.accept_totp_step(user.id, 100).await.unwrap(), "the enabling step is spent");
    assert!(!store.accept_totp_step(user.id, 99).await.unwrap());
    assert!(store.accept_totp_step(user.id, 101).await.unwrap());
    assert!(!store.accept_totp_step(user.id, 101).await.unwrap(), "replay");
    assert!(store.accept_totp_step(user.id, 103).await.unwrap());
    assert!(!store.accept_totp_step(user.id, 102).await.unwrap(), "older than the last");
    assert_eq!(store.two_factor(user.id).await.unwrap().unwrap().last_step, Some(103));
    assert!(store.accept_totp_step(other.id, 101).await.unwrap(), "steps are per account");
    let stranger = insert(&store, &unique_tag("strg")).await;
    assert!(!store.accept_totp_step(stranger.id, 1000).await.unwrap(), "no two-factor, no step");
}

pub async fn racing_uses_of_one_totp_step_accept_exactly_one(store: Arc<dyn AccountStore>) {
    let user = enabled_user(&store, "race").await;
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.accept_totp_step(user.id, 101).await })
        })
        .collect();
    let mut accepted = 0;
    for racer in racers {
        if racer.await.unwrap().unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1, "one step, one acceptance");
}

pub async fn a_recovery_code_works_once_and_only_for_its_account(store: Arc<dyn AccountStore>) {
    let user = enabled_user(&store, "reco").await;
    let other = enabled_user(&store, "recx").await;
    let code = TokenHash::of("rc-3");
    assert!(store.use_recovery_code(user.id, &code, now()).await.unwrap());
    assert!(!store.use_recovery_code(user.id, &code, now()).await.unwrap(), "used once");
    assert!(store.use_recovery_code(other.id, &code, now()).await.unwrap(), "its own copy");
    assert!(!store.use_recovery_code(user.id, &TokenHash::of("never"), now()).await.unwrap());
    for i in (0..10).filter(|i| *i != 3) {
        let hash = TokenHash::of(&format!("rc-{i}"));
        assert!(store.use_recovery_code(user.id, &hash, now()).await.unwrap(), "code {i}");
    }
}

pub async fn racing_uses_of_one_recovery_code_accept_exactly_one(store: Arc<dyn AccountStore>) {
    let user = enabled_user(&store, "rcrc").await;
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store.use_recovery_code(user.id, &TokenHash::of("rc-0"), now()).await
            })
        })
        .collect();
    let mut accepted = 0;
    for racer in racers {
        if racer.await.unwrap().unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1, "one code, one use");
}

pub async fn enabling_again_after_disabling_replaces_the_recovery_codes(
    store: Arc<dyn AccountStore>,
) {
    let user = enabled_user(&store, "reen").await;
    assert!(store.disable_two_factor(user.id, now()).await.unwrap());
    assert!(store.set_pending_two_factor(user.id, &secret(9), now()).await.unwrap());
    let record = store.two_factor(user.id).await.unwrap().unwrap();
    assert_eq!((record.enabled_at, record.last_step), (None, None), "a fresh start");
    let outcome = store.enable_two_factor(user.id, &secret(9), 5, &codes("new"), now()).await;
    assert_eq!(outcome.unwrap(), EnableOutcome::Enabled);
    assert!(!store.use_recovery_code(user.id, &TokenHash::of("rc-0"), now()).await.unwrap());
    assert!(store.use_recovery_code(user.id, &TokenHash::of("new-0"), now()).await.unwrap());
    assert!(store.accept_totp_step(user.id, 6).await.unwrap(), "steps restart with the secret");
}

pub async fn disabling_forgets_the_secret_and_codes_and_clears_the_flag(
    store: Arc<dyn AccountStore>,
) {
    let user = enabled_user(&store, "disa").await;
    let bystander = enabled_user(&store, "disb").await;
    let later = now() + Duration::seconds(7);
    assert!(store.disable_two_factor(user.id, later).await.unwrap());
    assert_eq!(store.two_factor(user.id).await.unwrap(), None);
    let user_now = store.user_by_id(user.id).await.unwrap().unwrap();
    assert!(!user_now.two_factor_enabled);
    assert_eq!(user_now.updated_at, later);
    assert!(!store.use_recovery_code(user.id, &TokenHash::of("rc-0"), now()).await.unwrap());
    assert!(!store.accept_totp_step(user.id, 500).await.unwrap());
    assert!(!store.disable_two_factor(user.id, now()).await.unwrap(), "only once");

    let pending = insert(&store, &unique_tag("disp")).await;
    store.set_pending_two_factor(pending.id, &secret(4), now()).await.unwrap();
    assert!(!store.disable_two_factor(pending.id, now()).await.unwrap(), "was not enabled");
    assert_eq!(store.two_factor(pending.id).await.unwrap(), None, "the pending secret is gone");

    assert!(store.user_by_id(bystander.id).await.unwrap().unwrap().two_factor_enabled);
    assert!(store.use_recovery_code(bystander.id, &TokenHash::of("rc-0"), now()).await.unwrap());
}
