//! Contract cases for single-use tokens (`CredentialStore`) and the mail outbox
//! (`MailOutbox`), including the relay over a real store. Run through
//! `account_store_contract!`, as every adapter implements them on the same database.

use async_trait::async_trait;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use time::Duration;
use uuid::Uuid;

use super::{new_user, now, unique_tag};
use crate::auth::{NewSession, TokenHash};
use crate::clock::ManualClock;
use crate::credentials::{NewUserToken, TokenPurpose};
use crate::mail::{MailError, MailRelay, Mailer, NewMail, OutgoingMail, RelayConfig};
use crate::pagination::PageRequest;
use crate::store::AccountStore;
use crate::users::{Email, User};

async fn insert(store: &Arc<dyn AccountStore>, tag: &str) -> User {
    store.insert_user(&new_user(&unique_tag(tag))).await.expect("insert user")
}

fn token_for(user: &User, token: &str, purpose: TokenPurpose) -> NewUserToken {
    let created_at = now();
    NewUserToken {
        hash: TokenHash::of(token),
        user_id: user.id,
        purpose,
        email: user.email.clone(),
        created_at,
        expires_at: created_at + Duration::hours(1),
    }
}

fn mail_for(to: &str, subject: &str) -> NewMail {
    NewMail {
        id: Uuid::now_v7(),
        mail: OutgoingMail {
            to: to.to_owned(),
            subject: subject.to_owned(),
            text_body: format!("{subject}\n"),
            html_body: format!("<p>{subject}</p>\n"),
        },
        queued_at: now(),
    }
}

async fn create(store: &Arc<dyn AccountStore>, token: &NewUserToken, subject: &str) -> NewMail {
    let mail = mail_for(token.email.as_str(), subject);
    store.create_user_token(token, &mail).await.expect("create token");
    mail
}

async fn start_session(store: &Arc<dyn AccountStore>, user: &User) -> Uuid {
    let at = now();
    let session = NewSession {
        id: Uuid::now_v7(),
        user_id: user.id,
        refresh_token: TokenHash::of(&unique_tag("refresh")),
        created_at: at,
        expires_at: at + Duration::days(30),
        user_agent: None,
        ip: None,
    };
    store.create_session(&session).await.expect("session").id
}

async fn active_sessions(store: &Arc<dyn AccountStore>, user: &User) -> Vec<Uuid> {
    let sessions = store.list_sessions(user.id, now(), PageRequest::first(100)).await.unwrap();
    sessions.iter().map(|s| s.id).collect()
}

/// Everything due in the next ten years, claimed with a long lease.
async fn claim_all(store: &Arc<dyn AccountStore>) -> Vec<crate::mail::QueuedMail> {
    store.claim_due_mails(now() + Duration::days(3650), 1000, Duration::hours(1)).await.unwrap()
}

pub async fn a_user_token_and_its_mail_are_written_together(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "tok").await;
    let token = token_for(&user, "reset-1", TokenPurpose::PasswordReset);
    let mail = create(&store, &token, "Reset").await;
    let owner = store.user_by_token(&token.hash, TokenPurpose::PasswordReset, now()).await;
    assert_eq!(owner.unwrap().map(|u| u.id), Some(user.id));
    let claimed = store.claim_due_mails(now(), 10, Duration::minutes(2)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, mail.id);
    assert_eq!(claimed[0].mail, mail.mail, "every field read back");
    assert_eq!(claimed[0].queued_at, mail.queued_at);
    assert_eq!((claimed[0].attempts, claimed[0].last_error.as_deref()), (1, None));
}

pub async fn a_token_that_cannot_be_stored_leaves_no_mail_behind(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "rbk").await;
    let mut orphan = token_for(&user, "orphan", TokenPurpose::PasswordReset);
    orphan.user_id = Uuid::now_v7();
    let mail = mail_for(user.email.as_str(), "Never");
    assert!(store.create_user_token(&orphan, &mail).await.is_err(), "unknown user refused");

    let token = token_for(&user, "twice", TokenPurpose::EmailVerification);
    let first = create(&store, &token, "First").await;
    let again = mail_for(user.email.as_str(), "Duplicate");
    assert!(store.create_user_token(&token, &again).await.is_err(), "duplicate token refused");

    let ids: Vec<_> = claim_all(&store).await.iter().map(|m| m.id).collect();
    assert_eq!(ids, [first.id], "the rolled-back transactions queued nothing");
}

