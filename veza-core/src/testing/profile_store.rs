//! The storage contract for profiles, settings, follows, export reads and account erasure.

use std::sync::Arc;
use time::Duration;
use uuid::Uuid;

use super::{new_user, now, unique_tag};
use crate::audit::{AuditEntry, AuditFilter};
use crate::auth::{NewSession, TokenHash};
use crate::blobs::BlobKey;
use crate::pagination::PageRequest;
use crate::profiles::{
    Bio, FollowOutcome, Language, Location, NewFollow, ProfileChanges, Settings, Website,
};
use crate::store::AccountStore;
use crate::users::{DisplayName, User};

/// Instantiates every case below as a `#[tokio::test]`, with the same two forms as
/// `account_store_contract!`: `profile_store_contract!(fresh)` or
/// `profile_store_contract!(fresh => optional)`.
#[macro_export]
macro_rules! profile_store_contract {
    ($($fresh:tt)+) => {
        $crate::contract_suite!(profile_store [
            a_new_account_has_a_bare_profile_and_default_settings,
            a_profile_reads_back_by_id_and_by_case_folded_username,
            a_profile_edit_writes_only_the_fields_it_names,
            edits_of_unknown_accounts_are_none,
            settings_replace_each_other_and_privacy_shows_on_the_profile,
            follows_are_idempotent_and_counted_from_their_rows,
            following_an_unknown_account_writes_nothing,
            follow_lists_are_newest_first_and_paginate,
            racing_follows_and_unfollows_leave_exact_counts,
            a_replaced_avatar_is_orphaned_only_when_nobody_shares_it,
            all_sessions_include_revoked_and_expired_ones,
            erasing_an_account_removes_its_rows_and_strips_its_audit_trail,
            erasing_keeps_an_avatar_another_account_shares,
        ] $($fresh)+);
    };
}

async fn insert(store: &Arc<dyn AccountStore>, tag: &str) -> User {
    store.insert_user(&new_user(&unique_tag(tag))).await.expect("insert user")
}

fn follow_of(follower: Uuid, followee: Uuid) -> NewFollow {
    NewFollow {
        id: Uuid::now_v7(),
        follower_id: follower,
        followee_id: followee,
        created_at: now(),
    }
}

fn avatar(name: &str) -> BlobKey {
    BlobKey::parse(&format!("avatars/{name}.png")).unwrap()
}

fn session_for(user: &User, token: &str) -> NewSession {
    NewSession {
        id: Uuid::now_v7(),
        user_id: user.id,
        refresh_token: TokenHash::of(token),
        created_at: now(),
        expires_at: now() + Duration::days(30),
        user_agent: Some("contract-test/1.0".into()),
        ip: Some("198.51.100.4".into()),
    }
}

pub async fn a_new_account_has_a_bare_profile_and_default_settings(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "bare").await;
    let profile = store.profile_by_id(user.id).await.unwrap().expect("profile");
    assert_eq!(profile.id, user.id);
    assert_eq!(profile.username, user.username);
    assert_eq!(profile.display_name, user.display_name);
    assert_eq!(
        (profile.bio, profile.location, profile.website, profile.avatar),
        (None, None, None, None)
    );
    assert_eq!((profile.followers_count, profile.following_count), (0, 0));
    assert!(!profile.private);
    assert_eq!(profile.created_at, user.created_at);
    assert_eq!(store.settings(user.id).await.unwrap(), Settings::default());
}

pub async fn a_profile_reads_back_by_id_and_by_case_folded_username(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "Named").await;
    let by_id = store.profile_by_id(user.id).await.unwrap().unwrap();
    let by_name = store.profile_by_username(&user.username.key()).await.unwrap().unwrap();
    assert_eq!(by_id, by_name);
    assert_eq!(store.profile_by_id(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(store.profile_by_username("nobody-here").await.unwrap(), None);
}

pub async fn a_profile_edit_writes_only_the_fields_it_names(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "edit").await;
    let later = now() + Duration::seconds(3);
    let all = ProfileChanges {
        display_name: Some(DisplayName::parse("Ana Edit").unwrap()),
        bio: Some(Bio::parse("line one\nline two").unwrap()),
        location: Some(Location::parse("Lyon").unwrap()),
        website: Some(Website::parse("https://ana.example").unwrap()),
    };
    let edited = store.update_profile(user.id, &all, later).await.unwrap().unwrap();
    assert_eq!(edited.display_name.as_str(), "Ana Edit");
    assert_eq!(edited.bio.as_ref().unwrap().as_str(), "line one\nline two");
    assert_eq!(edited.location.as_ref().unwrap().as_str(), "Lyon");
    assert_eq!(edited.website.as_ref().unwrap().as_str(), "https://ana.example");

    let only_bio = ProfileChanges { bio: Some(None), ..ProfileChanges::default() };
    let cleared = store.update_profile(user.id, &only_bio, later).await.unwrap().unwrap();
    assert_eq!(cleared.bio, None);
    assert_eq!(cleared.location, edited.location, "fields not named stay");
    assert_eq!(cleared.website, edited.website);
    assert_eq!(cleared.display_name, edited.display_name);
    assert_eq!(store.user_by_id(user.id).await.unwrap().unwrap().updated_at, later);
    let nothing = store.update_profile(user.id, &ProfileChanges::default(), later).await;
    assert_eq!(nothing.unwrap().unwrap(), cleared);
}

