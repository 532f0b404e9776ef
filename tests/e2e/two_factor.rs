//! Two-factor authentication over HTTP: setup, enable, the challenge step of login, disable,
//! and the hostile cases (replayed TOTP codes, reused recovery codes, forged, foreign and
//! expired challenge tokens, guessing). Codes come from totp-rs with the secret setup returned.
//! Most tests run the server on a `ManualClock` and step it a TOTP window at a time, so no
//! test waits for, or races, a real 30-second boundary.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use totp_rs::{Builder, Secret, Totp};
use veza_core::audit::{Actor, AuditAction, AuditFilter};
use veza_core::clock::{Clock, ManualClock};
use veza_core::pagination::PageRequest;

use crate::support::{JWT_SECRET, PASSWORD, TestServer, Tokens, expect_json, expect_problem};
use crate::tokens::claims_of;

/// One TOTP window.
const STEP: Duration = Duration::seconds(30);

/// An account with two-factor authentication on.
pub struct TwoFactorAccount {
    pub tokens: Tokens,
    pub totp: Totp,
    pub recovery_codes: Vec<String>,
}

pub async fn clocked_server() -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    (TestServer::start_with_clock(Arc::clone(&clock)).await, clock)
}

fn totp_from(secret: &str) -> Totp {
    let bytes = Secret::try_from_base32(secret).expect("base32 secret").as_bytes().to_vec();
    Builder::new().with_secret(bytes).build().expect("a valid TOTP secret")
}

pub fn code_at(totp: &Totp, at: OffsetDateTime) -> String {
    totp.generate(u64::try_from(at.unix_timestamp()).expect("after 1970")).to_string()
}

/// A well-formed code that is valid at no step the server accepts around `at`.
fn wrong_code(totp: &Totp, at: OffsetDateTime) -> String {
    let valid = [at - STEP, at, at + STEP].map(|t| code_at(totp, t));
    (0..4).map(|d| d.to_string().repeat(6)).find(|c| !valid.contains(c)).expect("a free code")
}

/// A code valid for `totp` now and for no step `other` accepts. Two random secrets agree on
/// a code about once in a million; then the clock moves on past both windows.
fn code_only_for(totp: &Totp, other: &Totp, clock: &ManualClock) -> String {
    loop {
        let now = clock.now();
        let code = code_at(totp, now);
        if ![now - STEP, now, now + STEP].iter().any(|t| code_at(other, *t) == code) {
            return code;
        }
        clock.advance(STEP * 3);
    }
}

pub async fn post_json_as(server: &TestServer, path: &str, access: &str, body: Value) -> Response {
    server.request(Method::POST, path).bearer_auth(access).json(&body).send().await.unwrap()
}

async fn audit_count(server: &TestServer, user_id: &str, action: AuditAction) -> usize {
    let filter = AuditFilter {
        target_id: Some(user_id.parse().unwrap()),
        action: Some(action.as_str().to_owned()),
        ..AuditFilter::default()
    };
    server.services.audit.list(&filter, PageRequest::first(100)).await.unwrap().items.len()
}

/// Runs setup and returns the secret; asserts the setup body's shape.
async fn setup(server: &TestServer, access: &str) -> String {
    let body =
        expect_json(server.post_as("/api/v1/auth/2fa/setup", access).await, StatusCode::OK).await;
    body["secret"].as_str().expect("secret").to_owned()
}

/// Registers `name` and turns two-factor authentication on with a code taken at `at`.
pub async fn with_two_factor(
    server: &TestServer,
    name: &str,
    at: OffsetDateTime,
) -> TwoFactorAccount {
    let tokens = server.register_as(name).await;
    let totp = totp_from(&setup(server, &tokens.access).await);
    let response = post_json_as(
        server,
        "/api/v1/auth/2fa/enable",
        &tokens.access,
        json!({"code": code_at(&totp, at)}),
    )
    .await;
    let body = expect_json(response, StatusCode::OK).await;
    let recovery_codes = body["recovery_codes"]
        .as_array()
        .expect("recovery_codes")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    TwoFactorAccount { tokens, totp, recovery_codes }
}

