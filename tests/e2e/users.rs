//! `/api/v1/users`: public profiles, profile edits, avatars, settings, completion and
//! follows, with their hostile cases.

use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use veza_server::ServerConfig;

use crate::support::{TestServer, Tokens, expect_json, expect_problem};

/// A real 1×1 PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
const JPEG_START: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00];
const WEBP_START: &[u8] = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00";
const MIB: usize = 1024 * 1024;

pub async fn send_json(
    server: &TestServer,
    method: Method,
    path: &str,
    access: &str,
    body: Value,
) -> Response {
    server.request(method, path).bearer_auth(access).json(&body).send().await.expect("request")
}

pub async fn upload_avatar(
    server: &TestServer,
    access: &str,
    bytes: Vec<u8>,
    file_name: &str,
    content_type: &str,
) -> Response {
    let part = Part::bytes(bytes).file_name(file_name.to_owned()).mime_str(content_type).unwrap();
    server
        .request(Method::PUT, "/api/v1/users/me/avatar")
        .bearer_auth(access)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .expect("request")
}

pub async fn profile_of(server: &TestServer, ident: &str) -> Value {
    let response = server.request(Method::GET, &format!("/api/v1/users/{ident}")).send().await;
    expect_json(response.unwrap(), StatusCode::OK).await
}

pub async fn follow(server: &TestServer, who: &Tokens, whom: &str) -> StatusCode {
    server.post_as(&format!("/api/v1/users/{whom}/follow"), &who.access).await.status()
}

/// A settings body.
pub fn settings(notify: bool, private: bool, language: &str, explicit: bool) -> Value {
    json!({
        "email_notifications": notify,
        "private_profile": private,
        "language": language,
        "explicit_content": explicit,
    })
}

/// The blob files under the server's data directory, by name.
/// The stored avatar images (`avatars/…` keys), files or S3.
pub async fn avatar_files(server: &TestServer) -> Vec<String> {
    server.blob_keys().await.into_iter().filter(|k| k.starts_with("avatars/")).collect()
}