pub async fn edits_of_unknown_accounts_are_none(store: Arc<dyn AccountStore>) {
    let ghost = Uuid::now_v7();
    let changes = ProfileChanges { bio: Some(None), ..ProfileChanges::default() };
    assert_eq!(store.update_profile(ghost, &changes, now()).await.unwrap(), None);
    assert_eq!(store.set_avatar(ghost, &avatar("ghost"), now()).await.unwrap(), None);
    assert_eq!(store.delete_account(ghost).await.unwrap(), None);
    assert!(!store.unfollow(ghost, Uuid::now_v7()).await.unwrap());
}

pub async fn settings_replace_each_other_and_privacy_shows_on_the_profile(
    store: Arc<dyn AccountStore>,
) {
    let user = insert(&store, "set").await;
    let private = Settings {
        email_notifications: false,
        private_profile: true,
        language: Language::parse("pt-BR").unwrap(),
        explicit_content: true,
    };
    assert_eq!(store.save_settings(user.id, &private, now()).await.unwrap(), private);
    assert_eq!(store.settings(user.id).await.unwrap(), private);
    assert!(store.profile_by_id(user.id).await.unwrap().unwrap().private);
    let public = Settings { private_profile: false, ..private.clone() };
    assert_eq!(store.save_settings(user.id, &public, now()).await.unwrap(), public);
    assert!(!store.profile_by_id(user.id).await.unwrap().unwrap().private);
}

pub async fn follows_are_idempotent_and_counted_from_their_rows(store: Arc<dyn AccountStore>) {
    let (ana, bob) = (insert(&store, "ana").await, insert(&store, "bob").await);
    let first = follow_of(ana.id, bob.id);
    assert_eq!(store.follow(&first).await.unwrap(), FollowOutcome::Followed);
    let again = follow_of(ana.id, bob.id);
    assert_eq!(store.follow(&again).await.unwrap(), FollowOutcome::AlreadyFollowing);
    let listed = store.followers(bob.id, PageRequest::first(10)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].follow_id, first.id, "the first row is kept");
    assert_eq!(listed[0].user.id, ana.id);
    assert_eq!(listed[0].followed_at, first.created_at);

    let bob_profile = store.profile_by_id(bob.id).await.unwrap().unwrap();
    assert_eq!((bob_profile.followers_count, bob_profile.following_count), (1, 0));
    let ana_profile = store.profile_by_id(ana.id).await.unwrap().unwrap();
    assert_eq!((ana_profile.followers_count, ana_profile.following_count), (0, 1));

    assert!(store.unfollow(ana.id, bob.id).await.unwrap());
    assert!(!store.unfollow(ana.id, bob.id).await.unwrap(), "only once");
    assert_eq!(store.profile_by_id(bob.id).await.unwrap().unwrap().followers_count, 0);
}

pub async fn following_an_unknown_account_writes_nothing(store: Arc<dyn AccountStore>) {
    let ana = insert(&store, "lone").await;
    let ghost = Uuid::now_v7();
    assert_eq!(store.follow(&follow_of(ana.id, ghost)).await.unwrap(), FollowOutcome::UnknownUser);
    assert_eq!(store.follow(&follow_of(ghost, ana.id)).await.unwrap(), FollowOutcome::UnknownUser);
    let profile = store.profile_by_id(ana.id).await.unwrap().unwrap();
    assert_eq!((profile.followers_count, profile.following_count), (0, 0));
    assert!(store.following(ana.id, PageRequest::first(10)).await.unwrap().is_empty());
}