/// Logs in with the right password; asserts the answer is a challenge and returns its token.
pub async fn challenge(server: &TestServer, login: &str) -> String {
    let body = expect_json(server.login(login, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(body["two_factor_required"], true, "{body}");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none(), "{body}");
    body["challenge_token"].as_str().expect("challenge_token").to_owned()
}

pub async fn verify(server: &TestServer, challenge: &str, code: &str) -> Response {
    server
        .post("/api/v1/auth/2fa/verify", json!({"challenge_token": challenge, "code": code}))
        .await
}

#[tokio::test]
async fn setting_up_enabling_and_signing_in_with_a_second_factor_works_on_the_real_clock() {
    let server = TestServer::start().await;
    let tokens = server.register_as("ana2fa").await;
    let me =
        expect_json(server.get_as("/api/v1/auth/me", &tokens.access).await, StatusCode::OK).await;
    assert_eq!(me["two_factor_enabled"], false);

    let body =
        expect_json(server.post_as("/api/v1/auth/2fa/setup", &tokens.access).await, StatusCode::OK)
            .await;
    let secret = body["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Veza:ana2fa%40example.com?"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=Veza"), "{uri}");
    let me =
        expect_json(server.get_as("/api/v1/auth/me", &tokens.access).await, StatusCode::OK).await;
    assert_eq!(me["two_factor_enabled"], false, "not active before enable");

    let code = totp_from(secret).generate_current().to_string();
    let response =
        post_json_as(&server, "/api/v1/auth/2fa/enable", &tokens.access, json!({"code": code}))
            .await;
    let codes = expect_json(response, StatusCode::OK).await["recovery_codes"].clone();
    let codes: Vec<&str> = codes.as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10, "distinct");
    for code in &codes {
        assert_eq!(code.len(), 11, "{code}");
        assert!(code.chars().all(|c| c == '-' || "23456789ABCDEFGHJKMNPQRSTUVWXYZ".contains(c)));
    }
    let me =
        expect_json(server.get_as("/api/v1/auth/me", &tokens.access).await, StatusCode::OK).await;
    assert_eq!(me["two_factor_enabled"], true);

    let token = challenge(&server, "ana2fa").await;
    assert_eq!(claims_of(&token)["aud"], "veza-2fa-challenge");
    let body = expect_json(verify(&server, &token, codes[0]).await, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["two_factor_enabled"], true);
    let access = body["access_token"].as_str().unwrap();
    expect_json(server.get_as("/api/v1/auth/me", access).await, StatusCode::OK).await;

    let user_id = &tokens.user_id;
    assert_eq!(audit_count(&server, user_id, AuditAction::TwoFactorEnabled).await, 1);
    assert_eq!(audit_count(&server, user_id, AuditAction::RecoveryCodeUsed).await, 1);
    assert_eq!(
        audit_count(&server, user_id, AuditAction::Login).await,
        1,
        "only the completed one"
    );
}

#[tokio::test]
async fn a_replayed_totp_code_is_refused_and_a_later_step_is_accepted() {
    let (server, clock) = clocked_server().await;
    let account = with_two_factor(&server, "replay", clock.now()).await;
    let enabling_code = code_at(&account.totp, clock.now());

    let token = challenge(&server, "replay").await;
    let replay = verify(&server, &token, &enabling_code).await;
    expect_problem(replay, StatusCode::UNAUTHORIZED, "invalid_code").await;

    clock.advance(STEP);
    let next = code_at(&account.totp, clock.now());
    expect_json(verify(&server, &token, &next).await, StatusCode::OK).await;
    let token = challenge(&server, "replay").await;
    expect_problem(verify(&server, &token, &next).await, StatusCode::UNAUTHORIZED, "invalid_code")
        .await;
    let older = verify(&server, &token, &enabling_code).await;
    expect_problem(older, StatusCode::UNAUTHORIZED, "invalid_code").await;
    assert_eq!(
        audit_count(&server, &account.tokens.user_id, AuditAction::TwoFactorFailed).await,
        3
    );
}

#[tokio::test]
async fn racing_verifies_with_one_code_sign_in_exactly_once() {
    let (server, clock) = clocked_server().await;
    let account = with_two_factor(&server, "racer", clock.now()).await;
    clock.advance(STEP);
    let code = code_at(&account.totp, clock.now());
    let token = challenge(&server, "racer").await;
    let body = json!({"challenge_token": token, "code": code});
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(server.request(Method::POST, "/api/v1/auth/2fa/verify").json(&body).send())
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap().unwrap().status());
    }
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(won, 1, "one code, one sign-in: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn a_recovery_code_works_once_in_any_case_with_or_without_its_dash() {
    let (server, clock) = clocked_server().await;
    let account = with_two_factor(&server, "recover", clock.now()).await;
    let first = account.recovery_codes[0].to_lowercase().replace('-', "");

    let token = challenge(&server, "recover").await;
    expect_json(verify(&server, &token, &first).await, StatusCode::OK).await;
    let token = challenge(&server, "recover").await;
    let reused = verify(&server, &token, &account.recovery_codes[0]).await;
    expect_problem(reused, StatusCode::UNAUTHORIZED, "invalid_code").await;
    expect_json(verify(&server, &token, &account.recovery_codes[1]).await, StatusCode::OK).await;
    let user_id = &account.tokens.user_id;
    assert_eq!(audit_count(&server, user_id, AuditAction::RecoveryCodeUsed).await, 2);
}

