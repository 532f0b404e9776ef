//! `/api/v1/tracks`: lists, search, visibility, edits, deletion and waveforms over HTTP.
//! Tracks are uploaded through `POST /tracks`, then processed by the real job runner.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use uuid::Uuid;
use veza_core::users::{CreateUser, Role};

use crate::support::{PASSWORD, TestServer, Tokens, audio_fixture, expect_json, expect_problem};

struct Upload<'a> {
    title: &'a str,
    visibility: &'a str,
    genre: Option<&'a str>,
    tags: Option<&'a str>,
    description: Option<&'a str>,
}

impl<'a> Upload<'a> {
    fn public(title: &'a str) -> Self {
        Self { title, visibility: "public", genre: None, tags: None, description: None }
    }

    fn with(title: &'a str, visibility: &'a str) -> Self {
        Self { visibility, ..Self::public(title) }
    }
}

/// Uploads the 2-second MP3 fixture through `POST /tracks` with this metadata.
async fn upload(server: &TestServer, by: &Tokens, track: Upload<'_>) -> String {
    let mut fields = vec![("title", track.title), ("visibility", track.visibility)];
    for (name, value) in
        [("genre", track.genre), ("tags", track.tags), ("description", track.description)]
    {
        fields.extend(value.map(|value| (name, value)));
    }
    let response =
        server.upload_track(by, "tone-2s.mp3", audio_fixture("tone-2s.mp3"), &fields).await;
    let track = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(track["status"], "processing");
    track["id"].as_str().unwrap().to_owned()
}

async fn get(server: &TestServer, path: &str, by: Option<&Tokens>) -> Response {
    let request = server.request(Method::GET, path);
    let request = match by {
        Some(tokens) => request.bearer_auth(&tokens.access),
        None => request,
    };
    request.send().await.expect("request")
}

async fn send(
    server: &TestServer,
    method: Method,
    path: &str,
    by: &Tokens,
    body: Value,
) -> Response {
    server.request(method, path).bearer_auth(&by.access).json(&body).send().await.expect("request")
}

fn item_ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect()
}

async fn list(server: &TestServer, query: &str) -> Value {
    expect_json(get(server, &format!("/api/v1/tracks?{query}"), None).await, StatusCode::OK).await
}

#[tokio::test]
async fn a_processed_track_is_listed_with_its_facts_and_waveform() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let id = upload(&server, &alice, Upload::public("Night Drive")).await;
    let path = format!("/api/v1/tracks/{id}");

    let fresh = expect_json(get(&server, &path, None).await, StatusCode::OK).await;
    assert_eq!(fresh["status"], "processing");
    expect_problem(
        get(&server, &format!("{path}/waveform"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(item_ids(&list(&server, "").await).is_empty(), "processing tracks are not listed");

    server.run_jobs().await;

    let track = expect_json(get(&server, &path, None).await, StatusCode::OK).await;
    let keys: BTreeSet<&str> = track.as_object().unwrap().keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "id",
        "owner",
        "title",
        "description",
        "genre",
        "tags",
        "bpm",
        "key",
        "visibility",
        "downloadable",
        "status",
        "failure_reason",
        "duration_ms",
        "sample_rate",
        "channels",
        "bitrate",
        "codec",
        "size_bytes",
        "likes_count",
        "plays_count",
        "comments_count",
        "hls_url",
        "created_at",
        "updated_at",
        "version",
    ]
    .into();
    assert_eq!(keys, expected);
    assert_eq!(track["status"], "ready");
    assert_eq!(
        track["owner"],
        json!({"id": alice.user_id, "username": "alice", "display_name": "alice"})
    );
    let duration = track["duration_ms"].as_i64().unwrap();
    assert!((1950..=2050).contains(&duration), "{duration} ms");
    assert_eq!(track["codec"], "mp3");
    assert_eq!(track["hls_url"], Value::Null, "not packaged by a stream server");
    assert_eq!((track["likes_count"].as_i64(), track["version"].as_i64()), (Some(0), Some(2)));
    let waveform =
        expect_json(get(&server, &format!("{path}/waveform"), None).await, StatusCode::OK).await;
    assert!(!waveform["peaks"].as_array().unwrap().is_empty());
    assert!(waveform["samples_per_peak"].as_u64().unwrap() > 0);
    assert_eq!(item_ids(&list(&server, "").await), [id]);
}

#[tokio::test]
async fn private_tracks_are_404_to_others_and_unlisted_ones_are_reachable_only_by_id() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let mallory = server.register_as("mallory").await;
    let private = upload(&server, &alice, Upload::with("Secret", "private")).await;
    let unlisted = upload(&server, &alice, Upload::with("Hidden", "unlisted")).await;
    server.run_jobs().await;

    for by in [None, Some(&mallory)] {
        let response = get(&server, &format!("/api/v1/tracks/{private}"), by).await;
        expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        let response = get(&server, &format!("/api/v1/tracks/{private}/waveform"), by).await;
        expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        let response = get(&server, &format!("/api/v1/tracks/{unlisted}"), by).await;
        expect_json(response, StatusCode::OK).await;
    }
    expect_json(
        get(&server, &format!("/api/v1/tracks/{private}"), Some(&alice)).await,
        StatusCode::OK,
    )
    .await;
    assert!(item_ids(&list(&server, "").await).is_empty(), "neither is listed");
    for bad in ["not-a-uuid", "../../etc/passwd", &Uuid::now_v7().to_string()] {
        let response = get(&server, &format!("/api/v1/tracks/{bad}"), None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bad}");
    }
}

