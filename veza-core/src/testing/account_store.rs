//! The storage port contract for accounts, sessions and the audit log; the cases for tokens
//! and the mail outbox live in `credential_store.rs` and run through the same macro.

use std::sync::Arc;
use time::Duration;
use uuid::Uuid;

pub use super::credential_store::*;
use super::{new_user, now, unique_tag};
use crate::audit::{AuditEntry, AuditFilter};
use crate::auth::{NewSession, Rotation, TokenHash};
use crate::pagination::PageRequest;
use crate::store::{AccountStore, Conflict, StoreError};
use crate::users::{Role, User, Username};

/// Instantiates every case below as a `#[tokio::test]`.
///
/// - `account_store_contract!(fresh)`: `$fresh()` is an async fn returning a new, empty,
///   migrated `Arc<dyn AccountStore>`.
/// - `account_store_contract!(fresh => optional)`: `$fresh()` returns
///   `Option<Arc<dyn AccountStore>>`, and each case returns early on `None`. For backends
///   that need an external server: `$fresh` decides when a missing one is a skip and when a
///   failure, and says so itself.
#[macro_export]
macro_rules! account_store_contract {
    ($($fresh:tt)+) => {
        $crate::contract_suite!(account_store [
            a_user_reads_back_by_id_email_and_username_in_any_case,
            a_taken_email_is_a_conflict_and_writes_nothing,
            a_username_differing_only_in_case_is_taken,
            racing_registrations_create_exactly_one_account,
            roles_and_suspensions_are_stored,
            unknown_users_are_none,
            users_are_searched_by_any_name_without_case_and_literally,
            a_session_reads_back_with_its_user,
            a_refresh_token_rotates_once_and_its_reuse_revokes_the_session,
            racing_refreshes_with_one_token_rotate_exactly_once,
            an_expired_or_revoked_session_does_not_rotate,
            sessions_list_newest_first_active_only_and_paginate,
            a_session_is_revoked_only_by_its_owner,
            revoking_all_sessions_bumps_the_token_version,
            audit_entries_list_newest_first_filtered_and_paginated,
            concurrent_audit_appends_are_all_kept,
            a_user_token_and_its_mail_are_written_together,
            a_token_that_cannot_be_stored_leaves_no_mail_behind,
            a_reset_token_works_once_and_revokes_every_session,
            expired_unknown_or_misused_tokens_are_refused,
            racing_resets_with_one_token_succeed_exactly_once,
            email_verification_works_once_for_the_mailed_address,
            a_password_change_keeps_one_session_and_spends_reset_tokens,
            a_claimed_mail_is_hidden_until_its_lease_ends,
            concurrent_claims_hand_out_each_mail_once,
            a_failed_mail_is_due_again_at_its_retry_time_with_its_error,
            sent_and_abandoned_mails_are_never_claimed_again,
            the_relay_retries_a_failed_send_and_abandons_a_refused_one,
            the_relay_gives_up_when_its_retry_schedule_is_spent,
        ] $($fresh)+);
    };
}

async fn insert(store: &Arc<dyn AccountStore>, tag: &str) -> User {
    store.insert_user(&new_user(tag)).await.expect("insert user")
}

fn session_for(user: &User, refresh: &str) -> NewSession {
    let now = now();
    NewSession {
        id: Uuid::now_v7(),
        user_id: user.id,
        refresh_token: TokenHash::of(refresh),
        created_at: now,
        expires_at: now + Duration::days(30),
        user_agent: Some("contract-test/1.0".into()),
        ip: Some("203.0.113.7".into()),
    }
}

pub async fn a_user_reads_back_by_id_email_and_username_in_any_case(store: Arc<dyn AccountStore>) {
    let tag = unique_tag("Ana");
    let new = new_user(&tag);
    let inserted = store.insert_user(&new).await.unwrap();
    assert_eq!(inserted.id, new.id);
    assert_eq!(inserted.username.as_str(), tag, "case of the username is kept");
    assert_eq!(inserted.role, Role::Listener);
    assert_eq!(inserted.token_version, 0);
    assert!(!inserted.email_verified && !inserted.two_factor_enabled);
    assert_eq!(inserted.suspended_at, None);
    assert_eq!(inserted.created_at, new.created_at);
    assert_eq!(store.user_by_id(new.id).await.unwrap().as_ref(), Some(&inserted));
    let by_email = store.user_by_login(new.email.as_str()).await.unwrap();
    assert_eq!(by_email.as_ref(), Some(&inserted));
    let by_username = store.user_by_login(&tag.to_lowercase()).await.unwrap();
    assert_eq!(by_username.as_ref(), Some(&inserted));
}

