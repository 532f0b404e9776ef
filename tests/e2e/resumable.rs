//! tus 1.0 resumable uploads over HTTP (`/api/v1/tracks/uploads`) and `POST
//! /api/v1/tracks/from-upload`: the protocol's headers and refusals, ownership, termination,
//! expiry, a track made of chunks, and a real tus client (tuspy) resuming a cut-off chunk.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use veza_core::clock::ManualClock;

use crate::support::{Options, TestServer, Tokens, audio_fixture, expect_json, expect_problem};

const UPLOADS: &str = "/api/v1/tracks/uploads";
const OFFSET_STREAM: &str = "application/offset+octet-stream";

fn fixture() -> Vec<u8> {
    audio_fixture("tone-2s.mp3")
}

fn tus(server: &TestServer, method: Method, path: &str, by: &Tokens) -> RequestBuilder {
    server.request(method, path).bearer_auth(&by.access).header("tus-resumable", "1.0.0")
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("text header")
}

fn sha1_header(bytes: &[u8]) -> String {
    format!("sha1 {}", STANDARD.encode(Sha1::digest(bytes)))
}

/// Declares an upload of `length` bytes; returns its path (the `Location`).
async fn create(server: &TestServer, by: &Tokens, length: u64) -> String {
    let metadata = format!(
        "filename {},filetype {}",
        STANDARD.encode("tone.mp3"),
        STANDARD.encode("audio/mpeg")
    );
    let response = tus(server, Method::POST, UPLOADS, by)
        .header("upload-length", length)
        .header("upload-metadata", metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header(&response, "tus-resumable"), "1.0.0");
    let location = header(&response, "location").to_owned();
    assert!(location.starts_with(&format!("{UPLOADS}/")), "{location}");
    location
}

async fn patch(
    server: &TestServer,
    by: &Tokens,
    path: &str,
    offset: u64,
    bytes: &[u8],
    checksum: Option<String>,
) -> Response {
    let mut request = tus(server, Method::PATCH, path, by)
        .header("content-type", OFFSET_STREAM)
        .header("upload-offset", offset)
        .body(bytes.to_vec());
    if let Some(checksum) = checksum {
        request = request.header("upload-checksum", checksum);
    }
    request.send().await.unwrap()
}

/// `HEAD`'s offset, asserting the headers every status answer carries.
async fn offset(server: &TestServer, by: &Tokens, path: &str) -> u64 {
    let response = tus(server, Method::HEAD, path, by).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "cache-control"), "no-store");
    assert_eq!(header(&response, "tus-resumable"), "1.0.0");
    header(&response, "upload-offset").parse().unwrap()
}

async fn head_status(server: &TestServer, by: &Tokens, path: &str) -> StatusCode {
    tus(server, Method::HEAD, path, by).send().await.unwrap().status()
}

/// Uploads `bytes` in `chunk`-sized PATCHes with checksums; returns the upload's path.
async fn upload_in_chunks(server: &TestServer, by: &Tokens, bytes: &[u8], chunk: usize) -> String {
    let path = create(server, by, bytes.len() as u64).await;
    let mut at = 0;
    for piece in bytes.chunks(chunk) {
        let response = patch(server, by, &path, at, piece, Some(sha1_header(piece))).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        at += piece.len() as u64;
        assert_eq!(header(&response, "upload-offset"), at.to_string());
    }
    path
}

fn upload_id(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

async fn from_upload(server: &TestServer, by: &Tokens, body: Value) -> Response {
    server
        .request(Method::POST, "/api/v1/tracks/from-upload")
        .bearer_auth(&by.access)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Every file under `dir`, recursively (none if it does not exist).
/// The stored blobs under `prefix` (`uploads/`, `tracks/`), files or S3.
async fn keys_under(server: &TestServer, prefix: &str) -> Vec<String> {
    server.blob_keys().await.into_iter().filter(|k| k.starts_with(prefix)).collect()
}

/// Asserts the only stored original is `bytes` and no upload part is left.
async fn assert_stored_original(server: &TestServer, bytes: &[u8]) {
    let originals = keys_under(server, "tracks/").await;
    assert_eq!(originals.len(), 1, "{originals:?}");
    let blobs = veza_cli::wiring::blobs(&server.settings).expect("blob store");
    let key = veza_core::blobs::BlobKey::parse(&originals[0]).unwrap();
    let stored = blobs.get(&key, None).await.unwrap().body.collect().await.unwrap();
    assert!(stored == bytes, "the stored bytes are the file's");
    assert_eq!(keys_under(server, "uploads/").await, Vec::<String>::new(), "parts removed");
}

#[tokio::test]
async fn options_advertise_the_protocol_and_other_versions_are_412() {
    let server = TestServer::start().await;
    let options = server.request(Method::OPTIONS, UPLOADS).send().await.unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&options, "tus-resumable"), "1.0.0");
    assert_eq!(header(&options, "tus-version"), "1.0.0");
    assert_eq!(header(&options, "tus-extension"), "creation,termination,checksum,expiration");
    assert_eq!(header(&options, "tus-max-size"), "524288000");
    assert_eq!(header(&options, "tus-checksum-algorithm"), "sha1");

    let alice = server.register_as("alice").await;
    for version in [Some("0.2.2"), None] {
        let mut request = server
            .request(Method::POST, UPLOADS)
            .bearer_auth(&alice.access)
            .header("upload-length", 10);
        if let Some(version) = version {
            request = request.header("tus-resumable", version);
        }
        let response = request.send().await.unwrap();
        assert_eq!(header(&response, "tus-version"), "1.0.0");
        assert_eq!(header(&response, "tus-resumable"), "1.0.0");
        expect_problem(response, StatusCode::PRECONDITION_FAILED, "unsupported_tus_version").await;
    }
}