#[tokio::test]
async fn lists_filter_search_sort_and_page_and_refuse_bad_parameters() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let bob = server.register_as("bob").await;
    let techno =
        Upload { genre: Some("Techno"), tags: Some("dark, club"), ..Upload::public("Warehouse") };
    let techno = upload(&server, &alice, techno).await;
    let piano = Upload { description: Some("a quiet nocturne"), ..Upload::public("Amber") };
    let piano = upload(&server, &bob, piano).await;
    let third = upload(&server, &bob, Upload::public("Cobalt")).await;
    server.run_jobs().await;

    assert_eq!(
        item_ids(&list(&server, "").await),
        [third.as_str(), piano.as_str(), techno.as_str()],
        "newest first"
    );
    assert_eq!(
        item_ids(&list(&server, "sort=title").await),
        [piano.as_str(), third.as_str(), techno.as_str()]
    );
    assert_eq!(item_ids(&list(&server, "genre=techno").await), [techno.as_str()]);
    assert_eq!(item_ids(&list(&server, "tag=Dark").await), [techno.as_str()]);
    assert_eq!(item_ids(&list(&server, "owner=BOB").await), [third.as_str(), piano.as_str()]);
    assert_eq!(
        item_ids(&list(&server, &format!("owner={}", alice.user_id)).await),
        [techno.as_str()]
    );
    assert!(item_ids(&list(&server, "owner=nobody").await).is_empty());
    for no_such_value in ["genre=%00", "tag=a%00b", "owner=%00"] {
        assert!(item_ids(&list(&server, no_such_value).await).is_empty(), "{no_such_value}");
    }
    assert_eq!(item_ids(&list(&server, "q=nocturne").await), [piano.as_str()]);
    assert_eq!(
        item_ids(&list(&server, "q=alice").await),
        [techno.as_str()],
        "search covers the owner"
    );
    assert_eq!(item_ids(&list(&server, "q=%22%20OR%20*").await).len(), 0);

    let first = list(&server, "sort=title&limit=2").await;
    assert_eq!(item_ids(&first), [piano.as_str(), third.as_str()]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = list(&server, &format!("sort=title&limit=2&cursor={cursor}")).await;
    assert_eq!(item_ids(&second), [techno.as_str()]);
    assert_eq!(second["next_cursor"], Value::Null);

    let bad = [
        ("sort=random", "invalid_sort"),
        ("sort=relevance", "invalid_sort"),
        ("limit=0", "invalid_pagination"),
        ("limit=101", "invalid_pagination"),
        ("cursor=%25%25", "invalid_pagination"),
        (&format!("cursor={cursor}"), "invalid_pagination"),
        ("limit=ten", "malformed_request"),
        ("colour=blue", "malformed_request"),
    ];
    for (query, code) in bad {
        let response = get(&server, &format!("/api/v1/tracks?{query}"), None).await;
        expect_problem(response, StatusCode::BAD_REQUEST, code).await;
    }
}

