//! Passwords and e-mail addresses after sign-up: change, forgot → mailed link → reset, and
//! the verification mail. Mail goes to the server's outbox folder, except in the tests named
//! `over_real_smtp_…`, which use the SMTP server `.ci/run` starts and read its Maildir.

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use veza_adapters::mail::testing::test_smtp_server;
use veza_cli::wiring::Store;
use veza_core::audit::AuditFilter;
use veza_core::auth::TokenHash;
use veza_core::credentials::{NewUserToken, TokenPurpose};
use veza_core::mail::{NewMail, OutgoingMail};
use veza_core::pagination::PageRequest;
use veza_core::users::Email;

use crate::mailbox::{Mailbox, link_and_token};
use crate::support::{Options, PASSWORD, TestServer, expect_json, expect_problem};

const NEW_PASSWORD: &str = "a brand new passphrase for 2027";
const FORGOT: &str = "/api/v1/auth/password/forgot";
const RESET: &str = "/api/v1/auth/password/reset";
const CHANGE: &str = "/api/v1/auth/password/change";
const VERIFY: &str = "/api/v1/auth/email/verify";
const RESEND: &str = "/api/v1/auth/email/verify/resend";
const RESET_SUBJECT: &str = "Reset your Veza password";
const VERIFY_SUBJECT: &str = "Confirm your e-mail address";

fn outbox(server: &TestServer) -> Mailbox {
    Mailbox::OutboxDir(server.outbox_dir())
}

fn email_of(username: &str) -> String {
    format!("{username}@example.com")
}

/// The audit actions recorded about `user_id`, oldest first.
async fn audit_actions(server: &TestServer, user_id: &str) -> Vec<String> {
    let filter =
        AuditFilter { target_id: Some(user_id.parse().unwrap()), ..AuditFilter::default() };
    let page = server.services.audit.list(&filter, PageRequest::first(100)).await.unwrap();
    page.items.into_iter().rev().map(|entry| entry.action).collect()
}