#[tokio::test]
async fn an_upload_in_chunks_becomes_a_track_that_is_processed() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let bytes = fixture();

    let path = create(&server, &alice, bytes.len() as u64).await;
    let head = tus(&server, Method::HEAD, &path, &alice).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, "upload-length"), bytes.len().to_string());
    assert_eq!(header(&head, "upload-offset"), "0");
    let expires = header(&head, "upload-expires");
    assert!(expires.ends_with(" GMT") && expires.len() == 29, "an IMF-fixdate: {expires}");
    let mut at = 0;
    for piece in bytes.chunks(10_000) {
        let response = patch(&server, &alice, &path, at, piece, Some(sha1_header(piece))).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&response, "tus-resumable"), "1.0.0");
        at += piece.len() as u64;
        assert_eq!(header(&response, "upload-offset"), at.to_string());
        assert_eq!(offset(&server, &alice, &path).await, at);
    }

    let body = json!({"upload_id": upload_id(&path), "title": "Night Drive", "tags": ["Dark"], "visibility": "public"});
    let track = expect_json(from_upload(&server, &alice, body).await, StatusCode::CREATED).await;
    assert_eq!(track["status"], "processing");
    assert_eq!(track["title"], "Night Drive");
    assert_eq!(track["tags"], json!(["dark"]));
    assert_eq!(track["size_bytes"], bytes.len());
    assert_eq!(head_status(&server, &alice, &path).await, StatusCode::NOT_FOUND, "consumed");
    assert_stored_original(&server, &bytes).await;

    server.run_jobs().await;
    let id = track["id"].as_str().unwrap();
    let response = server.get_as(&format!("/api/v1/tracks/{id}"), &alice.access).await;
    let track = expect_json(response, StatusCode::OK).await;
    assert_eq!(track["status"], "ready", "{track}");
    assert!(track["duration_ms"].as_u64().unwrap() > 1900);
    let again = from_upload(&server, &alice, json!({"upload_id": upload_id(&path), "title": "x"}));
    expect_problem(again.await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn the_file_name_titles_a_track_whose_request_names_none() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let path = upload_in_chunks(&server, &alice, &fixture(), 16_384).await;
    let response = from_upload(&server, &alice, json!({"upload_id": upload_id(&path)})).await;
    let track = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(track["title"], "tone");
}