#[tokio::test]
async fn a_public_profile_shows_public_fields_only_and_needs_no_sign_in() {
    let server = TestServer::start().await;
    let ana = server.register_as("Ana_P").await;
    server.register_as("bob_p").await;
    let by_name = profile_of(&server, "ana_p").await;
    let mut keys: Vec<&str> = by_name.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "avatar_url",
            "bio",
            "created_at",
            "display_name",
            "followers_count",
            "following_count",
            "id",
            "location",
            "tracks_count",
            "username",
            "website",
        ],
        "never email, role or anything private: {by_name}"
    );
    assert_eq!(by_name["id"], ana.user_id);
    assert_eq!(by_name["username"], "Ana_P");
    assert_eq!(by_name["tracks_count"], 0);
    assert_eq!(by_name["avatar_url"], Value::Null);
    let by_id = profile_of(&server, &ana.user_id).await;
    assert_eq!(by_id, by_name);

    // Signed in as someone else: still nothing private.
    let bob = server.login_ok("bob_p").await;
    let seen = expect_json(server.get_as("/api/v1/users/ana_p", &bob.access).await, StatusCode::OK);
    let text = seen.await.to_string();
    assert!(!text.contains("ana_p@example.com") && !text.contains("listener"), "{text}");

    for unknown in ["nobody-here", "01890000-0000-7000-8000-000000000000", "a", "%00"] {
        let response =
            server.request(Method::GET, &format!("/api/v1/users/{unknown}")).send().await.unwrap();
        expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn me_routes_are_not_shadowed_by_the_id_route() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_me").await;
    let own =
        expect_json(server.get_as("/api/v1/users/me", &ana.access).await, StatusCode::OK).await;
    assert_eq!(own["id"], ana.user_id);
    let anonymous = server.request(Method::GET, "/api/v1/users/me").send().await.unwrap();
    expect_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    for path in ["/api/v1/users/me/settings", "/api/v1/users/me/profile-completion"] {
        let response = server.request(Method::GET, path).send().await.unwrap();
        expect_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        assert_eq!(server.get_as(path, &ana.access).await.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn patching_a_profile_sets_and_clears_fields_and_answers_the_profile() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_edit").await;
    let body = json!({
        "display_name": "  Ana Edit ",
        "bio": "Beats & bass.\r\nLyon-based.",
        "location": "Lyon, France",
        "website": "https://ana.example/music",
    });
    let response = send_json(&server, Method::PATCH, "/api/v1/users/me", &ana.access, body).await;
    let edited = expect_json(response, StatusCode::OK).await;
    assert_eq!(edited["display_name"], "Ana Edit");
    assert_eq!(edited["bio"], "Beats & bass.\nLyon-based.");
    assert_eq!(edited["location"], "Lyon, France");
    assert_eq!(edited["website"], "https://ana.example/music");
    assert_eq!(profile_of(&server, "ana_edit").await, edited);

    let clear = json!({"bio": "", "website": null});
    let response = send_json(&server, Method::PATCH, "/api/v1/users/me", &ana.access, clear).await;
    let cleared = expect_json(response, StatusCode::OK).await;
    assert_eq!(cleared["bio"], Value::Null);
    assert_eq!(cleared["website"], Value::Null);
    assert_eq!(cleared["location"], "Lyon, France", "absent fields stay");
    assert_eq!(cleared["display_name"], "Ana Edit");

    let reset = json!({"display_name": ""});
    let response = send_json(&server, Method::PATCH, "/api/v1/users/me", &ana.access, reset).await;
    assert_eq!(expect_json(response, StatusCode::OK).await["display_name"], "ana_edit");
}

#[tokio::test]
async fn hostile_profile_edits_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_bad").await;
    let before = profile_of(&server, "ana_bad").await;
    for (body, field) in [
        (json!({"website": "javascript:alert(1)"}), "website"),
        (json!({"website": "data:text/html,<script>alert(1)</script>"}), "website"),
        (json!({"website": "https://user:pw@evil.example"}), "website"),
        (json!({"website": "ana.example"}), "website"),
        (json!({"bio": "x".repeat(1001)}), "bio"),
        (json!({"bio": "nul\u{0}byte"}), "bio"),
        (json!({"location": "two\nlines"}), "location"),
        (json!({"location": "l".repeat(101)}), "location"),
        (json!({"display_name": "d".repeat(101)}), "display_name"),
    ] {
        let response =
            send_json(&server, Method::PATCH, "/api/v1/users/me", &ana.access, body).await;
        let problem =
            expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let several = json!({"website": "javascript:alert(1)", "bio": "ok", "location": "a\u{7}"});
    let response =
        send_json(&server, Method::PATCH, "/api/v1/users/me", &ana.access, several).await;
    let problem =
        expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        problem["errors"].as_array().unwrap().len(),
        2,
        "every bad field at once: {problem}"
    );

    for body in [json!({"role": "admin"}), json!({"email": "x@example.com"}), json!({"bio": 5})] {
        let response =
            send_json(&server, Method::PATCH, "/api/v1/users/me", &ana.access, body).await;
        expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    }
    let anonymous = server
        .request(Method::PATCH, "/api/v1/users/me")
        .json(&json!({"bio": "hi"}))
        .send()
        .await
        .unwrap();
    expect_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(profile_of(&server, "ana_bad").await, before, "nothing was written");
}

#[tokio::test]
async fn an_avatar_is_recognised_by_its_bytes_and_served_with_its_type_and_etag() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_pic").await;
    // Named and labelled as something else: the bytes decide.
    let response = upload_avatar(&server, &ana.access, PNG.to_vec(), "me.gif", "text/plain").await;
    let profile = expect_json(response, StatusCode::OK).await;
    let url = profile["avatar_url"].as_str().expect("avatar_url set").to_owned();
    assert!(url.starts_with(&format!("/api/v1/users/{}/avatar?v=", ana.user_id)), "{url}");
    assert_eq!(profile_of(&server, "ana_pic").await["avatar_url"], url.as_str());

    let image = server.request(Method::GET, &url).send().await.unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    let headers = image.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["cache-control"].to_str().unwrap().contains("max-age"));
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(image.bytes().await.unwrap().as_ref(), PNG);
    let revalidated = server
        .request(Method::GET, "/api/v1/users/ana_pic/avatar")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(avatar_files(&server).await.len(), 1);

    let mut jpeg = JPEG_START.to_vec();
    jpeg.extend_from_slice(&[0u8; 100]);
    let response = upload_avatar(&server, &ana.access, jpeg.clone(), "a.png", "image/png").await;
    let replaced = expect_json(response, StatusCode::OK).await;
    let new_url = replaced["avatar_url"].as_str().unwrap();
    assert_ne!(new_url, url, "a new image gets a new URL");
    let image = server.request(Method::GET, new_url).send().await.unwrap();
    assert_eq!(image.headers()["content-type"], "image/jpeg");
    assert_ne!(image.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(image.bytes().await.unwrap().as_ref(), jpeg.as_slice());
    let files = avatar_files(&server).await;
    assert_eq!(files.len(), 1, "the replaced image is deleted: {files:?}");
    assert!(files[0].ends_with(".jpg"));

    let mut webp = WEBP_START.to_vec();
    webp.extend_from_slice(&[7u8; 40]);
    let response = upload_avatar(&server, &ana.access, webp, "a.webp", "image/webp").await;
    let url =
        expect_json(response, StatusCode::OK).await["avatar_url"].as_str().unwrap().to_owned();
    let image = server.request(Method::GET, &url).send().await.unwrap();
    assert_eq!(image.headers()["content-type"], "image/webp");

    let bob = server.register_as("bob_nopic").await;
    let none = server.get_as("/api/v1/users/bob_nopic/avatar", &bob.access).await;
    expect_problem(none, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn avatar_urls_are_absolute_under_a_public_url() {
    let config = ServerConfig {
        public_url: Some("https://veza.example/".into()),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let ana = server.register_as("ana_abs").await;
    let response = upload_avatar(&server, &ana.access, PNG.to_vec(), "a.png", "image/png").await;
    let url =
        expect_json(response, StatusCode::OK).await["avatar_url"].as_str().unwrap().to_owned();
    let expected = format!("https://veza.example/api/v1/users/{}/avatar?v=", ana.user_id);
    assert!(url.starts_with(&expected), "{url}");
}

#[tokio::test]
async fn an_html_file_named_png_is_415_and_stores_nothing() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_html").await;
    let html = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>".to_vec();
    let response = upload_avatar(&server, &ana.access, html, "avatar.png", "image/png").await;
    expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    for bytes in
        [Vec::new(), b"GIF89a\x01\x00\x01\x00".to_vec(), b"RIFF\x10\0\0\0WAVEfmt ".to_vec()]
    {
        let response = upload_avatar(&server, &ana.access, bytes, "a.png", "image/png").await;
        expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            .await;
    }
    assert_eq!(profile_of(&server, "ana_html").await["avatar_url"], Value::Null);
    assert!(avatar_files(&server).await.is_empty());
}

#[tokio::test]
async fn avatars_over_5_mib_are_413_and_5_mib_is_fine() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_big").await;
    let png_of = |len: usize| {
        let mut bytes = PNG[..8].to_vec();
        bytes.resize(len, 0x42);
        bytes
    };
    for len in [6 * MIB, 5 * MIB + 1] {
        let response =
            upload_avatar(&server, &ana.access, png_of(len), "big.png", "image/png").await;
        expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    }
    // Far over the route's limit: refused once the limit is crossed, not after reading it all.
    let response =
        upload_avatar(&server, &ana.access, png_of(40 * MIB), "huge.png", "image/png").await;
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(avatar_files(&server).await.is_empty());
    let response =
        upload_avatar(&server, &ana.access, png_of(5 * MIB), "max.png", "image/png").await;
    expect_json(response, StatusCode::OK).await;
}

#[tokio::test]
async fn an_avatar_request_without_one_file_part_is_400() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_form").await;
    let put = |form: Form| {
        server
            .request(Method::PUT, "/api/v1/users/me/avatar")
            .bearer_auth(&ana.access)
            .multipart(form)
            .send()
    };
    let wrong_name = Form::new().part("image", Part::bytes(PNG.to_vec()).file_name("a.png"));
    expect_problem(put(wrong_name).await.unwrap(), StatusCode::BAD_REQUEST, "malformed_request")
        .await;
    let two = Form::new()
        .part("file", Part::bytes(PNG.to_vec()).file_name("a.png"))
        .part("file", Part::bytes(PNG.to_vec()).file_name("b.png"));
    expect_problem(put(two).await.unwrap(), StatusCode::BAD_REQUEST, "malformed_request").await;
    expect_problem(put(Form::new()).await.unwrap(), StatusCode::BAD_REQUEST, "malformed_request")
        .await;
    let not_multipart = server
        .request(Method::PUT, "/api/v1/users/me/avatar")
        .bearer_auth(&ana.access)
        .header("content-type", "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    expect_problem(not_multipart, StatusCode::BAD_REQUEST, "malformed_request").await;
    let anonymous = server
        .request(Method::PUT, "/api/v1/users/me/avatar")
        .multipart(Form::new().part("file", Part::bytes(PNG.to_vec())))
        .send()
        .await
        .unwrap();
    expect_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn settings_start_at_their_defaults_and_are_validated() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_set").await;
    let path = "/api/v1/users/me/settings";
    let defaults = expect_json(server.get_as(path, &ana.access).await, StatusCode::OK).await;
    assert_eq!(defaults, settings(true, false, "en", false));
    let body = settings(false, true, "pt-br", true);
    let saved =
        expect_json(send_json(&server, Method::PUT, path, &ana.access, body).await, StatusCode::OK)
            .await;
    assert_eq!(saved["language"], "pt-BR", "stored in its usual case");
    assert_eq!(saved["private_profile"], true);
    assert_eq!(expect_json(server.get_as(path, &ana.access).await, StatusCode::OK).await, saved);

    for language in ["english", "en_US", "", &"en-abcdefgh".repeat(4), "<script>"] {
        let body = settings(true, false, language, false);
        let response = send_json(&server, Method::PUT, path, &ana.access, body).await;
        let problem =
            expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "language");
    }
    for body in [
        json!({"email_notifications": true}),
        {
            let mut extra = settings(true, false, "en", false);
            extra["admin"] = json!(true);
            extra
        },
        {
            let mut mistyped = settings(true, false, "en", false);
            mistyped["email_notifications"] = json!("yes");
            mistyped
        },
    ] {
        let response = send_json(&server, Method::PUT, path, &ana.access, body).await;
        expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    }
    assert_eq!(expect_json(server.get_as(path, &ana.access).await, StatusCode::OK).await, saved);
}

