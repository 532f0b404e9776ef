//! `GET`/`HEAD /api/v1/tracks/{id}/stream` and `/download` over HTTP: byte-exact ranges
//! against the uploaded file, validators and conditional requests, who may have the bytes,
//! and the file name a download offers.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::json;

use crate::support::{TestServer, Tokens, audio_fixture, expect_json, expect_problem};

fn fixture(name: &str) -> Vec<u8> {
    audio_fixture(name)
}

/// A mono 8-bit WAV of `data_len` bytes of a pattern that never repeats within 251 bytes,
/// so a range read from the wrong place cannot compare equal.
fn wav(data_len: u32) -> Vec<u8> {
    let mut file = Vec::with_capacity(44 + data_len as usize);
    file.extend_from_slice(b"RIFF");
    file.extend_from_slice(&(36 + data_len).to_le_bytes());
    file.extend_from_slice(b"WAVEfmt ");
    file.extend_from_slice(&16u32.to_le_bytes());
    file.extend_from_slice(&1u16.to_le_bytes()); // PCM
    file.extend_from_slice(&1u16.to_le_bytes()); // mono
    file.extend_from_slice(&8000u32.to_le_bytes());
    file.extend_from_slice(&8000u32.to_le_bytes());
    file.extend_from_slice(&1u16.to_le_bytes());
    file.extend_from_slice(&8u16.to_le_bytes());
    file.extend_from_slice(b"data");
    file.extend_from_slice(&data_len.to_le_bytes());
    file.extend((0..data_len).map(|i| (i % 251) as u8));
    file
}

/// Uploads `bytes` through `POST /tracks`; returns the track id.
async fn upload(
    server: &TestServer,
    by: &Tokens,
    bytes: Vec<u8>,
    title: &str,
    fields: &[(&str, &str)],
) -> String {
    let mut all = vec![("title", title)];
    all.extend_from_slice(fields);
    let response = server.upload_track(by, "upload.bin", bytes, &all).await;
    let track = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(track["status"], "processing");
    track["id"].as_str().unwrap().to_owned()
}