fn sign(claims: &Value, alg: Algorithm, key: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

#[tokio::test]
async fn forged_or_foreign_challenge_tokens_are_refused_and_an_honest_one_is_accepted() {
    let (server, clock) = clocked_server().await;
    let account = with_two_factor(&server, "forger", clock.now()).await;
    clock.advance(STEP);
    let code = code_at(&account.totp, clock.now());
    let genuine = claims_of(&challenge(&server, "forger").await);
    let with = |patch: Value| {
        let mut claims = genuine.clone();
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let key = JWT_SECRET.as_bytes();
    let chat = expect_json(
        server.post_as("/api/v1/auth/chat/token", &account.tokens.access).await,
        StatusCode::OK,
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&genuine).unwrap());
    let now = clock.now().unix_timestamp();
    let forgeries = [
        ("garbage", "not.a.jwt".to_owned()),
        ("an access token", account.tokens.access.clone()),
        ("a chat token", chat),
        ("access audience", sign(&with(json!({"aud": "veza-api"})), Algorithm::HS256, key)),
        ("wrong key", sign(&genuine, Algorithm::HS256, b"another-secret-of-at-least-32-bytes!!")),
        ("other algorithm", sign(&genuine, Algorithm::HS512, key)),
        ("alg none", format!("{header_none}.{payload}.")),
        ("wrong issuer", sign(&with(json!({"iss": "someone-else"})), Algorithm::HS256, key)),
        ("expired", sign(&with(json!({"exp": now - 1})), Algorithm::HS256, key)),
        ("old token version", sign(&with(json!({"ver": -1})), Algorithm::HS256, key)),
        (
            "unknown account",
            sign(&with(json!({"sub": uuid::Uuid::now_v7()})), Algorithm::HS256, key),
        ),
        ("oversized", "a".repeat(5000)),
    ];
    for (what, token) in forgeries {
        let response = verify(&server, &token, &code).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what} was accepted");
        expect_problem(response, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
    }
    let challenge_as_access = sign(&genuine, Algorithm::HS256, key);
    server.assert_access_rejected(&challenge_as_access).await;

    let honest = sign(&with(json!({"iat": now, "exp": now + 60})), Algorithm::HS256, key);
    expect_json(verify(&server, &honest, &code).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_challenge_token_lasts_five_minutes() {
    let (server, clock) = clocked_server().await;
    let account = with_two_factor(&server, "expiry", clock.now()).await;
    let token = challenge(&server, "expiry").await;
    clock.advance(Duration::seconds(299));
    expect_json(
        verify(&server, &token, &code_at(&account.totp, clock.now())).await,
        StatusCode::OK,
    )
    .await;

    let token = challenge(&server, "expiry").await;
    clock.advance(Duration::minutes(5));
    let late = verify(&server, &token, &code_at(&account.totp, clock.now())).await;
    expect_problem(late, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
}

#[tokio::test]
async fn a_challenge_token_is_bound_to_its_account_and_token_version() {
    let (server, clock) = clocked_server().await;
    let ana = with_two_factor(&server, "bound_ana", clock.now()).await;
    let bob = with_two_factor(&server, "bound_bob", clock.now()).await;
    clock.advance(STEP);
    let bob_code = code_only_for(&bob.totp, &ana.totp, &clock);

    let ana_token = challenge(&server, "bound_ana").await;
    let crossed = verify(&server, &ana_token, &bob_code).await;
    expect_problem(crossed, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let bob_token = challenge(&server, "bound_bob").await;
    expect_json(verify(&server, &bob_token, &bob_code).await, StatusCode::OK).await;

    let response = server.post_as("/api/v1/auth/logout-all", &ana.tokens.access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let stale = verify(&server, &ana_token, &code_at(&ana.totp, clock.now())).await;
    expect_problem(stale, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
}

#[tokio::test]
async fn wrong_codes_are_limited_to_ten_per_fifteen_minutes_per_account() {
    let (server, clock) = clocked_server().await;
    let account = with_two_factor(&server, "guesser", clock.now()).await;
    clock.advance(STEP);
    let token = challenge(&server, "guesser").await;
    let wrong = wrong_code(&account.totp, clock.now());
    for attempt in 1..=10 {
        let response = verify(&server, &token, &wrong).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let right = code_at(&account.totp, clock.now());
    let limited = verify(&server, &token, &right).await;
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    expect_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let user_id = &account.tokens.user_id;
    assert_eq!(audit_count(&server, user_id, AuditAction::TwoFactorFailed).await, 10);

    clock.advance(Duration::minutes(15));
    let token = challenge(&server, "guesser").await;
    let fresh = code_at(&account.totp, clock.now());
    expect_json(verify(&server, &token, &fresh).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_second_setup_replaces_the_pending_secret_and_none_is_allowed_once_enabled() {
    let (server, clock) = clocked_server().await;
    let tokens = server.register_as("resetup").await;
    let access = tokens.access.as_str();
    let first = totp_from(&setup(&server, access).await);
    let second = totp_from(&setup(&server, access).await);
    let stale_code = code_only_for(&first, &second, &clock);
    let response =
        post_json_as(&server, "/api/v1/auth/2fa/enable", access, json!({"code": stale_code})).await;
    expect_problem(response, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let me = expect_json(server.get_as("/api/v1/auth/me", access).await, StatusCode::OK).await;
    assert_eq!(me["two_factor_enabled"], false, "a wrong code changes nothing");

    let code = code_at(&second, clock.now());
    let response =
        post_json_as(&server, "/api/v1/auth/2fa/enable", access, json!({"code": code})).await;
    expect_json(response, StatusCode::OK).await;
    let again = server.post_as("/api/v1/auth/2fa/setup", access).await;
    expect_problem(again, StatusCode::CONFLICT, "two_factor_already_enabled").await;
    let response =
        post_json_as(&server, "/api/v1/auth/2fa/enable", access, json!({"code": code})).await;
    expect_problem(response, StatusCode::CONFLICT, "two_factor_already_enabled").await;

    let other = server.register_as("nosetup").await;
    let response =
        post_json_as(&server, "/api/v1/auth/2fa/enable", &other.access, json!({"code": "123456"}))
            .await;
    expect_problem(response, StatusCode::CONFLICT, "two_factor_setup_required").await;
    let response = post_json_as(
        &server,
        "/api/v1/auth/2fa/disable",
        &other.access,
        json!({"password": PASSWORD, "code": "123456"}),
    )
    .await;
    expect_problem(response, StatusCode::CONFLICT, "two_factor_not_enabled").await;
}

#[tokio::test]
async fn disabling_needs_the_password_and_a_code_and_ends_pending_challenges() {
    let (server, clock) = clocked_server().await;
    let account = with_two_factor(&server, "disabler", clock.now()).await;
    let access = account.tokens.access.as_str();
    let pending = challenge(&server, "disabler").await;
    clock.advance(STEP);
    let code = code_at(&account.totp, clock.now());
    let disable = |password: &str, code: &str| {
        post_json_as(
            &server,
            "/api/v1/auth/2fa/disable",
            access,
            json!({"password": password, "code": code}),
        )
    };

    let response = disable("not the password at all", &code).await;
    expect_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let response = disable(PASSWORD, &wrong_code(&account.totp, clock.now())).await;
    expect_problem(response, StatusCode::UNAUTHORIZED, "invalid_code").await;
    assert_eq!(disable(PASSWORD, &code).await.status(), StatusCode::NO_CONTENT);

    let me = expect_json(server.get_as("/api/v1/auth/me", access).await, StatusCode::OK).await;
    assert_eq!(me["two_factor_enabled"], false);
    server.login_ok("disabler").await;
    clock.advance(STEP);
    let late = verify(&server, &pending, &code_at(&account.totp, clock.now())).await;
    expect_problem(late, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
    let user_id = &account.tokens.user_id;
    assert_eq!(audit_count(&server, user_id, AuditAction::TwoFactorDisabled).await, 1);
    assert_eq!(audit_count(&server, user_id, AuditAction::TwoFactorFailed).await, 2);

    let other = with_two_factor(&server, "disabler2", clock.now()).await;
    let response = post_json_as(
        &server,
        "/api/v1/auth/2fa/disable",
        &other.tokens.access,
        json!({"password": PASSWORD, "code": other.recovery_codes[9]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "a recovery code disables too");
}

#[tokio::test]
async fn two_factor_changes_need_a_signed_in_caller_and_well_formed_bodies() {
    let server = TestServer::start().await;
    for path in ["/api/v1/auth/2fa/setup", "/api/v1/auth/2fa/enable", "/api/v1/auth/2fa/disable"] {
        let response = server.post(path, json!({"code": "123456", "password": PASSWORD})).await;
        expect_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    let extra = json!({"challenge_token": "x", "code": "123456", "admin": true});
    let response = server.post("/api/v1/auth/2fa/verify", extra).await;
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[tokio::test]
async fn a_challenge_for_an_account_suspended_since_is_refused() {
    let (server, clock) = clocked_server().await;
    let account = with_two_factor(&server, "suspect", clock.now()).await;
    let token = challenge(&server, "suspect").await;
    server.services.users.set_suspended("suspect", true, &Actor::operator()).await.unwrap();
    clock.advance(STEP);
    let response = verify(&server, &token, &code_at(&account.totp, clock.now())).await;
    expect_problem(response, StatusCode::FORBIDDEN, "account_suspended").await;
}