pub async fn a_reset_token_works_once_and_revokes_every_session(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "rst").await;
    let bystander = insert(&store, "bys").await;
    let kept = start_session(&store, &bystander).await;
    for _ in 0..2 {
        start_session(&store, &user).await;
    }
    let token = token_for(&user, "reset-once", TokenPurpose::PasswordReset);
    let other = token_for(&user, "reset-other", TokenPurpose::PasswordReset);
    create(&store, &token, "Reset").await;
    create(&store, &other, "Reset again").await;

    let reset = store.reset_password(&token.hash, "$argon2id$new", now()).await.unwrap();
    let reset = reset.expect("a live token resets");
    assert_eq!(reset.password_hash, "$argon2id$new");
    assert_eq!(reset.token_version, user.token_version + 1);
    assert!(active_sessions(&store, &user).await.is_empty(), "every session revoked");
    assert_eq!(active_sessions(&store, &bystander).await, [kept]);

    assert_eq!(store.reset_password(&token.hash, "$argon2id$again", now()).await.unwrap(), None);
    let later = store.reset_password(&other.hash, "$argon2id$later", now()).await.unwrap();
    assert_eq!(later, None, "a reset spends every reset token of the account");
    let stored = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$new");
    let purpose = TokenPurpose::PasswordReset;
    assert_eq!(store.user_by_token(&token.hash, purpose, now()).await.unwrap(), None);
}

pub async fn expired_unknown_or_misused_tokens_are_refused(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "exp").await;
    let mut expired = token_for(&user, "expired", TokenPurpose::PasswordReset);
    expired.expires_at = expired.created_at + Duration::minutes(1);
    create(&store, &expired, "Expired").await;
    let after = expired.created_at + Duration::minutes(2);
    let reset = TokenPurpose::PasswordReset;
    assert_eq!(store.user_by_token(&expired.hash, reset, after).await.unwrap(), None);
    assert_eq!(store.reset_password(&expired.hash, "$x", after).await.unwrap(), None);

    let verification = token_for(&user, "verify", TokenPurpose::EmailVerification);
    create(&store, &verification, "Verify").await;
    let reset_token = token_for(&user, "reset", TokenPurpose::PasswordReset);
    create(&store, &reset_token, "Reset").await;
    assert_eq!(store.reset_password(&verification.hash, "$x", now()).await.unwrap(), None);
    assert_eq!(store.verify_email(&reset_token.hash, now()).await.unwrap(), None);
    let unknown = TokenHash::of("never issued");
    assert_eq!(store.reset_password(&unknown, "$x", now()).await.unwrap(), None);
    assert_eq!(store.verify_email(&unknown, now()).await.unwrap(), None);
    let stored = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, user.password_hash, "nothing changed");
    assert!(!stored.email_verified);
}

pub async fn racing_resets_with_one_token_succeed_exactly_once(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "race").await;
    let token = token_for(&user, "raced", TokenPurpose::PasswordReset);
    create(&store, &token, "Reset").await;
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (store, hash) = (Arc::clone(&store), token.hash.clone());
            tokio::spawn(async move { store.reset_password(&hash, &format!("$h{i}"), now()).await })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        if racer.await.unwrap().unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "one token, one reset");
    let stored = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.token_version, user.token_version + 1, "bumped once");
}

pub async fn email_verification_works_once_for_the_mailed_address(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "ver").await;
    let mut elsewhere = token_for(&user, "old-address", TokenPurpose::EmailVerification);
    elsewhere.email = Email::parse("former@example.com").unwrap();
    create(&store, &elsewhere, "Old").await;
    assert_eq!(store.verify_email(&elsewhere.hash, now()).await.unwrap(), None);

    let token = token_for(&user, "verify-once", TokenPurpose::EmailVerification);
    create(&store, &token, "Verify").await;
    let verified = store.verify_email(&token.hash, now()).await.unwrap().expect("verified");
    assert!(verified.email_verified);
    assert!(store.user_by_id(user.id).await.unwrap().unwrap().email_verified);
    assert_eq!(store.verify_email(&token.hash, now()).await.unwrap(), None, "works once");
}