pub async fn a_taken_email_is_a_conflict_and_writes_nothing(store: Arc<dyn AccountStore>) {
    let first = insert(&store, &unique_tag("first")).await;
    let mut second = new_user(&unique_tag("second"));
    second.email = first.email.clone();
    let err = store.insert_user(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(Conflict::EmailTaken)), "{err:?}");
    assert_eq!(store.user_by_id(second.id).await.unwrap(), None);
}

pub async fn a_username_differing_only_in_case_is_taken(store: Arc<dyn AccountStore>) {
    let tag = unique_tag("case");
    insert(&store, &tag).await;
    let mut second = new_user(&unique_tag("other"));
    second.username = Username::parse(&tag.to_uppercase()).unwrap();
    let err = store.insert_user(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(Conflict::UsernameTaken)), "{err:?}");
}

pub async fn racing_registrations_create_exactly_one_account(store: Arc<dyn AccountStore>) {
    let tag = unique_tag("race");
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let store = Arc::clone(&store);
            let mut user = new_user(&unique_tag(&format!("r{i}x")));
            user.email = new_user(&tag).email;
            tokio::spawn(async move { store.insert_user(&user).await })
        })
        .collect();
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Conflict(Conflict::EmailTaken)) => {}
            Err(other) => panic!("a racing registration failed with {other:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one registration wins");
}

pub async fn roles_and_suspensions_are_stored(store: Arc<dyn AccountStore>) {
    let user = insert(&store, &unique_tag("role")).await;
    let later = now() + Duration::seconds(5);
    let promoted = store.set_role(user.id, Role::Creator, later).await.unwrap().unwrap();
    assert_eq!(promoted.role, Role::Creator);
    assert_eq!(promoted.updated_at, later);
    let suspended = store.set_suspended(user.id, Some(later), later).await.unwrap().unwrap();
    assert_eq!(suspended.suspended_at, Some(later));
    let back = store.set_suspended(user.id, None, later).await.unwrap().unwrap();
    assert_eq!(back.suspended_at, None);
    assert_eq!(store.user_by_id(user.id).await.unwrap().unwrap().role, Role::Creator);
}

pub async fn unknown_users_are_none(store: Arc<dyn AccountStore>) {
    let ghost = Uuid::now_v7();
    assert_eq!(store.user_by_id(ghost).await.unwrap(), None);
    assert_eq!(store.user_by_login("nobody@example.com").await.unwrap(), None);
    assert_eq!(store.set_role(ghost, Role::Admin, now()).await.unwrap(), None);
    assert_eq!(store.set_suspended(ghost, Some(now()), now()).await.unwrap(), None);
    assert_eq!(store.session_with_user(ghost).await.unwrap(), None);
}

pub async fn a_session_reads_back_with_its_user(store: Arc<dyn AccountStore>) {
    let user = insert(&store, &unique_tag("sess")).await;
    let new = session_for(&user, "token-a");
    let session = store.create_session(&new).await.unwrap();
    assert_eq!(session.id, new.id);
    assert_eq!(session.last_used_at, new.created_at);
    assert_eq!(session.revoked_at, None);
    assert_eq!(session.ip.as_deref(), Some("203.0.113.7"));
    let (read, owner) = store.session_with_user(new.id).await.unwrap().unwrap();
    assert_eq!(read, session);
    assert_eq!(owner, user);
}

pub async fn a_refresh_token_rotates_once_and_its_reuse_revokes_the_session(
    store: Arc<dyn AccountStore>,
) {
    let user = insert(&store, &unique_tag("rot")).await;
    let session = store.create_session(&session_for(&user, "first")).await.unwrap();
    let (first, second, third) =
        (TokenHash::of("first"), TokenHash::of("second"), TokenHash::of("third"));
    let later = now() + Duration::minutes(1);
    let expires = later + Duration::days(30);

    match store.rotate_refresh_token(&first, &second, later, expires).await.unwrap() {
        Rotation::Rotated { session: rotated, user: owner } => {
            assert_eq!(rotated.id, session.id);
            assert_eq!(rotated.last_used_at, later);
            assert_eq!(rotated.expires_at, expires);
            assert_eq!(owner.id, user.id);
        }
        other => panic!("expected a rotation, got {other:?}"),
    }
    let reuse = store.rotate_refresh_token(&first, &third, later, expires).await.unwrap();
    assert_eq!(reuse, Rotation::Reused { session_id: session.id, user_id: user.id });
    let (revoked, _) = store.session_with_user(session.id).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some(), "reuse revokes the session");
    let after = store.rotate_refresh_token(&second, &third, later, expires).await.unwrap();
    assert_eq!(after, Rotation::Invalid, "the live token of a revoked session is dead too");
    let unknown = TokenHash::of("never issued");
    let none = store.rotate_refresh_token(&unknown, &third, later, expires).await.unwrap();
    assert_eq!(none, Rotation::Invalid);
}

