//! The data export (`GET /users/me/export`) and account deletion (`DELETE /users/me`).

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use veza_core::audit::AuditFilter;
use veza_core::pagination::PageRequest;

use crate::support::{PASSWORD, TestServer, expect_json, expect_problem};
use crate::users::{PNG, avatar_files, follow, profile_of, send_json, upload_avatar};

#[tokio::test]
async fn the_export_holds_account_profile_settings_sessions_follows_and_audit_trail() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_exp").await;
    let bob = server.register_as("bob_exp").await;
    server.login_ok("ana_exp").await;
    follow(&server, &ana, "bob_exp").await;
    follow(&server, &bob, "ana_exp").await;
    let edit = json!({"bio": "exported bio", "website": "https://ana.example"});
    send_json(&server, Method::PATCH, "/api/v1/users/me", &ana.access, edit).await;
    upload_avatar(&server, &ana.access, PNG.to_vec(), "a.png", "image/png").await;

    let response = server.get_as("/api/v1/users/me/export", &ana.access).await;
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert_eq!(disposition, "attachment; filename=\"veza-export-ana_exp.json\"");
    assert_eq!(response.status(), StatusCode::OK);
    let raw = response.text().await.unwrap();
    let export: Value = serde_json::from_str(&raw).unwrap();
    let sections = [
        "format",
        "exported_at",
        "user_id",
        "account",
        "profile",
        "settings",
        "sessions",
        "follows",
        "audit_log",
    ];
    assert_eq!(export.as_object().unwrap().len(), sections.len(), "{raw}");
    let positions: Vec<usize> =
        sections.iter().map(|key| raw.find(&format!("\"{key}\":")).expect(key)).collect();
    assert!(positions.is_sorted(), "sections in document order: {raw}");
    assert_eq!(export["format"], "veza-export/1");
    assert_eq!(export["user_id"], ana.user_id);
    assert_eq!(export["account"]["email"], "ana_exp@example.com");
    assert_eq!(export["account"]["role"], "listener");
    assert_eq!(export["profile"]["bio"], "exported bio");
    assert_eq!(export["profile"]["website"], "https://ana.example");
    let avatar = &export["profile"]["avatar"];
    assert_eq!(avatar["content_type"], "image/png");
    let data = base64::engine::general_purpose::STANDARD
        .decode(avatar["data_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, PNG, "the image itself, not a link");
    assert_eq!(export["settings"]["language"], "en");
    let sessions = export["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "register and login each opened one");
    assert!(sessions[0]["ip"].as_str().unwrap().starts_with("127."));
    assert_eq!(export["follows"]["following"][0]["username"], "bob_exp");
    assert_eq!(export["follows"]["followers"][0]["user_id"], bob.user_id);
    let actions: Vec<&str> = export["audit_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["auth.login", "auth.registered"], "newest first");
    let text = export.to_string();
    assert!(!text.contains("bob_exp@example.com"), "nothing private of other accounts");
    assert!(!text.contains("argon2"), "no password hash");

    let trail = server
        .services
        .audit
        .list(
            &AuditFilter { action: Some("account.data_exported".into()), ..AuditFilter::default() },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(trail.items.len(), 1);
    assert_eq!(trail.items[0].actor_id.map(|id| id.to_string()), Some(ana.user_id.clone()));

    let anonymous = server.request(Method::GET, "/api/v1/users/me/export").send().await.unwrap();
    expect_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn delete_me(server: &TestServer, access: &str, body: Value) -> reqwest::Response {
    send_json(server, Method::DELETE, "/api/v1/users/me", access, body).await
}

#[tokio::test]
async fn deleting_an_account_needs_its_password_and_erases_it() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_del").await;
    let bob = server.register_as("bob_del").await;
    follow(&server, &ana, "bob_del").await;
    follow(&server, &bob, "ana_del").await;
    upload_avatar(&server, &ana.access, PNG.to_vec(), "a.png", "image/png").await;
    assert_eq!(avatar_files(&server).await.len(), 1);

    let wrong =
        delete_me(&server, &ana.access, json!({"password": "not the password at all"})).await;
    expect_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    for body in [json!({}), json!({"password": PASSWORD, "force": true})] {
        expect_problem(
            delete_me(&server, &ana.access, body).await,
            StatusCode::BAD_REQUEST,
            "malformed_request",
        )
        .await;
    }
    assert_eq!(profile_of(&server, "ana_del").await["id"], ana.user_id, "still there");

    let done = delete_me(&server, &ana.access, json!({"password": PASSWORD})).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    server.assert_access_rejected(&ana.access).await;
    server.assert_refresh_rejected(&ana.refresh, "invalid_refresh_token").await;
    let login = server.login("ana_del", PASSWORD).await;
    expect_problem(login, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let gone = server.request(Method::GET, "/api/v1/users/ana_del").send().await.unwrap();
    expect_problem(gone, StatusCode::NOT_FOUND, "not_found").await;
    let bob_now = profile_of(&server, "bob_del").await;
    assert_eq!(
        (bob_now["followers_count"].clone(), bob_now["following_count"].clone()),
        (json!(0), json!(0))
    );
    assert!(avatar_files(&server).await.is_empty(), "the avatar file is deleted");

    let trail = server
        .services
        .audit
        .list(
            &AuditFilter {
                target_id: Some(ana.user_id.parse().unwrap()),
                ..AuditFilter::default()
            },
            PageRequest::first(50),
        )
        .await
        .unwrap();
    assert_eq!(trail.items[0].action, "account.deleted");
    let refused = trail.items.iter().filter(|e| e.action == "account.deletion_refused").count();
    assert_eq!(refused, 1);
    for entry in &trail.items {
        assert_eq!(
            (entry.ip.as_deref(), entry.user_agent.as_deref()),
            (None, None),
            "ids only: {entry:?}"
        );
    }

    // ADR 0003: the row is gone, so the username and e-mail are free again.
    let again = server.register_as("ana_del").await;
    assert_ne!(again.user_id, ana.user_id);
    assert_eq!(profile_of(&server, "ana_del").await["followers_count"], 0, "nothing carried over");
}

#[tokio::test]
async fn an_avatar_shared_with_another_account_survives_the_deletion() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_share").await;
    let bob = server.register_as("bob_share").await;
    upload_avatar(&server, &ana.access, PNG.to_vec(), "a.png", "image/png").await;
    let response = upload_avatar(&server, &bob.access, PNG.to_vec(), "b.png", "image/png").await;
    let url =
        expect_json(response, StatusCode::OK).await["avatar_url"].as_str().unwrap().to_owned();
    assert_eq!(avatar_files(&server).await.len(), 1, "the same bytes are stored once");
    let done = delete_me(&server, &ana.access, json!({"password": PASSWORD})).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let image = server.request(Method::GET, &url).send().await.unwrap();
    assert_eq!(image.status(), StatusCode::OK, "bob's avatar is intact");
}

#[tokio::test]
async fn guessing_the_deletion_password_is_rate_limited() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_guess").await;
    for attempt in 0..10 {
        let wrong =
            delete_me(&server, &ana.access, json!({"password": format!("guess number {attempt}")}))
                .await;
        expect_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let limited = delete_me(&server, &ana.access, json!({"password": PASSWORD})).await;
    assert!(limited.headers().contains_key("retry-after"));
    expect_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(profile_of(&server, "ana_guess").await["id"], ana.user_id, "not deleted");
}

#[tokio::test]
async fn deleting_an_account_removes_its_audio_but_not_a_file_another_account_shares() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_audio").await;
    let bob = server.register_as("bob_audio").await;
    let mp3 = crate::support::audio_fixture("tone-2s.mp3");
    let flac = crate::support::audio_fixture("tone-2s.flac");
    let mine = server.upload_track(&ana, "a.flac", flac, &[("title", "Mine")]).await;
    let mine = expect_json(mine, StatusCode::CREATED).await["id"].as_str().unwrap().to_owned();
    let shared = server.upload_track(&ana, "s.mp3", mp3.clone(), &[("title", "Shared")]).await;
    expect_json(shared, StatusCode::CREATED).await;
    let bobs = server.upload_track(&bob, "b.mp3", mp3, &[("title", "Bob's")]).await;
    let bobs = expect_json(bobs, StatusCode::CREATED).await["id"].as_str().unwrap().to_owned();
    // An unfinished resumable upload, one part stored.
    let created = server
        .request(Method::POST, "/api/v1/tracks/uploads")
        .bearer_auth(&ana.access)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "100")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let patched = server
        .request(Method::PATCH, &location)
        .bearer_auth(&ana.access)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(b"ID3 the first bytes".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::NO_CONTENT);
    server.run_jobs().await;
    assert_eq!(server.blob_keys().await.len(), 3, "flac, one mp3 for both, one upload part");

    let done = delete_me(&server, &ana.access, json!({"password": PASSWORD})).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    server.run_jobs().await;

    let keys = server.blob_keys().await;
    assert_eq!(keys.len(), 1, "ana's own files are gone, the upload part too: {keys:?}");
    assert!(keys[0].ends_with(".mp3"), "bob's copy of the shared bytes stays: {keys:?}");
    let gone = server.request(Method::GET, &format!("/api/v1/tracks/{mine}")).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let kept = server.request(Method::GET, &format!("/api/v1/tracks/{bobs}")).send().await.unwrap();
    assert_eq!(expect_json(kept, StatusCode::OK).await["status"], "ready");
}