pub async fn follow_lists_are_newest_first_and_paginate(store: Arc<dyn AccountStore>) {
    let star = insert(&store, "star").await;
    let mut fans = Vec::new();
    for i in 0..5 {
        let fan = insert(&store, &format!("fan{i}x")).await;
        store.follow(&follow_of(fan.id, star.id)).await.unwrap();
        store.follow(&follow_of(star.id, fan.id)).await.unwrap();
        fans.push(fan.id);
    }
    let first = store.followers(star.id, PageRequest::first(2)).await.unwrap();
    let ids: Vec<_> = first.iter().map(|e| e.user.id).collect();
    assert_eq!(ids, [fans[4], fans[3], fans[2]], "newest first, limit + 1 rows");
    let next = PageRequest { limit: 2, after: Some(first[1].follow_id) };
    let rest: Vec<_> =
        store.followers(star.id, next).await.unwrap().iter().map(|e| e.user.id).collect();
    assert_eq!(rest, [fans[2], fans[1], fans[0]]);
    let following: Vec<_> = store
        .following(star.id, PageRequest::first(10))
        .await
        .unwrap()
        .iter()
        .map(|e| e.user.id)
        .collect();
    assert_eq!(following, fans.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(store.profile_by_id(star.id).await.unwrap().unwrap().followers_count, 5);
}

/// 100 concurrent calls on one account: 30 accounts follow it twice each, and 20 accounts
/// that already follow it unfollow twice each. Whatever the interleaving, 30 remain.
pub async fn racing_follows_and_unfollows_leave_exact_counts(store: Arc<dyn AccountStore>) {
    let target = insert(&store, "target").await;
    let mut joining = Vec::new();
    for i in 0..30 {
        joining.push(insert(&store, &format!("j{i}x")).await.id);
    }
    let mut leaving = Vec::new();
    for i in 0..20 {
        let id = insert(&store, &format!("l{i}x")).await.id;
        store.follow(&follow_of(id, target.id)).await.unwrap();
        leaving.push(id);
    }
    let mut calls = Vec::new();
    for round in 0..2 {
        for &id in &joining {
            let store = Arc::clone(&store);
            let follow = follow_of(id, target.id);
            calls.push(tokio::spawn(async move { store.follow(&follow).await.map(drop) }));
        }
        for &id in &leaving {
            let store = Arc::clone(&store);
            let target = target.id;
            calls.push(tokio::spawn(async move { store.unfollow(id, target).await.map(drop) }));
        }
        assert_eq!(calls.len(), 50 * (round + 1));
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let profile = store.profile_by_id(target.id).await.unwrap().unwrap();
    assert_eq!(profile.followers_count, 30);
    let listed = store.followers(target.id, PageRequest::first(100)).await.unwrap();
    assert_eq!(listed.len(), 30, "one row per follower, no duplicates");
    for id in joining {
        assert_eq!(store.profile_by_id(id).await.unwrap().unwrap().following_count, 1);
    }
}

pub async fn a_replaced_avatar_is_orphaned_only_when_nobody_shares_it(
    store: Arc<dyn AccountStore>,
) {
    let (ana, bob) = (insert(&store, "ava").await, insert(&store, "bav").await);
    let (first, second, shared) =
        (avatar(&unique_tag("a")), avatar(&unique_tag("b")), avatar(&unique_tag("s")));
    let change = store.set_avatar(ana.id, &first, now()).await.unwrap().unwrap();
    assert_eq!(change.profile.avatar.as_ref(), Some(&first));
    assert_eq!(change.orphaned, None, "there was no previous avatar");
    let change = store.set_avatar(ana.id, &first, now()).await.unwrap().unwrap();
    assert_eq!(change.orphaned, None, "the same image again orphans nothing");
    let change = store.set_avatar(ana.id, &second, now()).await.unwrap().unwrap();
    assert_eq!(change.orphaned, Some(first));

    store.set_avatar(ana.id, &shared, now()).await.unwrap();
    store.set_avatar(bob.id, &shared, now()).await.unwrap();
    let change = store.set_avatar(ana.id, &second, now()).await.unwrap().unwrap();
    assert_eq!(change.orphaned, None, "bob still uses the shared image");
    assert_eq!(store.profile_by_id(bob.id).await.unwrap().unwrap().avatar, Some(shared));
}

pub async fn all_sessions_include_revoked_and_expired_ones(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "sess").await;
    let other = insert(&store, "othr").await;
    store.create_session(&session_for(&other, "other")).await.unwrap();
    let live = store.create_session(&session_for(&user, "live")).await.unwrap();
    let revoked = store.create_session(&session_for(&user, "revoked")).await.unwrap();
    assert!(store.revoke_session(user.id, revoked.id, now()).await.unwrap());
    let mut expiring = session_for(&user, "expired");
    expiring.expires_at = expiring.created_at + Duration::seconds(1);
    let expired = store.create_session(&expiring).await.unwrap();
    let all: Vec<_> = store.all_sessions(user.id).await.unwrap().iter().map(|s| s.id).collect();
    assert_eq!(all, [expired.id, revoked.id, live.id], "every session, newest first");
}

fn audit_entry(action: &str, actor: Option<Uuid>, target: Option<Uuid>) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7(),
        action: action.to_owned(),
        actor_id: actor,
        target_id: target,
        ip: Some("203.0.113.9".into()),
        user_agent: Some("contract-test/1.0".into()),
        detail: Some("kept".into()),
        occurred_at: now(),
    }
}