pub async fn racing_refreshes_with_one_token_rotate_exactly_once(store: Arc<dyn AccountStore>) {
    let user = insert(&store, &unique_tag("rr")).await;
    store.create_session(&session_for(&user, "shared")).await.unwrap();
    let later = now();
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let next = TokenHash::of(&format!("next-{i}"));
                let expires = later + Duration::days(1);
                store.rotate_refresh_token(&TokenHash::of("shared"), &next, later, expires).await
            })
        })
        .collect();
    let mut rotated = 0;
    for racer in racers {
        match racer.await.unwrap().unwrap() {
            Rotation::Rotated { .. } => rotated += 1,
            Rotation::Reused { .. } | Rotation::Invalid => {}
        }
    }
    assert_eq!(rotated, 1, "one token, one rotation");
}

pub async fn an_expired_or_revoked_session_does_not_rotate(store: Arc<dyn AccountStore>) {
    let user = insert(&store, &unique_tag("exp")).await;
    let mut expiring = session_for(&user, "expiring");
    expiring.expires_at = expiring.created_at + Duration::minutes(1);
    store.create_session(&expiring).await.unwrap();
    let past_expiry = expiring.created_at + Duration::minutes(2);
    let next = TokenHash::of("next");
    let result = store
        .rotate_refresh_token(&TokenHash::of("expiring"), &next, past_expiry, past_expiry)
        .await
        .unwrap();
    assert_eq!(result, Rotation::Invalid);

    let revoked = store.create_session(&session_for(&user, "revoked")).await.unwrap();
    assert!(store.revoke_session(user.id, revoked.id, now()).await.unwrap());
    let result = store
        .rotate_refresh_token(&TokenHash::of("revoked"), &next, now(), now() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(result, Rotation::Invalid);
}

pub async fn sessions_list_newest_first_active_only_and_paginate(store: Arc<dyn AccountStore>) {
    let user = insert(&store, &unique_tag("list")).await;
    let other = insert(&store, &unique_tag("othr")).await;
    store.create_session(&session_for(&other, "other-user")).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(store.create_session(&session_for(&user, &format!("s{i}"))).await.unwrap().id);
    }
    let mut expired = session_for(&user, "expired");
    expired.expires_at = expired.created_at + Duration::seconds(1);
    store.create_session(&expired).await.unwrap();
    assert!(store.revoke_session(user.id, ids[4], now()).await.unwrap());

    let at = now() + Duration::seconds(2);
    let first = store.list_sessions(user.id, at, PageRequest::first(2)).await.unwrap();
    let first_ids: Vec<_> = first.iter().map(|s| s.id).collect();
    assert_eq!(first_ids, [ids[3], ids[2], ids[1]], "newest first, limit + 1 rows");
    let next = PageRequest { limit: 2, after: Some(ids[2]) };
    let rest: Vec<_> =
        store.list_sessions(user.id, at, next).await.unwrap().iter().map(|s| s.id).collect();
    assert_eq!(rest, [ids[1], ids[0]]);
}

pub async fn a_session_is_revoked_only_by_its_owner(store: Arc<dyn AccountStore>) {
    let owner = insert(&store, &unique_tag("own")).await;
    let intruder = insert(&store, &unique_tag("intr")).await;
    let session = store.create_session(&session_for(&owner, "owned")).await.unwrap();
    assert!(!store.revoke_session(intruder.id, session.id, now()).await.unwrap());
    assert!(store.session_with_user(session.id).await.unwrap().unwrap().0.revoked_at.is_none());
    assert!(store.revoke_session(owner.id, session.id, now()).await.unwrap());
    assert!(!store.revoke_session(owner.id, session.id, now()).await.unwrap(), "only once");
}

pub async fn revoking_all_sessions_bumps_the_token_version(store: Arc<dyn AccountStore>) {
    let user = insert(&store, &unique_tag("all")).await;
    let bystander = insert(&store, &unique_tag("bys")).await;
    let kept = store.create_session(&session_for(&bystander, "kept")).await.unwrap();
    for i in 0..3 {
        store.create_session(&session_for(&user, &format!("all{i}"))).await.unwrap();
    }
    store.revoke_all_sessions(user.id, now()).await.unwrap();
    let at = now();
    assert!(store.list_sessions(user.id, at, PageRequest::first(10)).await.unwrap().is_empty());
    assert_eq!(store.user_by_id(user.id).await.unwrap().unwrap().token_version, 1);
    let (untouched, _) = store.session_with_user(kept.id).await.unwrap().unwrap();
    assert_eq!(untouched.revoked_at, None);
    assert_eq!(store.user_by_id(bystander.id).await.unwrap().unwrap().token_version, 0);
}