fn request(
    server: &TestServer,
    method: Method,
    path: &str,
    by: Option<&Tokens>,
    headers: &[(&'static str, &str)],
) -> RequestBuilder {
    let mut request = server.request(method, path);
    if let Some(tokens) = by {
        request = request.bearer_auth(&tokens.access);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

/// Status, headers and body of a `GET`.
async fn fetch(
    server: &TestServer,
    path: &str,
    by: Option<&Tokens>,
    headers: &[(&'static str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = request(server, Method::GET, path, by, headers).send().await.expect("request");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.expect("body").to_vec())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name}"))
}

#[tokio::test]
async fn ranges_are_answered_byte_exact() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    // Over 512 KiB, so ranges cross the file reader's chunk boundaries.
    let file = wav(1_300_000);
    let size = file.len();
    let id = upload(&server, &alice, file.clone(), "Pattern", &[]).await;
    let path = format!("/api/v1/tracks/{id}/stream");
    let owner = Some(&alice);

    let (status, headers, body) = fetch(&server, &path, owner, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == file, "the whole file, byte for byte");
    assert_eq!(header(&headers, "content-length"), size.to_string());
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert_eq!(header(&headers, "content-type"), "audio/wav");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert!(headers.get("content-range").is_none());
    assert!(header(&headers, "cache-control").starts_with("private"), "processing: owner only");
    let etag = header(&headers, "etag");
    assert!(etag.starts_with('"') && etag.len() == 66, "strong, the content hash: {etag}");
    assert!(header(&headers, "last-modified").ends_with(" GMT"));

    let cases: [(String, std::ops::Range<usize>); 6] = [
        ("bytes=0-0".into(), 0..1),
        ("bytes=524000-525000".into(), 524_000..525_001),
        ("bytes=-500".into(), size - 500..size),
        (format!("bytes={}-", size - 10), size - 10..size),
        (format!("bytes={}-{}", size - 5, size + 1000), size - 5..size),
        ("bytes=-99999999".into(), 0..size),
    ];
    for (range, bytes) in cases {
        let (status, headers, body) = fetch(&server, &path, owner, &[("range", &range)]).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert!(body == file[bytes.clone()], "{range}: wrong bytes");
        let expected = format!("bytes {}-{}/{size}", bytes.start, bytes.end - 1);
        assert_eq!(header(&headers, "content-range"), expected, "{range}");
        assert_eq!(header(&headers, "content-length"), bytes.len().to_string(), "{range}");
    }

    for unsatisfiable in
        [format!("bytes={size}-"), format!("bytes={size}-{}", size + 9), "bytes=-0".into()]
    {
        let response = request(&server, Method::GET, &path, owner, &[("range", &unsatisfiable)])
            .send()
            .await
            .unwrap();
        assert_eq!(header(response.headers(), "content-range"), format!("bytes */{size}"));
        expect_problem(response, StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable").await;
    }

    // Malformed and multi-range values are ignored: the whole file (RFC 9110 §14.2).
    for ignored in ["bytes=9-3", "bytes=0-1,4-5", "bytes=x-", "pages=1-2", "bytes=--1"] {
        let (status, headers, body) = fetch(&server, &path, owner, &[("range", ignored)]).await;
        assert_eq!(status, StatusCode::OK, "{ignored}");
        assert!(body == file, "{ignored}");
        assert!(headers.get("content-range").is_none(), "{ignored}");
    }
}

#[tokio::test]
async fn validators_drive_if_range_and_if_none_match() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let file = fixture("tone-2s.flac");
    let id = upload(&server, &alice, file.clone(), "Tone", &[]).await;
    let path = format!("/api/v1/tracks/{id}/stream");
    let owner = Some(&alice);

    let (_, headers, _) = fetch(&server, &path, owner, &[]).await;
    let etag = header(&headers, "etag").to_owned();
    let modified = header(&headers, "last-modified").to_owned();

    for (validator, partial) in [
        (etag.as_str(), true),
        (modified.as_str(), true),
        ("\"not-this-one\"", false),
        (&format!("W/{etag}"), false),
        ("Thu, 01 Jan 1970 00:00:00 GMT", false),
        ("garbage", false),
    ] {
        let (status, _, body) =
            fetch(&server, &path, owner, &[("range", "bytes=4-7"), ("if-range", validator)]).await;
        if partial {
            assert_eq!(status, StatusCode::PARTIAL_CONTENT, "If-Range {validator}");
            assert!(body == file[4..8], "If-Range {validator}");
        } else {
            assert_eq!(status, StatusCode::OK, "If-Range {validator}: the whole file");
            assert!(body == file, "If-Range {validator}");
        }
    }

    for held in [etag.clone(), format!("\"x\", {etag}"), format!("W/{etag}"), "*".into()] {
        let (status, headers, body) =
            fetch(&server, &path, owner, &[("if-none-match", &held)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "If-None-Match {held}");
        assert!(body.is_empty());
        assert_eq!(header(&headers, "etag"), etag);
    }
    let (status, _, body) = fetch(&server, &path, owner, &[("if-none-match", "\"x\"")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == file);
}

#[tokio::test]
async fn head_answers_the_headers_without_a_body() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let file = fixture("tone-2s.mp3");
    let id = upload(&server, &alice, file.clone(), "Tone", &[]).await;
    for route in ["stream", "download"] {
        let path = format!("/api/v1/tracks/{id}/{route}");
        let (_, get_headers, _) = fetch(&server, &path, Some(&alice), &[]).await;
        let response =
            request(&server, Method::HEAD, &path, Some(&alice), &[]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{route}");
        let headers = response.headers().clone();
        for name in [
            "content-length",
            "content-type",
            "etag",
            "last-modified",
            "accept-ranges",
            "cache-control",
        ] {
            assert_eq!(header(&headers, name), header(&get_headers, name), "{route}: {name}");
        }
        assert_eq!(header(&headers, "content-length"), file.len().to_string());
        assert_eq!(header(&headers, "content-type"), "audio/mpeg");
        assert!(response.bytes().await.unwrap().is_empty(), "{route}: no body");
    }
    let response =
        request(&server, Method::HEAD, &format!("/api/v1/tracks/{id}/stream"), None, &[])
            .send()
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "processing: not for others");
}

#[tokio::test]
async fn a_track_streams_for_others_once_ready_and_private_ones_never() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let bob = server.register_as("bob").await;
    let file = fixture("tone-2s.ogg");
    let public = upload(&server, &alice, file.clone(), "Open", &[]).await;
    let private = upload(&server, &alice, file.clone(), "Mine", &[("visibility", "private")]).await;
    let stream = |id: &str| format!("/api/v1/tracks/{id}/stream");

    // Processing: the owner listens, nobody else knows it exists.
    let (status, _, body) = fetch(&server, &stream(&public), Some(&alice), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == file);
    for by in [Some(&bob), None] {
        let response = request(&server, Method::GET, &stream(&public), by, &[]).send().await;
        expect_problem(response.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    }

    server.run_jobs().await;

    for by in [Some(&bob), None] {
        let (status, headers, body) = fetch(&server, &stream(&public), by, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == file);
        assert!(header(&headers, "cache-control").starts_with("public"), "the same for anyone");
        let response = request(&server, Method::GET, &stream(&private), by, &[]).send().await;
        expect_problem(response.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
        let download = format!("/api/v1/tracks/{private}/download");
        let response = request(&server, Method::GET, &download, by, &[]).send().await;
        expect_problem(response.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    }
    let (status, headers, _) = fetch(&server, &stream(&private), Some(&alice), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&headers, "cache-control").starts_with("private"));

    for missing in [uuid::Uuid::now_v7().to_string(), "not-an-id".into()] {
        let response = request(&server, Method::GET, &stream(&missing), None, &[]).send().await;
        expect_problem(response.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn downloads_are_for_the_owner_or_anyone_when_downloadable() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let bob = server.register_as("bob").await;
    let file = fixture("tone-2s.flac");
    let id = upload(&server, &alice, file.clone(), "Night Drive", &[]).await;
    let path = format!("/api/v1/tracks/{id}/download");
    server.run_jobs().await;

    let (status, headers, body) = fetch(&server, &path, Some(&alice), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == file);
    assert_eq!(
        header(&headers, "content-disposition"),
        "attachment; filename=\"Night Drive.flac\"; filename*=UTF-8''Night%20Drive.flac"
    );
    assert_eq!(header(&headers, "content-type"), "audio/flac");
    assert!(header(&headers, "cache-control").starts_with("private"));

    for by in [Some(&bob), None] {
        let response = request(&server, Method::GET, &path, by, &[]).send().await.unwrap();
        let problem = expect_problem(response, StatusCode::FORBIDDEN, "not_downloadable").await;
        assert!(problem["detail"].as_str().unwrap().contains("downloadable"));
    }

    let patch = server
        .request(Method::PATCH, &format!("/api/v1/tracks/{id}"))
        .bearer_auth(&alice.access)
        .json(&json!({"downloadable": true}))
        .send()
        .await
        .unwrap();
    expect_json(patch, StatusCode::OK).await;
    for by in [Some(&bob), None] {
        let (status, headers, body) = fetch(&server, &path, by, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == file);
        assert!(header(&headers, "content-disposition").starts_with("attachment;"));
        assert!(header(&headers, "cache-control").starts_with("public"));
        let (status, _, body) = fetch(&server, &path, by, &[("range", "bytes=10-")]).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "downloads resume");
        assert!(body == file[10..]);
    }
}

#[tokio::test]
async fn hostile_titles_never_make_a_path_or_break_the_header() {
    let server = TestServer::start().await;
    let alice = server.register_as("alice").await;
    let file = fixture("tone-2s.mp3");
    for (title, disposition) in [
        (
            "../../etc/passwd",
            "attachment; filename=\"etc_passwd.mp3\"; filename*=UTF-8''etc_passwd.mp3",
        ),
        (
            "..\\..\\Windows\\win.ini",
            "attachment; filename=\"Windows_win.ini.mp3\"; filename*=UTF-8''Windows_win.ini.mp3",
        ),
        (
            "say \"hi\"; filename=evil.exe",
            "attachment; filename=\"say _hi_; filename=evil.exe.mp3\"; \
             filename*=UTF-8''say%20_hi_%3B%20filename%3Devil.exe.mp3",
        ),
        (
            "Été à 100% — ok",
            "attachment; filename=\"_t_ _ 100_ _ ok.mp3\"; \
             filename*=UTF-8''%C3%89t%C3%A9%20%C3%A0%20100%25%20%E2%80%94%20ok.mp3",
        ),
        ("...", "attachment; filename=\"track.mp3\"; filename*=UTF-8''track.mp3"),
    ] {
        let id = upload(&server, &alice, file.clone(), title, &[]).await;
        let path = format!("/api/v1/tracks/{id}/download");
        let (status, headers, _) = fetch(&server, &path, Some(&alice), &[]).await;
        assert_eq!(status, StatusCode::OK, "{title}");
        assert_eq!(header(&headers, "content-disposition"), disposition, "{title}");
        let value: &HeaderValue = headers.get("content-disposition").unwrap();
        assert!(!value.as_bytes().contains(&b'/') && !value.as_bytes().contains(&b'\\'));
    }
}