pub async fn a_password_change_keeps_one_session_and_spends_reset_tokens(
    store: Arc<dyn AccountStore>,
) {
    let user = insert(&store, "chg").await;
    let current = start_session(&store, &user).await;
    start_session(&store, &user).await;
    start_session(&store, &user).await;
    let token = token_for(&user, "pending-reset", TokenPurpose::PasswordReset);
    create(&store, &token, "Reset").await;

    let changed = store.change_password(user.id, "$changed", current, now()).await.unwrap();
    let changed = changed.expect("the account exists");
    assert_eq!(changed.password_hash, "$changed");
    assert_eq!(changed.token_version, user.token_version, "the current token stays valid");
    assert_eq!(active_sessions(&store, &user).await, [current]);
    assert_eq!(store.reset_password(&token.hash, "$x", now()).await.unwrap(), None);
    let nobody = store.change_password(Uuid::now_v7(), "$x", current, now()).await.unwrap();
    assert_eq!(nobody, None);
}

pub async fn a_claimed_mail_is_hidden_until_its_lease_ends(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "lease").await;
    let mail = create(&store, &token_for(&user, "t", TokenPurpose::PasswordReset), "M").await;
    let at = now();
    let lease = Duration::minutes(2);
    assert_eq!(store.claim_due_mails(at, 10, lease).await.unwrap().len(), 1);
    let during = at + Duration::seconds(119);
    assert!(store.claim_due_mails(during, 10, lease).await.unwrap().is_empty());
    let again = store.claim_due_mails(at + lease, 10, lease).await.unwrap();
    assert_eq!(again.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(), [(mail.id, 2)]);
}

pub async fn concurrent_claims_hand_out_each_mail_once(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "conc").await;
    let mut queued = HashSet::new();
    for i in 0..30 {
        let token = token_for(&user, &format!("c{i}"), TokenPurpose::EmailVerification);
        queued.insert(create(&store, &token, &format!("Mail {i}")).await.id);
    }
    let at = now() + Duration::seconds(1);
    let claimers: Vec<_> = (0..6)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_due_mails(at, 4, Duration::hours(1)).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|m| m.id));
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await.unwrap());
    }
    assert_eq!(claimed.len(), 30, "no mail claimed twice");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), queued, "every mail claimed");
}

pub async fn a_failed_mail_is_due_again_at_its_retry_time_with_its_error(
    store: Arc<dyn AccountStore>,
) {
    let user = insert(&store, "fail").await;
    let mail = create(&store, &token_for(&user, "f", TokenPurpose::PasswordReset), "M").await;
    let at = now();
    let claimed = store.claim_due_mails(at, 10, Duration::minutes(2)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let retry_at = at + Duration::minutes(10);
    store.record_mail_failure(mail.id, "421 try later", Some(retry_at), at).await.unwrap();
    let early = at + Duration::minutes(9);
    assert!(store.claim_due_mails(early, 10, Duration::minutes(2)).await.unwrap().is_empty());
    let retried = store.claim_due_mails(retry_at, 10, Duration::minutes(2)).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 2);
    assert_eq!(retried[0].last_error.as_deref(), Some("421 try later"));
}

