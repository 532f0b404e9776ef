//! Register, log in, refresh, log out, sessions, me, chat token.

use reqwest::{Method, StatusCode};
use serde_json::json;
use veza_core::audit::Actor;

use crate::support::{PASSWORD, TestServer, expect_json, expect_problem};

#[tokio::test]
async fn registering_answers_201_with_tokens_and_me_shows_the_account() {
    let server = TestServer::start().await;
    let response = server
        .post(
            "/api/v1/auth/register",
            json!({"email": "Ana@Example.com", "username": "Ana_B", "password": PASSWORD, "display_name": " Ana B "}),
        )
        .await;
    let body = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().starts_with("vzr_"));
    let user = &body["user"];
    assert_eq!(user["email"], "ana@example.com");
    assert_eq!(user["username"], "Ana_B");
    assert_eq!(user["display_name"], "Ana B");
    assert_eq!(user["role"], "listener");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["two_factor_enabled"], false);
    assert!(user.get("password_hash").is_none());

    let access = body["access_token"].as_str().unwrap();
    let me = expect_json(server.get_as("/api/v1/auth/me", access).await, StatusCode::OK).await;
    assert_eq!(me, *user);
}

#[tokio::test]
async fn a_taken_email_or_username_is_a_409_with_its_code() {
    let server = TestServer::start().await;
    server.register_as("taken").await;
    let same_email =
        json!({"email": "TAKEN@example.com", "username": "other1", "password": PASSWORD});
    expect_problem(
        server.post("/api/v1/auth/register", same_email).await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    let same_name = json!({"email": "new@example.com", "username": "TaKeN", "password": PASSWORD});
    expect_problem(
        server.post("/api/v1/auth/register", same_name).await,
        StatusCode::CONFLICT,
        "username_taken",
    )
    .await;
}

#[tokio::test]
async fn weak_passwords_are_422_and_create_nothing() {
    let server = TestServer::start().await;
    for password in ["short-pw", "qwerty123456", "my ana_weak password", "ana_weak@example.com!!"] {
        let body =
            json!({"email": "ana_weak@example.com", "username": "ana_weak", "password": password});
        let problem = expect_problem(
            server.post("/api/v1/auth/register", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "password");
    }
    assert!(server.services.users.find("ana_weak").await.is_err(), "no account was created");
}

#[tokio::test]
async fn invalid_fields_are_all_reported_at_once() {
    let server = TestServer::start().await;
    let body =
        json!({"email": "not-an-email", "username": "a", "password": PASSWORD, "display_name": ""});
    let problem = expect_problem(
        server.post("/api/v1/auth/register", body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let mut fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["display_name", "email", "username"]);
}

#[tokio::test]
async fn login_works_by_email_or_username_in_any_case() {
    let server = TestServer::start().await;
    let registered = server.register_as("Logan").await;
    for login in ["logan@example.com", "LOGAN@EXAMPLE.COM", "logan", " Logan "] {
        let tokens = server.login_ok(login).await;
        assert_eq!(tokens.user_id, registered.user_id, "login {login:?}");
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let server = TestServer::start().await;
    server.register_as("known").await;
    let wrong = expect_problem(
        server.login("known", "wrong password here").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = expect_problem(
        server.login("nobody-at-all", "wrong password here").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn a_refresh_rotates_and_reusing_the_old_token_revokes_the_session() {
    let server = TestServer::start().await;
    let first = server.register_as("rotor").await;

    let rotated = expect_json(server.refresh(&first.refresh).await, StatusCode::OK).await;
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    let second_access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first.refresh);
    expect_json(server.get_as("/api/v1/auth/me", &second_access).await, StatusCode::OK).await;

    // The old token again: reuse. The whole session dies, including the newer tokens.
    server.assert_refresh_rejected(&first.refresh, "refresh_token_reused").await;
    server.assert_refresh_rejected(&second_refresh, "invalid_refresh_token").await;
    server.assert_access_rejected(&second_access).await;
    server.assert_access_rejected(&first.access).await;
}

#[tokio::test]
async fn an_unknown_or_garbage_refresh_token_is_401() {
    let server = TestServer::start().await;
    for token in ["vzr_never-issued", "", &"x".repeat(10_000)] {
        server.assert_refresh_rejected(token, "invalid_refresh_token").await;
    }
}

#[tokio::test]
async fn logout_ends_the_session_and_its_tokens() {
    let server = TestServer::start().await;
    let tokens = server.register_as("leaver").await;
    let other = server.login_ok("leaver").await;
    let response = server.post_as("/api/v1/auth/logout", &tokens.access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    server.assert_refresh_rejected(&tokens.refresh, "invalid_refresh_token").await;
    server.assert_access_rejected(&tokens.access).await;
    // Another device stays signed in.
    expect_json(server.get_as("/api/v1/auth/me", &other.access).await, StatusCode::OK).await;
}

#[tokio::test]
async fn logout_all_rejects_every_access_token_already_issued() {
    let server = TestServer::start().await;
    let phone = server.register_as("everywhere").await;
    let laptop = server.login_ok("everywhere").await;
    let response = server.post_as("/api/v1/auth/logout-all", &laptop.access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for tokens in [&phone, &laptop] {
        server.assert_access_rejected(&tokens.access).await;
        server.assert_refresh_rejected(&tokens.refresh, "invalid_refresh_token").await;
    }
    // Signing in again works, with the bumped token version.
    let fresh = server.login_ok("everywhere").await;
    expect_json(server.get_as("/api/v1/auth/me", &fresh.access).await, StatusCode::OK).await;
}

#[tokio::test]
async fn sessions_are_listed_paginated_and_revocable_by_their_owner_only() {
    let server = TestServer::start().await;
    let first = server.register_as("multi").await;
    let second = server.login_ok("multi").await;
    let stranger = server.register_as("stranger").await;

    let list =
        expect_json(server.get_as("/api/v1/auth/sessions", &second.access).await, StatusCode::OK)
            .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(list["next_cursor"], serde_json::Value::Null);
    assert_eq!(items[0]["current"], true, "newest first, and it is this one");
    assert_eq!(items[1]["current"], false);
    assert_eq!(items[0]["ip"], "127.0.0.1");
    for field in ["id", "created_at", "last_used_at", "user_agent"] {
        assert!(items[0].get(field).is_some(), "missing {field}");
    }

    let page = expect_json(
        server.get_as("/api/v1/auth/sessions?limit=1", &second.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a cursor to the next page");
    let rest = expect_json(
        server
            .get_as(&format!("/api/v1/auth/sessions?limit=1&cursor={cursor}"), &second.access)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["items"][0]["id"], items[1]["id"]);
    assert_eq!(rest["next_cursor"], serde_json::Value::Null);

    let first_id = items[1]["id"].as_str().unwrap();
    let path = format!("/api/v1/auth/sessions/{first_id}");
    let stranger_try =
        server.request(Method::DELETE, &path).bearer_auth(&stranger.access).send().await.unwrap();
    expect_problem(stranger_try, StatusCode::NOT_FOUND, "not_found").await;
    let revoke =
        server.request(Method::DELETE, &path).bearer_auth(&second.access).send().await.unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    server.assert_access_rejected(&first.access).await;
    let again =
        server.request(Method::DELETE, &path).bearer_auth(&second.access).send().await.unwrap();
    expect_problem(again, StatusCode::NOT_FOUND, "not_found").await;
    let bogus = server
        .request(Method::DELETE, "/api/v1/auth/sessions/not-a-uuid")
        .bearer_auth(&second.access)
        .send()
        .await
        .unwrap();
    expect_problem(bogus, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn bad_pagination_is_a_400() {
    let server = TestServer::start().await;
    let tokens = server.register_as("pager").await;
    for query in ["limit=0", "limit=101", "limit=abc", "cursor=%25%25", "cursor=AAAA", "bogus=1"] {
        let response =
            server.get_as(&format!("/api/v1/auth/sessions?{query}"), &tokens.access).await;
        let status = response.status();
        assert_eq!(status, StatusCode::BAD_REQUEST, "query {query}");
    }
}

#[tokio::test]
async fn a_suspended_user_cannot_log_in_and_their_tokens_stop_working() {
    let server = TestServer::start().await;
    let tokens = server.register_as("suspect").await;
    server.services.users.set_suspended("suspect", true, &Actor::operator()).await.unwrap();
    server.assert_access_rejected(&tokens.access).await;
    server.assert_refresh_rejected(&tokens.refresh, "invalid_refresh_token").await;
    expect_problem(
        server.login("suspect", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    // A wrong password says nothing about the suspension.
    expect_problem(
        server.login("suspect", "wrong password here").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    server.services.users.set_suspended("suspect", false, &Actor::operator()).await.unwrap();
    server.login_ok("suspect").await;
}

#[tokio::test]
async fn eleven_failed_logins_are_refused_with_retry_after() {
    let server = TestServer::start().await;
    server.register_as("target").await;
    for attempt in 1..=10 {
        let response = server.login("target", "wrong password here").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let limited = server.login("target", PASSWORD).await;
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "Retry-After {retry_after}");
    expect_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn failures_across_accounts_from_one_ip_are_limited_too() {
    let server = TestServer::start().await;
    server.register_as("victim").await;
    for attempt in 0..10 {
        let response = server.login(&format!("guess{attempt}"), "wrong password here").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    expect_problem(
        server.login("victim", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

#[tokio::test]
async fn a_chat_token_is_a_five_minute_jwt_for_the_chat_audience() {
    let server = TestServer::start().await;
    let tokens = server.register_as("chatty").await;
    let body = expect_json(
        server.post_as("/api/v1/auth/chat/token", &tokens.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["expires_in"], 300);
    let claims = crate::tokens::claims_of(body["token"].as_str().unwrap());
    assert_eq!(claims["aud"], "veza-chat");
    assert_eq!(claims["sub"].as_str().unwrap(), tokens.user_id);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
    // It is not an API token.
    let as_api = server.get_as("/api/v1/auth/me", body["token"].as_str().unwrap()).await;
    expect_problem(as_api, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn endpoints_behind_auth_say_how_to_authenticate() {
    let server = TestServer::start().await;
    let response = server.request(Method::GET, "/api/v1/auth/me").send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    expect_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let basic = server
        .request(Method::GET, "/api/v1/auth/me")
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    expect_problem(basic, StatusCode::UNAUTHORIZED, "invalid_token").await;
}