pub async fn erasing_an_account_removes_its_rows_and_strips_its_audit_trail(
    store: Arc<dyn AccountStore>,
) {
    let doomed = insert(&store, "doom").await;
    let (fan, idol) = (insert(&store, "fan").await, insert(&store, "idol").await);
    store.follow(&follow_of(fan.id, doomed.id)).await.unwrap();
    store.follow(&follow_of(doomed.id, idol.id)).await.unwrap();
    store.follow(&follow_of(fan.id, idol.id)).await.unwrap();
    let session = store.create_session(&session_for(&doomed, "doomed")).await.unwrap();
    let private = Settings { private_profile: true, ..Settings::default() };
    store.save_settings(doomed.id, &private, now()).await.unwrap();
    let image = avatar(&unique_tag("own"));
    store.set_avatar(doomed.id, &image, now()).await.unwrap();
    let about = audit_entry("auth.login", Some(doomed.id), Some(doomed.id));
    let by_admin = audit_entry("admin.role_changed", Some(idol.id), Some(doomed.id));
    let unrelated = audit_entry("auth.login", Some(fan.id), Some(fan.id));
    for entry in [&about, &by_admin, &unrelated] {
        store.append_audit(entry).await.unwrap();
    }

    let erased = store.delete_account(doomed.id).await.unwrap().expect("it existed");
    assert_eq!(erased.orphaned_avatar, Some(image));
    assert_eq!(store.user_by_id(doomed.id).await.unwrap(), None);
    assert_eq!(store.profile_by_id(doomed.id).await.unwrap(), None);
    assert_eq!(store.session_with_user(session.id).await.unwrap(), None);
    assert!(store.all_sessions(doomed.id).await.unwrap().is_empty());
    assert_eq!(store.settings(doomed.id).await.unwrap(), Settings::default());
    let fan_now = store.profile_by_id(fan.id).await.unwrap().unwrap();
    assert_eq!(fan_now.following_count, 1, "only the follow of idol remains");
    let idol_now = store.profile_by_id(idol.id).await.unwrap().unwrap();
    assert_eq!(idol_now.followers_count, 1);

    let trail = store
        .list_audit(
            &AuditFilter { target_id: Some(doomed.id), ..AuditFilter::default() },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(trail.len(), 2, "audit rows about the account stay");
    for entry in &trail {
        assert_eq!((entry.ip.as_deref(), entry.user_agent.as_deref()), (None, None), "{entry:?}");
        assert_eq!(entry.detail.as_deref(), Some("kept"));
    }
    let untouched = store
        .list_audit(
            &AuditFilter { actor_id: Some(fan.id), ..AuditFilter::default() },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(untouched, [unrelated]);

    let mut again = new_user(doomed.username.as_str());
    again.email = doomed.email.clone();
    store.insert_user(&again).await.expect("the e-mail and username are free again");
    assert_eq!(store.delete_account(doomed.id).await.unwrap(), None);
}

pub async fn erasing_keeps_an_avatar_another_account_shares(store: Arc<dyn AccountStore>) {
    let (leaving, staying) = (insert(&store, "leav").await, insert(&store, "stay").await);
    let shared = avatar(&unique_tag("shared"));
    store.set_avatar(leaving.id, &shared, now()).await.unwrap();
    store.set_avatar(staying.id, &shared, now()).await.unwrap();
    let erased = store.delete_account(leaving.id).await.unwrap().unwrap();
    assert_eq!(erased.orphaned_avatar, None);
    let erased = store.delete_account(staying.id).await.unwrap().unwrap();
    assert_eq!(erased.orphaned_avatar, Some(shared), "the last user takes it along");
}