#[tokio::test]
async fn profile_completion_names_what_is_missing() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_done").await;
    let path = "/api/v1/users/me/profile-completion";
    let fresh = expect_json(server.get_as(path, &ana.access).await, StatusCode::OK).await;
    assert_eq!(
        fresh,
        json!({
            "percent": 0,
            "missing": ["display_name", "avatar", "bio", "location", "website", "email_verified"],
        })
    );
    let body = json!({
        "display_name": "Ana",
        "bio": "hi",
        "location": "Lyon",
        "website": "https://a.example",
    });
    send_json(&server, Method::PATCH, "/api/v1/users/me", &ana.access, body).await;
    upload_avatar(&server, &ana.access, PNG.to_vec(), "a.png", "image/png").await;
    let almost = expect_json(server.get_as(path, &ana.access).await, StatusCode::OK).await;
    assert_eq!(almost, json!({"percent": 83, "missing": ["email_verified"]}));
}

#[tokio::test]
async fn following_is_idempotent_counted_and_refused_for_oneself_or_nobody() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_f").await;
    let bob = server.register_as("bob_f").await;
    assert_eq!(follow(&server, &ana, "bob_f").await, StatusCode::NO_CONTENT);
    assert_eq!(follow(&server, &ana, &bob.user_id).await, StatusCode::NO_CONTENT, "idempotent");
    let bob_profile = profile_of(&server, "bob_f").await;
    assert_eq!(
        (bob_profile["followers_count"].clone(), bob_profile["following_count"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(profile_of(&server, "ana_f").await["following_count"], 1);

    let own = server.post_as("/api/v1/users/ana_f/follow", &ana.access).await;
    expect_problem(own, StatusCode::UNPROCESSABLE_ENTITY, "cannot_follow_self").await;
    let own_by_id =
        server.post_as(&format!("/api/v1/users/{}/follow", ana.user_id), &ana.access).await;
    expect_problem(own_by_id, StatusCode::UNPROCESSABLE_ENTITY, "cannot_follow_self").await;
    for ghost in ["nobody-at-all", "01890000-0000-7000-8000-000000000000"] {
        let response = server.post_as(&format!("/api/v1/users/{ghost}/follow"), &ana.access).await;
        expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let anonymous =
        server.request(Method::POST, "/api/v1/users/bob_f/follow").send().await.unwrap();
    expect_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    let unfollow = |who: &Tokens| {
        server
            .request(Method::DELETE, "/api/v1/users/bob_f/follow")
            .bearer_auth(who.access.clone())
            .send()
    };
    assert_eq!(unfollow(&ana).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(unfollow(&ana).await.unwrap().status(), StatusCode::NO_CONTENT, "idempotent");
    assert_eq!(profile_of(&server, "bob_f").await["followers_count"], 0);
    assert_eq!(profile_of(&server, "ana_f").await["following_count"], 0);
}

#[tokio::test]
async fn a_hundred_parallel_follow_and_unfollow_calls_end_in_an_exact_count() {
    let server = std::sync::Arc::new(TestServer::start().await);
    server.register_as("star").await;
    let mut joining = Vec::new();
    for i in 0..30 {
        joining.push(server.register_as(&format!("joiner{i}")).await);
    }
    let mut leaving = Vec::new();
    for i in 0..20 {
        let fan = server.register_as(&format!("leaver{i}")).await;
        assert_eq!(follow(&server, &fan, "star").await, StatusCode::NO_CONTENT);
        leaving.push(fan);
    }
    assert_eq!(profile_of(&server, "star").await["followers_count"], 20);
    // Each account sends its call twice, all 100 at once: 30 follows ×2, 20 unfollows ×2.
    let mut calls = Vec::new();
    for _ in 0..2 {
        for (tokens, method) in joining
            .iter()
            .map(|t| (t.clone(), Method::POST))
            .chain(leaving.iter().map(|t| (t.clone(), Method::DELETE)))
        {
            let server = std::sync::Arc::clone(&server);
            calls.push(tokio::spawn(async move {
                server
                    .request(method, "/api/v1/users/star/follow")
                    .bearer_auth(&tokens.access)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
    }
    assert_eq!(calls.len(), 100);
    for call in calls {
        assert_eq!(call.await.unwrap(), StatusCode::NO_CONTENT);
    }
    let star = profile_of(&server, "star").await;
    assert_eq!(star["followers_count"], 30);
    let list = expect_json(
        server.request(Method::GET, "/api/v1/users/star/followers?limit=100").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut names: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|i| i["username"].as_str().unwrap()).collect();
    names.sort_unstable();
    let mut expected: Vec<String> = (0..30).map(|i| format!("joiner{i}")).collect();
    expected.sort_unstable();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn follow_lists_are_newest_first_paginated_and_show_summaries() {
    let server = TestServer::start().await;
    let star = server.register_as("list_star").await;
    for i in 0..5 {
        let fan = server.register_as(&format!("list_fan{i}")).await;
        follow(&server, &fan, "list_star").await;
        follow(&server, &star, &format!("list_fan{i}")).await;
    }
    let first = expect_json(
        server
            .request(Method::GET, "/api/v1/users/list_star/followers?limit=2")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["list_fan4", "list_fan3"]);
    let item = &first["items"][0];
    let mut keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["avatar_url", "display_name", "followed_at", "id", "username"]);
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let rest = expect_json(
        server
            .request(
                Method::GET,
                &format!("/api/v1/users/list_star/followers?limit=2&cursor={cursor}"),
            )
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(&rest), ["list_fan2", "list_fan1"]);
    let following = expect_json(
        server
            .request(Method::GET, &format!("/api/v1/users/{}/following", star.user_id))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        names(&following),
        ["list_fan4", "list_fan3", "list_fan2", "list_fan1", "list_fan0"]
    );
    assert_eq!(following["next_cursor"], Value::Null);

    for query in ["limit=0", "limit=101", "limit=x", "cursor=%%%", "cursor=AAAA", "sort=new"] {
        let response = server
            .request(Method::GET, &format!("/api/v1/users/list_star/followers?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let unknown =
        server.request(Method::GET, "/api/v1/users/no-such-one/following").send().await.unwrap();
    expect_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_private_profile_hides_its_follow_lists_from_everyone_but_its_owner() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana_priv").await;
    let bob = server.register_as("bob_priv").await;
    follow(&server, &bob, "ana_priv").await;
    let body = settings(true, true, "en", false);
    send_json(&server, Method::PUT, "/api/v1/users/me/settings", &ana.access, body).await;
    for list in ["followers", "following"] {
        let path = format!("/api/v1/users/ana_priv/{list}");
        let anonymous = server.request(Method::GET, &path).send().await.unwrap();
        expect_problem(anonymous, StatusCode::NOT_FOUND, "not_found").await;
        expect_problem(server.get_as(&path, &bob.access).await, StatusCode::NOT_FOUND, "not_found")
            .await;
        let own = expect_json(server.get_as(&path, &ana.access).await, StatusCode::OK).await;
        assert!(own["items"].is_array());
    }
    let followers = expect_json(
        server.get_as("/api/v1/users/ana_priv/followers", &ana.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(followers["items"][0]["username"], "bob_priv");
    assert_eq!(
        profile_of(&server, "ana_priv").await["followers_count"],
        1,
        "the profile stays public"
    );
    // Bob's own lists are public, and still show whom he follows.
    let bobs = expect_json(
        server.request(Method::GET, "/api/v1/users/bob_priv/following").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(bobs["items"][0]["username"], "ana_priv");
}
