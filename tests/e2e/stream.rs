//! The stream server round trip over HTTP: a processed track is announced to the stream
//! server (a stand-in HTTP server on a loopback port) by a queued job that survives a 500,
//! and the stream server's callback, authenticated by the internal token, sets the track's
//! `hls_url`.

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use uuid::Uuid;
use veza_core::clock::ManualClock;
use veza_core::jobs::{JobStatus, Outcome};
use veza_core::pagination::PageRequest;
use veza_core::tracks::{NOTIFY_STREAM_JOB, PROCESS_JOB};

use crate::support::{
    INTERNAL_TOKEN, Options, TestServer, Tokens, audio_fixture, expect_json, expect_problem,
};

/// What the stand-in stream server received: `Authorization` header and JSON body.
type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A stand-in stream server: answers the scripted statuses in turn, then 204.
async fn stream_server(script: &[u16]) -> (String, Received) {
    let received: Received = Arc::default();
    let answers = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
    let (log, next) = (received.clone(), answers.clone());
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (log, next) = (log.clone(), next.clone());
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                let json = serde_json::from_str(&body).expect("JSON notice");
                log.lock().unwrap().push((auth.map(str::to_owned), json));
                AxumStatus::from_u16(next.lock().unwrap().pop_front().unwrap_or(204)).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn upload(server: &TestServer, by: &Tokens, visibility: &str) -> String {
    let bytes = audio_fixture("tone-2s.flac");
    let fields = [("title", "Packaged"), ("visibility", visibility)];
    let response = server.upload_track(by, "tone-2s.flac", bytes, &fields).await;
    expect_json(response, StatusCode::CREATED).await["id"].as_str().unwrap().to_owned()
}

fn callback(server: &TestServer, track: &str) -> RequestBuilder {
    server.request(Method::POST, &format!("/api/v1/internal/tracks/{track}/stream-ready"))
}

async fn hls_url(server: &TestServer, track: &str, by: &Tokens) -> Value {
    let response = server.get_as(&format!("/api/v1/tracks/{track}"), &by.access).await;
    expect_json(response, StatusCode::OK).await["hls_url"].clone()
}

#[tokio::test]
async fn a_ready_track_is_announced_despite_a_500_and_the_callback_sets_its_hls_url() {
    let (url, received) = stream_server(&[500]).await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let options =
        Options { clock: Some(clock.clone()), stream_server_url: Some(url), ..Options::default() };
    let server = TestServer::start_with_options(options).await;
    let alice = server.register_as("alice").await;
    let track = upload(&server, &alice, "private").await;
    let runner = veza_cli::wiring::job_runner_with_clock(&server.services, clock.clone());
    let (_keep, mut shutdown) = tokio::sync::watch::channel(false);

    assert_eq!(runner.run_one(&mut shutdown).await.unwrap(), Some(Outcome::Done), "processed");
    let refused = runner.run_one(&mut shutdown).await.unwrap();
    assert!(matches!(&refused, Some(Outcome::Retrying { error }) if error.contains("500")));
    assert_eq!(runner.run_one(&mut shutdown).await.unwrap(), None, "waits for its backoff");
    clock.advance(time::Duration::seconds(5));
    assert_eq!(runner.run_one(&mut shutdown).await.unwrap(), Some(Outcome::Done), "retried");

    let notices = received.lock().unwrap().clone();
    assert_eq!(notices.len(), 2, "the refused notice and its retry");
    let (auth, notice) = &notices[1];
    assert_eq!(auth.as_deref(), Some(format!("Bearer {INTERNAL_TOKEN}").as_str()));
    assert_eq!(notice["track_id"], track);
    assert_eq!(notice["owner_id"], alice.user_id);
    assert_eq!(
        (&notice["format"], &notice["content_type"]),
        (&json!("flac"), &json!("audio/flac"))
    );
    assert!(notice["blob_key"].as_str().unwrap().starts_with("tracks/"));
    assert!(notice["size_bytes"].as_u64().unwrap() > 0 && notice["duration_ms"].is_u64());
    let callback_url = notice["callback_url"].as_str().unwrap().to_owned();
    assert_eq!(callback_url, server.url(&format!("/api/v1/internal/tracks/{track}/stream-ready")));
    assert_eq!(hls_url(&server, &track, &alice).await, Value::Null, "nothing reported yet");

    // The stream server answers on the URL it was given, with the token.
    let playlist = "https://cdn.example/hls/packaged/master.m3u8";
    let response = server
        .client
        .post(&callback_url)
        .bearer_auth(INTERNAL_TOKEN)
        .json(&json!({"status": "ready", "hls_url": playlist}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(hls_url(&server, &track, &alice).await, playlist);

    let failed = json!({"status": "failed", "error": "segmenter crashed"});
    let response =
        callback(&server, &track).bearer_auth(INTERNAL_TOKEN).json(&failed).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(hls_url(&server, &track, &alice).await, Value::Null, "a failure replaces it");
}

#[tokio::test]
async fn without_a_stream_server_no_notice_is_queued() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    upload(&server, &alice, "public").await;
    let runner = veza_cli::wiring::job_runner(&server.services);
    let (_keep, mut shutdown) = tokio::sync::watch::channel(false);
    while runner.run_one(&mut shutdown).await.unwrap().is_some() {}

    let jobs = server.services.jobs.list_jobs(None, PageRequest::first(100)).await.unwrap();
    assert!(jobs.iter().all(|j| j.kind != NOTIFY_STREAM_JOB), "{jobs:?}");
    // Besides the processing, only the upload's safety-net removals, due a day later.
    let due: Vec<_> = jobs.iter().filter(|j| j.status != JobStatus::Queued).collect();
    assert_eq!(due.len(), 1, "{jobs:?}");
    assert_eq!((due[0].kind.as_str(), due[0].status), (PROCESS_JOB, JobStatus::Done));
}

#[tokio::test]
async fn the_callback_needs_the_internal_token_a_known_track_and_a_valid_report() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let track = upload(&server, &alice, "public").await;
    let ready = json!({"status": "ready", "hls_url": "https://cdn.example/a.m3u8"});

    for (what, request) in [
        ("no token", callback(&server, &track)),
        ("a wrong token", callback(&server, &track).bearer_auth("x".repeat(44))),
        ("a prefix of the token", callback(&server, &track).bearer_auth(&INTERNAL_TOKEN[..40])),
        ("a user's access token", callback(&server, &track).bearer_auth(&alice.access)),
        ("another scheme", callback(&server, &track).basic_auth("stream", Some(INTERNAL_TOKEN))),
    ] {
        let response = request.json(&ready).send().await.unwrap();
        let problem =
            expect_problem(response, StatusCode::UNAUTHORIZED, "invalid_internal_token").await;
        assert!(!problem.to_string().contains(INTERNAL_TOKEN), "{what}: {problem}");
    }
    // Authentication comes first: a stranger learns nothing about bodies or tracks.
    let response = callback(&server, &Uuid::now_v7().to_string())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED, "invalid_internal_token").await;
    assert_eq!(hls_url(&server, &track, &alice).await, Value::Null, "nothing recorded");

    let with_token = |track: &str| callback(&server, track).bearer_auth(INTERNAL_TOKEN);
    let response = with_token(&Uuid::now_v7().to_string()).json(&ready).send().await.unwrap();
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = with_token("not-a-uuid").json(&ready).send().await.unwrap();
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;

    let unknown_field = json!({"status": "ready", "hls_url": "https://cdn.example/a.m3u8", "x": 1});
    let response = with_token(&track).json(&unknown_field).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = with_token(&track).json(&json!({"status": 7})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    for (body, field) in [
        (json!({"status": "done"}), "status"),
        (json!({"status": "ready"}), "hls_url"),
        (json!({"status": "ready", "hls_url": "javascript:alert(1)"}), "hls_url"),
        (json!({"status": "ready", "hls_url": "/relative.m3u8"}), "hls_url"),
        (json!({"status": "failed", "hls_url": "https://cdn.example/a.m3u8"}), "hls_url"),
    ] {
        let response = with_token(&track).json(&body).send().await.unwrap();
        let problem =
            expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    assert_eq!(hls_url(&server, &track, &alice).await, Value::Null, "nothing recorded");

    let response = with_token(&track).json(&ready).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(hls_url(&server, &track, &alice).await, "https://cdn.example/a.m3u8");
}