#[tokio::test]
async fn only_the_owner_edits_metadata_and_bad_edits_are_refused() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let mallory = server.register_as("mallory").await;
    let public = upload(&server, &alice, Upload::public("Draft")).await;
    let private = upload(&server, &alice, Upload::with("Secret", "private")).await;
    let path = format!("/api/v1/tracks/{public}");

    let body = json!({"title": " Final ", "tags": ["Dark", "dark", "club"], "bpm": 128, "genre": "Techno"});
    let edited =
        expect_json(send(&server, Method::PATCH, &path, &alice, body).await, StatusCode::OK).await;
    assert_eq!(edited["title"], "Final");
    assert_eq!(edited["tags"], json!(["dark", "club"]));
    assert_eq!((edited["bpm"].as_i64(), edited["version"].as_i64()), (Some(128), Some(2)));
    let cleared = send(&server, Method::PATCH, &path, &alice, json!({"bpm": null})).await;
    let cleared = expect_json(cleared, StatusCode::OK).await;
    assert_eq!((&cleared["bpm"], &cleared["genre"]), (&Value::Null, &json!("Techno")));

    let response = send(&server, Method::PATCH, &path, &mallory, json!({"title": "Mine"})).await;
    expect_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let hidden = format!("/api/v1/tracks/{private}");
    let response = send(&server, Method::PATCH, &hidden, &mallory, json!({"title": "Mine"})).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response =
        server.request(Method::PATCH, &path).json(&json!({"title": "x"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = send(&server, Method::PATCH, &path, &alice, json!({"status": "ready"})).await;
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    let huge = json!({"title": "x".repeat(10 * 1024)});
    let response = send(&server, Method::PATCH, &path, &alice, huge).await;
    let problem =
        expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "title");
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    let body = json!({"bpm": 5, "visibility": "secret", "tags": many});
    let response = send(&server, Method::PATCH, &path, &alice, body).await;
    let problem =
        expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 3, "{problem}");
    let after = expect_json(get(&server, &path, None).await, StatusCode::OK).await;
    assert_eq!(after["version"], cleared["version"], "a refused edit writes nothing");
}

#[tokio::test]
async fn the_owner_or_an_admin_deletes_a_track_and_its_original_goes_with_a_job() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let mallory = server.register_as("mallory").await;
    let cmd = CreateUser {
        email: "root@example.com".into(),
        username: "root".into(),
        password: PASSWORD.into(),
        display_name: None,
        role: Role::Admin,
    };
    server.services.users.create(cmd).await.unwrap();
    let admin = server.login_ok("root").await;
    let first = upload(&server, &alice, Upload::public("One")).await;
    let second = upload(&server, &alice, Upload::with("Two", "private")).await;
    server.run_jobs().await;
    let principal = server.services.auth.authenticate(&alice.access).await.unwrap();
    let blob =
        server.services.tracks.get(Some(&principal), first.parse().unwrap()).await.unwrap().blob;

    let path = format!("/api/v1/tracks/{first}");
    let response = send(&server, Method::DELETE, &path, &mallory, json!({})).await;
    expect_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let hidden = format!("/api/v1/tracks/{second}");
    let response = send(&server, Method::DELETE, &hidden, &mallory, json!({})).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;

    let response =
        server.request(Method::DELETE, &path).bearer_auth(&alice.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response =
        server.request(Method::DELETE, &hidden).bearer_auth(&admin.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    expect_problem(get(&server, &path, Some(&alice)).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    let response =
        server.request(Method::DELETE, &path).bearer_auth(&alice.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let blobs = veza_cli::wiring::blobs(&server.settings).unwrap();
    assert!(blobs.head(&blob).await.unwrap().is_some(), "removed by the job, not the request");
    server.run_jobs().await;
    assert_eq!(blobs.head(&blob).await.unwrap(), None);
}

#[tokio::test]
async fn search_ranks_public_tracks_and_refuses_what_it_cannot_search() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let dawn = Upload {
        description: Some("ambient dawn, slow dawn chorus"),
        ..Upload::public("Dawn Chorus")
    };
    let dawn = upload(&server, &alice, dawn).await;
    let passing = Upload { description: Some("a dawn mention"), ..Upload::public("Harbour") };
    let passing = upload(&server, &alice, passing).await;
    let hidden = upload(&server, &alice, Upload::with("Dawn Secret", "private")).await;
    upload(&server, &alice, Upload::public("Unrelated")).await;
    server.run_jobs().await;

    let found =
        expect_json(get(&server, "/api/v1/search?q=dawn", None).await, StatusCode::OK).await;
    let ids = item_ids(&found["tracks"]);
    assert_eq!(ids.first().map(String::as_str), Some(dawn.as_str()), "the best match first");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>(), [&dawn, &passing].into_iter().collect());
    assert!(!ids.contains(&hidden), "private tracks are not found");
    let typed =
        expect_json(get(&server, "/api/v1/search?q=DAWN&type=tracks", None).await, StatusCode::OK)
            .await;
    assert_eq!(item_ids(&typed["tracks"]), ids);

    for (query, status, code) in [
        ("q=", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("q=%21%21%20%2B", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("q=dawn&type=users", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("q=dawn&type=tracks,films", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("type=tracks", StatusCode::BAD_REQUEST, "malformed_request"),
        ("q=dawn&limit=500", StatusCode::BAD_REQUEST, "invalid_pagination"),
    ] {
        let response = get(&server, &format!("/api/v1/search?{query}"), None).await;
        expect_problem(response, status, code).await;
    }
}