pub async fn sent_and_abandoned_mails_are_never_claimed_again(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "done").await;
    let sent = create(&store, &token_for(&user, "s", TokenPurpose::PasswordReset), "S").await;
    let dead = create(&store, &token_for(&user, "d", TokenPurpose::PasswordReset), "D").await;
    let kept = create(&store, &token_for(&user, "k", TokenPurpose::PasswordReset), "K").await;
    let at = now();
    assert_eq!(store.claim_due_mails(at, 10, Duration::seconds(1)).await.unwrap().len(), 3);
    store.mark_mail_sent(sent.id).await.unwrap();
    store.mark_mail_sent(sent.id).await.unwrap();
    store.record_mail_failure(dead.id, "550 no such user", None, at).await.unwrap();
    store.record_mail_failure(sent.id, "late report of a sent mail", None, at).await.unwrap();
    let ids: Vec<_> = claim_all(&store).await.iter().map(|m| m.id).collect();
    assert_eq!(ids, [kept.id]);
}

/// A `Mailer` that answers from a script (then succeeds) and records what it accepted.
#[derive(Default)]
pub struct ScriptedMailer {
    script: Mutex<VecDeque<Result<(), MailError>>>,
    pub sent: Mutex<Vec<OutgoingMail>>,
}

impl ScriptedMailer {
    pub fn failing_with(errors: impl IntoIterator<Item = MailError>) -> Self {
        let script = errors.into_iter().map(Err).collect();
        Self { script: Mutex::new(script), sent: Mutex::default() }
    }

    pub fn sent_subjects(&self) -> Vec<String> {
        self.sent.lock().unwrap().iter().map(|m| m.subject.clone()).collect()
    }
}

#[async_trait]
impl Mailer for ScriptedMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let next = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
        if next.is_ok() {
            self.sent.lock().unwrap().push(mail.clone());
        }
        next
    }
}

pub async fn the_relay_retries_a_failed_send_and_abandons_a_refused_one(
    store: Arc<dyn AccountStore>,
) {
    let user = insert(&store, "relay").await;
    let transient = MailError::transient("connection refused");
    let permanent = MailError::Permanent("550 mailbox unavailable".into());
    let mailer = Arc::new(ScriptedMailer::failing_with([transient, permanent]));
    create(&store, &token_for(&user, "a", TokenPurpose::PasswordReset), "Retried").await;
    create(&store, &token_for(&user, "b", TokenPurpose::PasswordReset), "Refused").await;
    let clock = Arc::new(ManualClock::new(now()));
    let config =
        RelayConfig { retry_schedule: vec![Duration::seconds(30)], ..RelayConfig::default() };
    let relay = MailRelay::new(store.clone(), mailer.clone(), clock.clone(), config);

    assert_eq!(relay.deliver_due().await.unwrap(), 2, "both tried");
    assert!(mailer.sent_subjects().is_empty());
    clock.advance(Duration::seconds(29));
    assert_eq!(relay.deliver_due().await.unwrap(), 0, "not due before its retry time");
    clock.advance(Duration::seconds(1));
    assert_eq!(relay.deliver_due().await.unwrap(), 1, "the transient failure is retried");
    assert_eq!(mailer.sent_subjects(), ["Retried"]);
    clock.advance(Duration::days(1));
    assert_eq!(relay.deliver_due().await.unwrap(), 0, "sent left, refused abandoned");
    assert!(claim_all(&store).await.is_empty());
}

pub async fn the_relay_gives_up_when_its_retry_schedule_is_spent(store: Arc<dyn AccountStore>) {
    let user = insert(&store, "spent").await;
    let failures = (0..3).map(|_| MailError::transient("timeout"));
    let mailer = Arc::new(ScriptedMailer::failing_with(failures));
    create(&store, &token_for(&user, "x", TokenPurpose::PasswordReset), "Doomed").await;
    let clock = Arc::new(ManualClock::new(now()));
    let schedule = vec![Duration::seconds(10), Duration::seconds(20)];
    let config = RelayConfig { retry_schedule: schedule, ..RelayConfig::default() };
    let relay = MailRelay::new(store.clone(), mailer.clone(), clock.clone(), config);
    for wait in [0, 10, 20] {
        clock.advance(Duration::seconds(wait));
        assert_eq!(relay.deliver_due().await.unwrap(), 1, "attempt after {wait} s");
    }
    clock.advance(Duration::days(1));
    assert_eq!(relay.deliver_due().await.unwrap(), 0, "abandoned after three attempts");
    assert!(mailer.sent_subjects().is_empty());
}
