//! `/api/v1/admin`: who may do what, role changes and suspensions taking effect at once,
//! user search, and an audit log that records every security event.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use veza_core::users::{CreateUser, Role};

use crate::support::{PASSWORD, TestServer, Tokens, expect_json, expect_problem};

async fn staff(server: &TestServer, username: &str, role: Role) -> Tokens {
    let cmd = CreateUser {
        email: format!("{username}@example.com"),
        username: username.into(),
        password: PASSWORD.into(),
        display_name: None,
        role,
    };
    server.services.users.create(cmd).await.unwrap();
    server.login_ok(username).await
}

async fn put_role(server: &TestServer, by: &str, user_id: &str, role: &str) -> reqwest::Response {
    server
        .request(Method::PUT, &format!("/api/v1/admin/users/{user_id}/role"))
        .bearer_auth(by)
        .json(&json!({"role": role}))
        .send()
        .await
        .unwrap()
}

async fn audit_actions(server: &TestServer, admin: &str, query: &str) -> Vec<Value> {
    let page = expect_json(
        server.get_as(&format!("/api/v1/admin/audit-log?limit=100&{query}"), admin).await,
        StatusCode::OK,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn only_admins_change_roles_and_moderators_only_read() {
    let server = TestServer::start().await;
    let admin = staff(&server, "root", Role::Admin).await;
    let moderator = staff(&server, "mod", Role::Moderator).await;
    let member = server.register_as("member").await;

    let search = server.get_as("/api/v1/admin/users?query=member", &moderator.access).await;
    let found = expect_json(search, StatusCode::OK).await;
    assert_eq!(found["items"][0]["email"], "member@example.com", "staff see e-mail");
    expect_json(server.get_as("/api/v1/admin/audit-log", &moderator.access).await, StatusCode::OK)
        .await;

    let by_moderator = put_role(&server, &moderator.access, &member.user_id, "creator").await;
    expect_problem(by_moderator, StatusCode::FORBIDDEN, "forbidden").await;
    let by_member = server.get_as("/api/v1/admin/users", &member.access).await;
    expect_problem(by_member, StatusCode::FORBIDDEN, "forbidden").await;
    let anonymous = server.request(Method::GET, "/api/v1/admin/audit-log").send().await.unwrap();
    expect_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    let promoted = expect_json(
        put_role(&server, &admin.access, &member.user_id, "creator").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(promoted["role"], "creator");
    let me =
        expect_json(server.get_as("/api/v1/auth/me", &member.access).await, StatusCode::OK).await;
    assert_eq!(me["role"], "creator");
}

#[tokio::test]
async fn bad_role_changes_are_refused_without_effect() {
    let server = TestServer::start().await;
    let admin = staff(&server, "root", Role::Admin).await;
    let member = server.register_as("member").await;
    let bad = put_role(&server, &admin.access, &member.user_id, "superuser").await;
    expect_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let ghost = uuid::Uuid::now_v7().to_string();
    expect_problem(
        put_role(&server, &admin.access, &ghost, "admin").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_problem(
        put_role(&server, &admin.access, "not-a-uuid", "admin").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let own_id = expect_json(server.get_as("/api/v1/auth/me", &admin.access).await, StatusCode::OK)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let demote_self = put_role(&server, &admin.access, &own_id, "listener").await;
    expect_problem(demote_self, StatusCode::UNPROCESSABLE_ENTITY, "cannot_modify_self").await;
    let suspend_self =
        server.post_as(&format!("/api/v1/admin/users/{own_id}/suspend"), &admin.access).await;
    expect_problem(suspend_self, StatusCode::UNPROCESSABLE_ENTITY, "cannot_modify_self").await;
    let me =
        expect_json(server.get_as("/api/v1/auth/me", &member.access).await, StatusCode::OK).await;
    assert_eq!(me["role"], "listener");
}

#[tokio::test]
async fn a_suspension_takes_effect_at_once_and_is_lifted_as_quickly() {
    let server = TestServer::start().await;
    let admin = staff(&server, "root", Role::Admin).await;
    let member = server.register_as("member").await;
    let suspend = server
        .post_as(&format!("/api/v1/admin/users/{}/suspend", member.user_id), &admin.access)
        .await;
    assert_eq!(suspend.status(), StatusCode::NO_CONTENT);
    server.assert_access_rejected(&member.access).await;
    server.assert_refresh_rejected(&member.refresh, "invalid_refresh_token").await;
    expect_problem(
        server.login("member", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    let listed = expect_json(
        server.get_as("/api/v1/admin/users?query=member", &admin.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"][0]["suspended"], true);

    let lift = server
        .post_as(&format!("/api/v1/admin/users/{}/unsuspend", member.user_id), &admin.access)
        .await;
    assert_eq!(lift.status(), StatusCode::NO_CONTENT);
    server.login_ok("member").await;
}

#[tokio::test]
async fn user_search_matches_parts_of_names_and_paginates() {
    let server = TestServer::start().await;
    let admin = staff(&server, "root", Role::Admin).await;
    for name in ["alpha_one", "alpha_two", "beta"] {
        server.register_as(name).await;
    }
    let alphas = expect_json(
        server.get_as("/api/v1/admin/users?query=ALPHA", &admin.access).await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<_> = alphas["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha_two", "alpha_one"], "newest first");
    let first = expect_json(
        server.get_as("/api/v1/admin/users?limit=2", &admin.access).await,
        StatusCode::OK,
    )
    .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = expect_json(
        server.get_as(&format!("/api/v1/admin/users?limit=2&cursor={cursor}"), &admin.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2, "root and alpha_one");
    assert_eq!(rest["next_cursor"], Value::Null);
    let wildcard = expect_json(
        server.get_as("/api/v1/admin/users?query=%25", &admin.access).await,
        StatusCode::OK,
    )
    .await;
    assert!(wildcard["items"].as_array().unwrap().is_empty(), "% is searched literally");
    let long = format!("/api/v1/admin/users?query={}", "x".repeat(10_000));
    expect_problem(
        server.get_as(&long, &admin.access).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let bad_filter = server.get_as("/api/v1/admin/audit-log?actor=not-a-uuid", &admin.access).await;
    expect_problem(bad_filter, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[tokio::test]
async fn the_audit_log_records_every_security_event_with_actor_target_ip_and_agent() {
    let server = TestServer::start().await;
    let admin = staff(&server, "root", Role::Admin).await;
    let member = server.register_as("member").await;
    let id = member.user_id.clone();

    expect_problem(
        server.login("member", "wrong password here").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_problem(
        server.login("nobody", "wrong password here").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let second = server.login_ok("member").await;
    expect_json(server.refresh(&second.refresh).await, StatusCode::OK).await;
    server.assert_refresh_rejected(&second.refresh, "refresh_token_reused").await;
    let third = server.login_ok("member").await;
    let sessions =
        expect_json(server.get_as("/api/v1/auth/sessions", &third.access).await, StatusCode::OK)
            .await;
    let other =
        sessions["items"].as_array().unwrap().iter().find(|s| s["current"] == false).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let revoke = server
        .request(Method::DELETE, &format!("/api/v1/auth/sessions/{other}"))
        .bearer_auth(&third.access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        server.post_as("/api/v1/auth/logout", &third.access).await.status(),
        StatusCode::NO_CONTENT
    );
    let fourth = server.login_ok("member").await;
    assert_eq!(
        server.post_as("/api/v1/auth/logout-all", &fourth.access).await.status(),
        StatusCode::NO_CONTENT
    );
    expect_json(put_role(&server, &admin.access, &id, "creator").await, StatusCode::OK).await;
    server.post_as(&format!("/api/v1/admin/users/{id}/suspend"), &admin.access).await;
    server.post_as(&format!("/api/v1/admin/users/{id}/unsuspend"), &admin.access).await;

    let entries = audit_actions(&server, &admin.access, &format!("target={id}")).await;
    let actions: Vec<&str> = entries.iter().rev().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "auth.registered",
            "auth.login_failed",
            "auth.login",
            "auth.refresh_token_reused",
            "auth.login",
            "auth.session_revoked",
            "auth.logout",
            "auth.login",
            "auth.logout_all",
            "admin.role_changed",
            "admin.user_suspended",
            "admin.user_unsuspended",
        ],
        "oldest first here; the API lists newest first"
    );
    let role_change = entries.iter().find(|e| e["action"] == "admin.role_changed").unwrap();
    let admin_id = expect_json(
        server.get_as("/api/v1/auth/me", &admin.access).await,
        StatusCode::OK,
    )
    .await["id"]
        .clone();
    assert_eq!(role_change["actor_id"], admin_id);
    assert_eq!(role_change["detail"], "listener -> creator");
    for entry in &entries {
        assert_eq!(entry["ip"], "127.0.0.1", "{entry}");
        assert!(entry["occurred_at"].is_string());
    }
    let failed = entries.iter().find(|e| e["action"] == "auth.login_failed").unwrap();
    assert!(!failed.to_string().contains("wrong password here"), "no password in the log");

    let unknown = audit_actions(&server, &admin.access, "action=auth.login_failed").await;
    assert!(unknown.iter().any(|e| e["target_id"].is_null() && e["detail"] == "unknown account"));
    assert!(
        !unknown.iter().any(|e| e.to_string().contains("nobody")),
        "attempted logins are not kept"
    );
}