#[tokio::test]
async fn wrong_offsets_checksums_types_and_lengths_are_refused_and_keep_nothing() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let path = create(&server, &alice, 10).await;

    let stale = patch(&server, &alice, &path, 5, b"hello", None).await;
    assert_eq!(header(&stale, "tus-resumable"), "1.0.0");
    expect_problem(stale, StatusCode::CONFLICT, "offset_mismatch").await;
    let wrong = patch(&server, &alice, &path, 0, b"hello", Some(sha1_header(b"other"))).await;
    let status = StatusCode::from_u16(460).unwrap();
    let body = expect_problem(wrong, status, "checksum_mismatch").await;
    assert_eq!(body["title"], "Checksum Mismatch");
    assert_eq!(offset(&server, &alice, &path).await, 0, "a refused body moves nothing");
    let md5 = format!("md5 {}", STANDARD.encode([0u8; 16]));
    let unsupported = patch(&server, &alice, &path, 0, b"hello", Some(md5)).await;
    expect_problem(unsupported, StatusCode::BAD_REQUEST, "unsupported_checksum").await;
    let bad = patch(&server, &alice, &path, 0, b"hello", Some("sha1 !!".into())).await;
    expect_problem(bad, StatusCode::BAD_REQUEST, "malformed_request").await;
    let typed = tus(&server, Method::PATCH, &path, &alice)
        .header("content-type", "application/octet-stream")
        .header("upload-offset", 0)
        .body("hello")
        .send()
        .await
        .unwrap();
    expect_problem(typed, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let no_offset = tus(&server, Method::PATCH, &path, &alice)
        .header("content-type", OFFSET_STREAM)
        .body("hello")
        .send()
        .await
        .unwrap();
    expect_problem(no_offset, StatusCode::BAD_REQUEST, "malformed_request").await;
    let long = patch(&server, &alice, &path, 0, b"twelve bytes", None).await;
    expect_problem(long, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(offset(&server, &alice, &path).await, 0);

    let ok = patch(&server, &alice, &path, 0, b"hello", Some(sha1_header(b"hello"))).await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    let incomplete =
        from_upload(&server, &alice, json!({"upload_id": upload_id(&path), "title": "t"}));
    expect_problem(incomplete.await, StatusCode::CONFLICT, "upload_incomplete").await;
    let replay = patch(&server, &alice, &path, 0, b"hello", None).await;
    expect_problem(replay, StatusCode::CONFLICT, "offset_mismatch").await;
    assert_eq!(offset(&server, &alice, &path).await, 5);
    let parts = keys_under(&server, "uploads/").await;
    assert_eq!(parts.len(), 1, "one part for the one append that landed: {parts:?}");
}

#[tokio::test]
async fn creation_requires_a_length_within_the_limit_and_sane_metadata() {
    let server = TestServer::start_with_options(Options {
        max_upload_bytes: Some(1000),
        ..Options::default()
    })
    .await;
    let alice = server.register_as("alice").await;
    let create_with = |headers: Vec<(&'static str, String)>| {
        let mut request = tus(&server, Method::POST, UPLOADS, &alice);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let too_large = create_with(vec![("upload-length", "1001".into())]).await.unwrap();
    expect_problem(too_large, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    for headers in [
        vec![],
        vec![("upload-length", "-1".into())],
        vec![("upload-length", "ten".into())],
        vec![("upload-defer-length", "1".into())],
        vec![("upload-length", "10".into()), ("upload-metadata", "filename ***".into())],
    ] {
        let response = create_with(headers.clone()).await.unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    }
    let anonymous = server.request(Method::POST, UPLOADS).header("tus-resumable", "1.0.0");
    let response = anonymous.header("upload-length", "10").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        create_with(vec![("upload-length", "1000".into())]).await.unwrap().status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn only_the_creator_may_touch_an_upload_and_hostile_ids_are_404() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let bob = server.register_as("bob").await;
    let path = upload_in_chunks(&server, &alice, &fixture(), 20_000).await;

    assert_eq!(head_status(&server, &bob, &path).await, StatusCode::NOT_FOUND);
    let response = patch(&server, &bob, &path, 0, b"x", None).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = tus(&server, Method::DELETE, &path, &bob).send().await.unwrap();
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response =
        from_upload(&server, &bob, json!({"upload_id": upload_id(&path), "title": "Mine"}));
    expect_problem(response.await, StatusCode::NOT_FOUND, "not_found").await;

    for hostile in ["..%2F..%2Fx", "..", "not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let path = format!("{UPLOADS}/{hostile}");
        assert_eq!(head_status(&server, &alice, &path).await, StatusCode::NOT_FOUND, "{hostile}");
        let response = patch(&server, &alice, &path, 0, b"x", None).await;
        expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let response =
        from_upload(&server, &alice, json!({"upload_id": "../../x", "title": "t"})).await;
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    let unknown_field = json!({"upload_id": upload_id(&path), "title": "t", "owner": "bob"});
    let response = from_upload(&server, &alice, unknown_field).await;
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;

    assert_eq!(offset(&server, &alice, &path).await, fixture().len() as u64, "untouched");
}

#[tokio::test]
async fn termination_removes_the_upload_and_its_parts() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let path = create(&server, &alice, 100).await;
    patch(&server, &alice, &path, 0, b"some bytes", None).await;
    assert_eq!(keys_under(&server, "uploads/").await.len(), 1);

    let response = tus(&server, Method::DELETE, &path, &alice).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "tus-resumable"), "1.0.0");

    assert_eq!(head_status(&server, &alice, &path).await, StatusCode::NOT_FOUND);
    let response = patch(&server, &alice, &path, 10, b"more", None).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(keys_under(&server, "uploads/").await, Vec::<String>::new());
}

#[tokio::test]
async fn refused_content_leaves_no_track_no_original_and_no_upload() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n".repeat(20);
    let path = upload_in_chunks(&server, &alice, &pdf, 500).await;

    let response =
        from_upload(&server, &alice, json!({"upload_id": upload_id(&path), "title": "Doc"}));
    expect_problem(response.await, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        .await;

    assert_eq!(head_status(&server, &alice, &path).await, StatusCode::NOT_FOUND);
    assert_eq!(server.blob_keys().await, Vec::<String>::new(), "nothing stored");
    let mine = server.get_as("/api/v1/tracks?owner=alice", &alice.access).await;
    assert_eq!(expect_json(mine, StatusCode::OK).await["items"], json!([]));

    // A bad title is the request's fault, not the file's: the upload stays for a retry.
    let path = upload_in_chunks(&server, &alice, &fixture(), 20_000).await;
    let untitled = json!({"upload_id": upload_id(&path), "title": " ", "bpm": 5});
    expect_problem(
        from_upload(&server, &alice, untitled).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let bad_bpm = json!({"upload_id": upload_id(&path), "title": "Ok", "bpm": 5});
    expect_problem(
        from_upload(&server, &alice, bad_bpm).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(keys_under(&server, "tracks/").await, Vec::<String>::new(), "original discarded");
    assert_eq!(offset(&server, &alice, &path).await, fixture().len() as u64, "the upload stays");
    let retry = json!({"upload_id": upload_id(&path), "title": "Ok", "bpm": 120});
    expect_json(from_upload(&server, &alice, retry).await, StatusCode::CREATED).await;
}

#[tokio::test]
async fn an_expired_upload_is_gone_at_once_and_its_job_removes_its_parts() {
    // Two days back, so the expiry job is due for the runner's real clock too.
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc() - Duration::days(2)));
    let server = TestServer::start_with_clock(clock.clone()).await;
    let alice = server.register_as("alice").await;
    let path = create(&server, &alice, 100).await;
    patch(&server, &alice, &path, 0, b"some bytes", None).await;
    clock.advance(Duration::hours(23));
    // Access tokens last minutes; the upload outlives them.
    let alice = server.login_ok("alice").await;
    assert_eq!(offset(&server, &alice, &path).await, 10, "alive within its 24 hours");

    clock.advance(Duration::hours(2));
    let alice = server.login_ok("alice").await;

    assert_eq!(head_status(&server, &alice, &path).await, StatusCode::NOT_FOUND);
    let response = patch(&server, &alice, &path, 10, b"late", None).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(keys_under(&server, "uploads/").await.len(), 1, "the job has not run yet");
    server.run_jobs().await;
    assert_eq!(keys_under(&server, "uploads/").await, Vec::<String>::new());
}

/// tuspy (PyPI), a real tus client, in the interpreter `VEZA_TEST_TUS_PYTHON` names (CI
/// installs it in a venv); `None` to skip, except under `CI=true`.
fn tus_python() -> Option<String> {
    veza_adapters::testing::service_var("VEZA_TEST_TUS_PYTHON", "the tuspy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_tus_client_resumes_a_cut_off_chunk_and_the_track_is_the_file() {
    let Some(python) = tus_python() else { return };
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let file = format!("{}/tone-2s.mp3", crate::support::AUDIO_FIXTURES);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tus/resume.py");

    let output = tokio::process::Command::new(&python)
        .args([script, &server.base, &alice.access, &file])
        .output()
        .await
        .expect("run the tus client");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tuspy failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = stdout.trim();
    assert!(url.starts_with(&server.url(UPLOADS)), "{url}");
    let body = json!({"upload_id": upload_id(url), "title": "Resumed"});
    let track = expect_json(from_upload(&server, &alice, body).await, StatusCode::CREATED).await;
    assert_eq!(track["size_bytes"], fixture().len());
    assert_stored_original(&server, &fixture()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_requests_on_one_upload_land_once() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let bytes = fixture();
    let path = create(&server, &alice, bytes.len() as u64).await;

    let appends = (0..6).map(|_| patch(&server, &alice, &path, 0, &bytes, None));
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(appends).await.iter().map(Response::status).collect();
    let landed = statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count();
    assert_eq!(landed, 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| [StatusCode::NO_CONTENT, StatusCode::CONFLICT].contains(s)));
    assert_eq!(offset(&server, &alice, &path).await, bytes.len() as u64);

    let body = json!({"upload_id": upload_id(&path), "title": "Once"});
    let makes = (0..4).map(|_| from_upload(&server, &alice, body.clone()));
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(makes).await.iter().map(Response::status).collect();
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "one track per upload: {statuses:?}");
    let others = [StatusCode::CREATED, StatusCode::CONFLICT, StatusCode::NOT_FOUND];
    assert!(statuses.iter().all(|s| others.contains(s)), "{statuses:?}");
    assert_stored_original(&server, &bytes).await;
}