async fn forgot(server: &TestServer, email: &str) {
    let response = server.post(FORGOT, json!({"email": email})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{}", response.text().await.unwrap());
}

/// Requests a reset for `username` and returns the token from the mailed link.
async fn mailed_reset_token(server: &TestServer, mailbox: &Mailbox, username: &str) -> String {
    forgot(server, &email_of(username)).await;
    let mail = mailbox.wait_for(&email_of(username), RESET_SUBJECT).await;
    let prefix = format!("{}/reset-password?token=", server.base);
    link_and_token(&mail, &prefix).1
}

async fn reset(server: &TestServer, token: &str, password: &str) -> reqwest::Response {
    server.post(RESET, json!({"token": token, "new_password": password})).await
}

async fn change(server: &TestServer, access: &str, current: &str, new: &str) -> reqwest::Response {
    server
        .request(Method::POST, CHANGE)
        .bearer_auth(access)
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .unwrap()
}

async fn me(server: &TestServer, access: &str) -> serde_json::Value {
    expect_json(server.get_as("/api/v1/auth/me", access).await, StatusCode::OK).await
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_mailed_link_and_every_old_session_dies() {
    let server = TestServer::start().await;
    let first = server.register_as("forgetful").await;
    let second = server.login_ok("forgetful").await;
    let token = mailed_reset_token(&server, &outbox(&server), "forgetful").await;
    assert!(token.starts_with("vzp_"), "{token}");

    let response = reset(&server, &token, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for tokens in [&first, &second] {
        server.assert_access_rejected(&tokens.access).await;
        server.assert_refresh_rejected(&tokens.refresh, "invalid_refresh_token").await;
    }
    expect_problem(
        server.login("forgetful", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let signed_in =
        expect_json(server.login("forgetful", NEW_PASSWORD).await, StatusCode::OK).await;
    assert_eq!(signed_in["user"]["id"], first.user_id.as_str());

    let actions = audit_actions(&server, &first.user_id).await;
    for action in ["auth.password_reset_requested", "auth.password_reset"] {
        assert!(actions.iter().any(|a| a == action), "{action} missing from {actions:?}");
    }
}

#[tokio::test]
async fn a_reset_token_works_once() {
    let server = TestServer::start().await;
    server.register_as("once").await;
    let token = mailed_reset_token(&server, &outbox(&server), "once").await;
    assert_eq!(reset(&server, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    let again = reset(&server, &token, "yet another long passphrase").await;
    expect_problem(again, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    server.login_ok_with("once", NEW_PASSWORD).await;
}

#[tokio::test]
async fn an_expired_reset_token_is_refused() {
    let server = TestServer::start().await;
    let tokens = server.register_as("expired").await;
    // A token issued two hours ago with the 1-hour lifetime, written the way the service
    // writes one: no waiting for an hour.
    let issued = OffsetDateTime::now_utc() - Duration::hours(2);
    let token = format!("vzp_expired_{}", Uuid::new_v4().simple());
    let row = NewUserToken {
        hash: TokenHash::of(&token),
        user_id: tokens.user_id.parse().unwrap(),
        purpose: TokenPurpose::PasswordReset,
        email: Email::parse(&email_of("expired")).unwrap(),
        created_at: issued,
        expires_at: issued + Duration::hours(1),
    };
    let mail = NewMail {
        id: Uuid::now_v7(),
        mail: OutgoingMail {
            to: email_of("expired"),
            subject: "Crafted".into(),
            text_body: "crafted\n".into(),
            html_body: "<p>crafted</p>\n".into(),
        },
        queued_at: issued,
    };
    let store = Store::open(&server.settings).await.expect("second store handle");
    store.accounts().create_user_token(&row, &mail).await.expect("crafted token");

    let response = reset(&server, &token, NEW_PASSWORD).await;
    expect_problem(response, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    server.login_ok("expired").await;
}

#[tokio::test]
async fn forgot_for_an_unknown_address_answers_202_and_mails_nothing() {
    let server = TestServer::start().await;
    let mailbox = outbox(&server);
    server.register_as("known").await;
    forgot(&server, "nobody@example.com").await;
    forgot(&server, "NOBODY@EXAMPLE.COM").await;
    // The known account's reset mail was queued after the unknown requests; once it is out,
    // anything those requests had queued would be out too.
    forgot(&server, &email_of("known")).await;
    mailbox.wait_for(&email_of("known"), RESET_SUBJECT).await;
    assert!(mailbox.to("nobody@example.com").is_empty());
    assert_eq!(mailbox.all().len(), 2, "the known account's verification and reset mails only");
    let not_an_address = server.post(FORGOT, json!({"email": "not an address"})).await;
    expect_problem(not_an_address, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn a_weak_new_password_is_refused_and_the_reset_token_stays_usable() {
    let server = TestServer::start().await;
    server.register_as("weakling").await;
    let token = mailed_reset_token(&server, &outbox(&server), "weakling").await;
    for weak in ["short", "qwerty123456", "weakling-forever-and-ever"] {
        let problem = expect_problem(
            reset(&server, &token, weak).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "password");
    }
    assert_eq!(reset(&server, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn changing_the_password_revokes_other_sessions_but_keeps_this_one() {
    let server = TestServer::start().await;
    let here = server.register_as("changer").await;
    let elsewhere = server.login_ok("changer").await;

    let wrong = change(&server, &here.access, "not my password at all", NEW_PASSWORD).await;
    expect_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let weak = change(&server, &here.access, PASSWORD, "short").await;
    expect_problem(weak, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    server.get_as("/api/v1/auth/me", &elsewhere.access).await.error_for_status().unwrap();

    let changed = change(&server, &here.access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    me(&server, &here.access).await;
    let refreshed = expect_json(server.refresh(&here.refresh).await, StatusCode::OK).await;
    assert!(refreshed["access_token"].is_string(), "this session's refresh token still works");
    server.assert_access_rejected(&elsewhere.access).await;
    server.assert_refresh_rejected(&elsewhere.refresh, "invalid_refresh_token").await;
    expect_problem(
        server.login("changer", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    server.login_ok_with("changer", NEW_PASSWORD).await;
    let actions = audit_actions(&server, &here.user_id).await;
    assert!(actions.iter().any(|a| a == "auth.password_changed"), "{actions:?}");
}

#[tokio::test]
async fn a_password_change_spends_reset_links_mailed_before_it() {
    let server = TestServer::start().await;
    let tokens = server.register_as("cautious").await;
    let token = mailed_reset_token(&server, &outbox(&server), "cautious").await;
    let changed = change(&server, &tokens.access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let late = reset(&server, &token, "an attacker's chosen passphrase").await;
    expect_problem(late, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
}

#[tokio::test]
async fn wrong_current_passwords_are_rate_limited() {
    let server = TestServer::start().await;
    let tokens = server.register_as("guesser").await;
    for _ in 0..10 {
        let wrong = change(&server, &tokens.access, "a wrong guess here", NEW_PASSWORD).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = change(&server, &tokens.access, PASSWORD, NEW_PASSWORD).await;
    let problem = expect_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(problem["detail"].is_string());
}

#[tokio::test]
async fn the_verification_mail_confirms_the_address_and_me_shows_it() {
    let server = TestServer::start().await;
    let tokens = server.register_as("verifier").await;
    assert_eq!(me(&server, &tokens.access).await["email_verified"], false);
    let mail = outbox(&server).wait_for(&email_of("verifier"), VERIFY_SUBJECT).await;
    let prefix = format!("{}/verify-email?token=", server.base);
    let (_, token) = link_and_token(&mail, &prefix);
    assert!(token.starts_with("vze_"), "{token}");

    let verified = server.post(VERIFY, json!({"token": token})).await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&server, &tokens.access).await["email_verified"], true);
    let again = server.post(VERIFY, json!({"token": token})).await;
    expect_problem(again, StatusCode::BAD_REQUEST, "invalid_verification_token").await;
    let resend = server.post_as(RESEND, &tokens.access).await;
    expect_problem(resend, StatusCode::CONFLICT, "email_already_verified").await;
    let actions = audit_actions(&server, &tokens.user_id).await;
    assert!(actions.iter().any(|a| a == "auth.email_verified"), "{actions:?}");
}

#[tokio::test]
async fn a_resent_verification_link_works_and_resends_are_limited() {
    let server = TestServer::start().await;
    let mailbox = outbox(&server);
    let tokens = server.register_as("resender").await;
    mailbox.wait_for(&email_of("resender"), VERIFY_SUBJECT).await;
    // Five mails an hour: the sign-up mail and four resends.
    for _ in 0..4 {
        let resent = server.post_as(RESEND, &tokens.access).await;
        assert_eq!(resent.status(), StatusCode::ACCEPTED);
    }
    let limited = server.post_as(RESEND, &tokens.access).await;
    assert!(limited.headers().contains_key("retry-after"));
    expect_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    let mails = mailbox.wait_for_count(&email_of("resender"), VERIFY_SUBJECT, 5).await;
    let prefix = format!("{}/verify-email?token=", server.base);
    let newest = link_and_token(mails.last().unwrap(), &prefix).1;
    let verified = server.post(VERIFY, json!({"token": newest})).await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    let older = link_and_token(&mails[0], &prefix).1;
    let spent = server.post(VERIFY, json!({"token": older})).await;
    expect_problem(spent, StatusCode::BAD_REQUEST, "invalid_verification_token").await;
}

#[tokio::test]
async fn mails_have_text_and_html_parts_and_links_built_from_the_public_url() {
    let options =
        Options { public_url: Some("https://veza.example/app".into()), ..Options::default() };
    let server = TestServer::start_with_options(options).await;
    let mailbox = outbox(&server);
    let tokens = server.register_as("linked").await;
    forgot(&server, &email_of("linked")).await;

    let verification = mailbox.wait_for(&email_of("linked"), VERIFY_SUBJECT).await;
    let reset_mail = mailbox.wait_for(&email_of("linked"), RESET_SUBJECT).await;
    for (mail, prefix) in [
        (&verification, "https://veza.example/app/verify-email?token=vze_"),
        (&reset_mail, "https://veza.example/app/reset-password?token=vzp_"),
    ] {
        let content_type = mail.header("content-type").unwrap();
        assert!(content_type.starts_with("multipart/alternative"), "{content_type}");
        assert!(mail.header("from").unwrap().contains("no-reply@localhost"));
        assert!(mail.header("message-id").is_some() && mail.header("date").is_some());
        let (link, token) = link_and_token(mail, prefix);
        assert_eq!(token.len(), "vze_".len() + 43, "{link}");
        assert!(mail.text().unwrap().contains("Hello linked,"));
        assert!(mail.html().unwrap().contains("<p>Hello linked,</p>"));
    }
    assert!(reset_mail.text().unwrap().contains("within 1 hour"));
    assert!(verification.text().unwrap().contains("within 48 hours"));
    me(&server, &tokens.access).await;
}

#[tokio::test]
async fn display_names_are_escaped_in_the_html_part() {
    let server = TestServer::start().await;
    let body = json!({"email": "markup@example.com", "username": "markup",
        "password": PASSWORD, "display_name": "<script>alert(1)</script> & Zoë"});
    expect_json(server.post("/api/v1/auth/register", body).await, StatusCode::CREATED).await;
    let mail = outbox(&server).wait_for("markup@example.com", VERIFY_SUBJECT).await;
    let html = mail.html().unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Zoë"), "{html}");
    assert!(mail.text().unwrap().contains("Hello <script>alert(1)</script> & Zoë,"));
}

#[tokio::test]
async fn hostile_tokens_get_stable_problems_never_a_500() {
    let server = TestServer::start().await;
    let huge = "x".repeat(10 * 1024);
    let vzp_huge = format!("vzp_{huge}");
    let hostile = [
        "",
        "   ",
        huge.as_str(),
        vzp_huge.as_str(),
        "vzp_does-not-exist",
        "vze_does-not-exist",
        "\u{0}",
        "vzp_\u{0}\u{1}",
        "../../etc/passwd",
        "' OR '1'='1",
        "🎧🎧🎧",
    ];
    for token in hostile {
        let response = reset(&server, token, NEW_PASSWORD).await;
        expect_problem(response, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
        let response = server.post(VERIFY, json!({"token": token})).await;
        expect_problem(response, StatusCode::BAD_REQUEST, "invalid_verification_token").await;
    }
    for body in [
        json!({"token": 12}),
        json!({"token": null}),
        json!({}),
        json!({"token": "vze_x", "extra": true}),
        json!("vze_x"),
    ] {
        let response = server.post(VERIFY, body).await;
        expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    }
    let missing_password = server.post(RESET, json!({"token": "vzp_x"})).await;
    expect_problem(missing_password, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[tokio::test]
async fn hostile_addresses_and_passwords_get_stable_problems_never_a_500() {
    let server = TestServer::start().await;
    let tokens = server.register_as("sturdy").await;
    let huge = format!("{}@example.com", "a".repeat(10 * 1024));
    for email in [huge.as_str(), "", "nul\u{0}@example.com", "a@b", "<script>@x.y"] {
        let response = server.post(FORGOT, json!({"email": email})).await;
        expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let typed = server.post(FORGOT, json!({"email": ["sturdy@example.com"]})).await;
    expect_problem(typed, StatusCode::BAD_REQUEST, "malformed_request").await;

    let huge_password = "p".repeat(10 * 1024);
    let response = change(&server, &tokens.access, &huge_password, NEW_PASSWORD).await;
    expect_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let response = change(&server, &tokens.access, PASSWORD, &huge_password).await;
    expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    let anonymous = server
        .request(Method::POST, CHANGE)
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let anonymous_resend = server.request(Method::POST, RESEND).send().await.unwrap();
    expect_problem(anonymous_resend, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    server.login_ok("sturdy").await;
}

#[tokio::test]
async fn over_real_smtp_a_forgotten_password_is_reset_with_the_mailed_link() {
    let Some((smtp_url, maildir)) = test_smtp_server() else { return };
    let server =
        TestServer::start_with_options(Options { smtp_url: Some(smtp_url), ..Options::default() })
            .await;
    let mailbox = Mailbox::Maildir(maildir);
    // The Maildir outlives test runs: a unique name keeps this run's mails apart.
    let username = format!("smtp{}", &Uuid::now_v7().simple().to_string()[20..]);
    let tokens = server.register_as(&username).await;

    let verification = mailbox.wait_for(&email_of(&username), VERIFY_SUBJECT).await;
    let (_, verify_token) =
        link_and_token(&verification, &format!("{}/verify-email?token=", server.base));
    let verified = server.post(VERIFY, json!({"token": verify_token})).await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);

    let token = mailed_reset_token(&server, &mailbox, &username).await;
    assert_eq!(reset(&server, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    server.assert_access_rejected(&tokens.access).await;
    let signed_in = server.login_ok_with(&username, NEW_PASSWORD).await;
    assert_eq!(me(&server, &signed_in.access).await["email_verified"], true);
    let reused = reset(&server, &token, "yet another long passphrase").await;
    expect_problem(reused, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
}

#[tokio::test]
async fn with_the_smtp_server_down_mail_waits_in_the_outbox_and_requests_still_succeed() {
    // Nothing listens on the discard port of loopback: every send is refused.
    let options = Options { smtp_url: Some("smtp://127.0.0.1:9".into()), ..Options::default() };
    let server = TestServer::start_with_options(options).await;
    let tokens = server.register_as("patient").await;
    forgot(&server, &email_of("patient")).await;
    me(&server, &tokens.access).await;
    // A relay started later (as after a restart) finds both mails still queued, each with
    // the error of its failed attempt, and delivers them.
    let store = Store::open(&server.settings).await.expect("second store handle");
    let accounts = store.accounts();
    let dir = tempfile::tempdir().unwrap();
    let mailer = veza_adapters::mail::OutboxDirMailer::new(
        dir.path(),
        veza_adapters::mail::parse_sender("Veza <no-reply@localhost>").unwrap(),
    );
    let later = Arc::new(veza_core::clock::ManualClock::new(OffsetDateTime::now_utc()));
    let relay = veza_core::mail::MailRelay::new(
        accounts,
        Arc::new(mailer),
        later.clone(),
        veza_core::mail::RelayConfig::default(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut delivered = 0;
    while delivered < 2 {
        assert!(std::time::Instant::now() < deadline, "only {delivered} of 2 mails delivered");
        later.advance(Duration::minutes(5));
        delivered += relay.deliver_due().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let mailbox = Mailbox::OutboxDir(dir.path().to_path_buf());
    mailbox.wait_for(&email_of("patient"), VERIFY_SUBJECT).await;
    mailbox.wait_for(&email_of("patient"), RESET_SUBJECT).await;
}