fn audit_entry(action: &str, actor: Option<Uuid>, target: Option<Uuid>) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7(),
        action: action.to_owned(),
        actor_id: actor,
        target_id: target,
        ip: Some("2001:db8::1".into()),
        user_agent: Some("contract-test/1.0".into()),
        detail: Some("detail".into()),
        occurred_at: now(),
    }
}

pub async fn audit_entries_list_newest_first_filtered_and_paginated(store: Arc<dyn AccountStore>) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let entries = [
        audit_entry("auth.login", Some(alice), Some(alice)),
        audit_entry("auth.login_failed", None, Some(bob)),
        audit_entry("admin.role_changed", Some(alice), Some(bob)),
        audit_entry("auth.login", Some(bob), Some(bob)),
    ];
    for entry in &entries {
        store.append_audit(entry).await.unwrap();
    }
    let all = store.list_audit(&AuditFilter::default(), PageRequest::first(100)).await.unwrap();
    let ours: Vec<_> = all.iter().filter(|e| entries.iter().any(|x| x.id == e.id)).collect();
    assert_eq!(ours.len(), 4);
    assert_eq!(*ours[0], entries[3], "newest first, every field read back");

    let about_bob = AuditFilter { target_id: Some(bob), ..AuditFilter::default() };
    let ids: Vec<_> = store
        .list_audit(&about_bob, PageRequest::first(10))
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [entries[3].id, entries[2].id, entries[1].id]);

    let by_alice = AuditFilter { actor_id: Some(alice), ..AuditFilter::default() };
    let first = store.list_audit(&by_alice, PageRequest::first(1)).await.unwrap();
    assert_eq!(first.len(), 2, "limit + 1 rows");
    assert_eq!(first[0].id, entries[2].id);
    let next = PageRequest { limit: 1, after: Some(entries[2].id) };
    let rest = store.list_audit(&by_alice, next).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), [entries[0].id]);

    let logins = AuditFilter {
        action: Some("auth.login".into()),
        target_id: Some(bob),
        ..AuditFilter::default()
    };
    let found = store.list_audit(&logins, PageRequest::first(10)).await.unwrap();
    assert_eq!(found.iter().map(|e| e.id).collect::<Vec<_>>(), [entries[3].id]);
}

pub async fn concurrent_audit_appends_are_all_kept(store: Arc<dyn AccountStore>) {
    let target = Uuid::now_v7();
    let appends: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store.append_audit(&audit_entry("auth.login", None, Some(target))).await
            })
        })
        .collect();
    for append in appends {
        append.await.unwrap().unwrap();
    }
    let filter = AuditFilter { target_id: Some(target), ..AuditFilter::default() };
    assert_eq!(store.list_audit(&filter, PageRequest::first(100)).await.unwrap().len(), 50);
}

pub async fn users_are_searched_by_any_name_without_case_and_literally(
    store: Arc<dyn AccountStore>,
) {
    let tag = unique_tag("Find");
    let mut wanted = new_user(&tag);
    wanted.display_name = crate::users::DisplayName::parse("Ana 100% Real_Name").unwrap();
    store.insert_user(&wanted).await.unwrap();
    let other = insert(&store, &unique_tag("else")).await;
    let search = |q: String| {
        let store = Arc::clone(&store);
        async move {
            let rows = store.search_users(&q, PageRequest::first(100)).await.unwrap();
            rows.into_iter().map(|u| u.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(search(tag.to_uppercase()).await, [wanted.id], "by username, any case");
    assert_eq!(search(wanted.email.as_str().to_owned()).await, [wanted.id], "by e-mail");
    assert!(search("100% real".into()).await.contains(&wanted.id), "by display name");
    assert!(!search("%".into()).await.contains(&other.id), "% is literal");
    assert!(!search("a_a".into()).await.contains(&wanted.id), "_ is literal");
    let everyone = search(String::new()).await;
    let (w, o) = (
        everyone.iter().position(|id| *id == wanted.id).unwrap(),
        everyone.iter().position(|id| *id == other.id).unwrap(),
    );
    assert!(o < w, "newest first");
    let first = store.search_users("", PageRequest::first(1)).await.unwrap();
    let next = PageRequest { limit: 1, after: Some(first[0].id) };
    let second = store.search_users("", next).await.unwrap();
    assert_ne!(first[0].id, second[0].id, "the cursor moves on");
}
