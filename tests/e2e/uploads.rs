//! `POST /api/v1/tracks` (multipart): every accepted format becomes a ready track with its
//! real duration; whatever is not audio, too large, empty, malformed or infected is refused
//! with its problem and leaves nothing stored.

use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use veza_core::audit::Actor;
use veza_core::blobs::BlobBody;
use veza_core::clock::ManualClock;
use veza_core::tracks::UNCLAIMED_ORIGINAL_GRACE;

use crate::support::{Options, TestServer, Tokens, audio_fixture, expect_json, expect_problem};

/// The EICAR anti-virus test file: harmless, and detected by every scanner.
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A 2-second 440 Hz mono 16-bit PCM WAV at 44.1 kHz.
fn wav_2s() -> Vec<u8> {
    let rate = 44_100u32;
    let samples: Vec<i16> = (0..rate * 2)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 12_000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    wav
}

async fn track(server: &TestServer, id: &str, by: &Tokens) -> Value {
    let response = server.get_as(&format!("/api/v1/tracks/{id}"), &by.access).await;
    expect_json(response, StatusCode::OK).await
}

/// No track of `by` exists: a refusal created none (a track created in `processing` would
/// be listed once its job has run).
async fn assert_no_track_for(server: &TestServer, by: &Tokens) {
    server.run_jobs().await;
    let me = expect_json(server.get_as("/api/v1/auth/me", &by.access).await, StatusCode::OK).await;
    let path = format!("/api/v1/tracks?owner={}", me["id"].as_str().unwrap());
    let list = expect_json(server.get_as(&path, &by.access).await, StatusCode::OK).await;
    assert_eq!(list["items"], serde_json::json!([]), "{list}");
}

#[tokio::test]
async fn wav_mp3_flac_vorbis_and_opus_uploads_become_ready_with_their_real_duration() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana").await;
    let files = [
        ("tone.wav", wav_2s(), "pcm"),
        ("tone-2s.mp3", audio_fixture("tone-2s.mp3"), "mp3"),
        ("tone-2s.flac", audio_fixture("tone-2s.flac"), "flac"),
        ("tone-2s.ogg", audio_fixture("tone-2s.ogg"), "vorbis"),
        ("tone-2s.opus", audio_fixture("tone-2s.opus"), "opus"),
    ];
    let mut uploaded = Vec::new();
    for (name, bytes, codec) in files {
        let size = bytes.len();
        let response = server
            .upload_track(&ana, name, bytes, &[("title", name), ("tags", "Tone, test")])
            .await;
        let created = expect_json(response, StatusCode::CREATED).await;
        assert_eq!(created["status"], "processing", "{name}");
        assert_eq!(created["size_bytes"], size, "{name}");
        assert_eq!(created["tags"], serde_json::json!(["tone", "test"]), "{name}");
        uploaded.push((name, created["id"].as_str().unwrap().to_owned(), codec));
    }

    server.run_jobs().await;

    for (name, id, codec) in uploaded {
        let ready = track(&server, &id, &ana).await;
        assert_eq!(ready["status"], "ready", "{name}: {ready}");
        let duration = ready["duration_ms"].as_u64().unwrap();
        assert!(duration.abs_diff(2000) <= 50, "{name}: {duration} ms");
        let found = ready["codec"].as_str().unwrap();
        assert!(found.starts_with(codec), "{name}: codec {found}");
    }
    let profile = server.get_as("/api/v1/users/ana", &ana.access).await;
    assert_eq!(expect_json(profile, StatusCode::OK).await["tracks_count"], 5);
}

#[tokio::test]
async fn a_truncated_mp3_fails_with_a_reason_and_the_worker_carries_on() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana").await;
    let broken =
        server.upload_track(&ana, "cut.mp3", audio_fixture("truncated.mp3"), &[("title", "Cut")]);
    let broken = expect_json(broken.await, StatusCode::CREATED).await;
    let good =
        server.upload_track(&ana, "ok.mp3", audio_fixture("tone-2s.mp3"), &[("title", "Ok")]);
    let good = expect_json(good.await, StatusCode::CREATED).await;

    server.run_jobs().await;

    let failed = track(&server, broken["id"].as_str().unwrap(), &ana).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["failure_reason"].as_str().unwrap().contains("truncated"), "{failed}");
    assert_eq!(failed["duration_ms"], Value::Null);
    let ready = track(&server, good["id"].as_str().unwrap(), &ana).await;
    assert_eq!(ready["status"], "ready", "the next job ran: {ready}");
}

#[tokio::test]
async fn bytes_that_are_not_audio_are_415_whatever_the_name_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana").await;
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n".repeat(50);
    for (name, bytes) in [
        ("song.mp3", pdf),
        ("page.mp3", b"<!DOCTYPE html><html></html>".to_vec()),
        ("tiny.mp3", b"ID".to_vec()),
    ] {
        let response = server.upload_track(&ana, name, bytes, &[("title", "Fake")]).await;
        expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            .await;
    }
    assert_no_track_for(&server, &ana).await;
    assert_eq!(server.blob_keys().await, Vec::<String>::new());
}

#[tokio::test]
async fn an_empty_file_is_422_and_a_missing_title_keeps_nothing() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana").await;
    let empty = server.upload_track(&ana, "empty.mp3", Vec::new(), &[("title", "Empty")]).await;
    expect_problem(empty, StatusCode::UNPROCESSABLE_ENTITY, "empty_file").await;

    // The file arrives before the (missing) title: stored, then removed when the track is refused.
    let untitled = server.upload_track(&ana, "x.mp3", audio_fixture("tone-2s.mp3"), &[]).await;
    let problem =
        expect_problem(untitled, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "title", "{problem}");
    let bad_bpm = server
        .upload_track(
            &ana,
            "x.mp3",
            audio_fixture("tone-2s.mp3"),
            &[("title", "T"), ("bpm", "fast")],
        )
        .await;
    expect_problem(bad_bpm, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    assert_no_track_for(&server, &ana).await;
    assert_eq!(server.blob_keys().await, Vec::<String>::new());
}

#[tokio::test]
async fn malformed_forms_are_400_and_keep_nothing() {
    use reqwest::multipart::{Form, Part};
    let server = TestServer::start().await;
    let ana = server.register_as("ana").await;
    let mp3 = || Part::bytes(audio_fixture("tone-2s.mp3")).file_name("a.mp3");
    let forms = [
        ("no file part", Form::new().text("title", "T")),
        ("two file parts", Form::new().text("title", "T").part("file", mp3()).part("file", mp3())),
        ("unknown field", Form::new().text("title", "T").text("owner_id", "x").part("file", mp3())),
        ("repeated field", Form::new().text("title", "T").text("title", "U").part("file", mp3())),
    ];
    for (what, form) in forms {
        let response = server
            .request(reqwest::Method::POST, "/api/v1/tracks")
            .bearer_auth(&ana.access)
            .multipart(form)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
        assert_eq!(server.blob_keys().await, Vec::<String>::new(), "{what}");
    }
    let json = server
        .request(reqwest::Method::POST, "/api/v1/tracks")
        .bearer_auth(&ana.access)
        .json(&serde_json::json!({"title": "T"}))
        .send()
        .await
        .unwrap();
    expect_problem(json, StatusCode::BAD_REQUEST, "malformed_request").await;
    let anonymous = server
        .request(reqwest::Method::POST, "/api/v1/tracks")
        .multipart(Form::new().text("title", "T").part("file", mp3()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_no_track_for(&server, &ana).await;
}

#[tokio::test]
async fn a_hostile_file_name_is_ignored_and_the_same_bytes_are_stored_once() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana").await;
    for name in ["../../../etc/passwd.mp3", "..\\..\\boot.ini", "/abs/olute.mp3"] {
        let response = server
            .upload_track(&ana, name, audio_fixture("tone-2s.mp3"), &[("title", "Same")])
            .await;
        expect_json(response, StatusCode::CREATED).await;
    }
    assert!(!server.data_dir().join("etc").exists());
    let keys = server.blob_keys().await;
    assert_eq!(keys.len(), 1, "three uploads of one file, one object: {keys:?}");
    let name = keys[0].rsplit('/').next().unwrap();
    assert!(name.ends_with(".mp3") && name.len() == 64 + 4, "content-addressed: {name}");
}

/// Sends the start of a multipart upload larger than the limit over a raw connection and
/// never finishes it: the 413 must come while the body is still open.
#[tokio::test]
async fn an_upload_over_the_limit_is_413_as_soon_as_it_crosses_it() {
    const LIMIT: u64 = 64 * 1024;
    let server = TestServer::start_with_options(Options {
        max_upload_bytes: Some(LIMIT),
        ..Options::default()
    })
    .await;
    let ana = server.register_as("ana").await;
    let boundary = "veza-boundary-7e3b";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nBig\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n\
         Content-Type: audio/wav\r\n\r\n"
    );
    let announced = 50 * 1024 * 1024; // what the client claims it will send
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "POST /api/v1/tracks HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {announced}\r\n\r\n{head}",
        ana.access
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut wav = wav_2s();
    wav.resize(2 * LIMIT as usize, 0);
    socket.write_all(&wav).await.unwrap();

    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed without an answer");
            answer.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), read)
        .await
        .expect("answered before the announced body was sent");
    let status_line = String::from_utf8_lossy(&answer).lines().next().unwrap().to_owned();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    assert_no_track_for(&server, &ana).await;
    assert_eq!(server.blob_keys().await, Vec::<String>::new());
}

/// EICAR inside an otherwise valid WAV: refused as infected, nothing stored, audited. Needs a
/// real clamd (`VEZA_TEST_CLAMD_URL`, started by CI with EICAR signatures). A WAV because
/// ClamAV types ID3-tagged MP3 and Ogg files as media it does not scan (seen with clamd
/// 1.4: EICAR appended to either is `OK`); FLAC, WAV and bare MPEG frames are scanned.
#[tokio::test]
async fn an_infected_upload_is_422_audited_and_not_stored() {
    let Some(clamd) = veza_adapters::clamd::testing::test_clamd_url() else { return };
    let server =
        TestServer::start_with_options(Options { clamd_url: Some(clamd), ..Options::default() })
            .await;
    let ana = server.register_as("ana").await;
    let mut infected = wav_2s();
    infected.extend_from_slice(EICAR);

    let response = server.upload_track(&ana, "song.wav", infected, &[("title", "Song")]).await;
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "infected").await;
    assert!(problem["detail"].as_str().unwrap().contains("EICAR"), "{problem}");
    let alone = server.upload_track(&ana, "eicar.mp3", EICAR.to_vec(), &[("title", "E")]).await;
    expect_problem(alone, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;

    assert_no_track_for(&server, &ana).await;
    assert_eq!(server.blob_keys().await, Vec::<String>::new());
    let me = expect_json(server.get_as("/api/v1/auth/me", &ana.access).await, StatusCode::OK).await;
    let user_id = uuid::Uuid::parse_str(me["id"].as_str().unwrap()).unwrap();
    let filter = veza_core::audit::AuditFilter {
        action: Some("track.upload_infected".into()),
        ..Default::default()
    };
    let entries = server
        .services
        .audit
        .list(&filter, veza_core::pagination::PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].actor_id, Some(user_id));

    let clean = server
        .upload_track(&ana, "clean.mp3", audio_fixture("tone-2s.mp3"), &[("title", "Clean")])
        .await;
    expect_json(clean, StatusCode::CREATED).await;
}

async fn upload_version(
    server: &TestServer,
    by: &Tokens,
    id: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()));
    server
        .request(reqwest::Method::POST, &format!("/api/v1/tracks/{id}/versions"))
        .bearer_auth(&by.access)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_version_is_served_once_processed_and_all_go_with_the_track() {
    let server = TestServer::start().await;
    let ana = server.register_as("ana").await;
    let bob = server.register_as("bob").await;
    let created =
        server.upload_track(&ana, "v1.mp3", audio_fixture("tone-2s.mp3"), &[("title", "Demo")]);
    let id =
        expect_json(created.await, StatusCode::CREATED).await["id"].as_str().unwrap().to_owned();
    server.run_jobs().await;

    let flac = audio_fixture("tone-2s.flac");
    let added = upload_version(&server, &ana, &id, "v2.flac", flac.clone()).await;
    let added = expect_json(added, StatusCode::CREATED).await;
    assert_eq!((added["number"].as_u64(), added["format"].as_str()), (Some(2), Some("flac")));
    assert_eq!(added["size_bytes"], flac.len());
    let serving = track(&server, &id, &ana).await;
    assert_eq!(
        (serving["status"].as_str(), serving["size_bytes"].as_u64()),
        (Some("processing"), Some(flac.len() as u64))
    );

    server.run_jobs().await;
    let ready = track(&server, &id, &ana).await;
    assert_eq!(
        (ready["status"].as_str(), ready["codec"].as_str()),
        (Some("ready"), Some("flac")),
        "{ready}"
    );

    // The served version downloads under the usual rules; older ones are the owner's only.
    let download = |by: &Tokens, query: &str| {
        server
            .request(reqwest::Method::GET, &format!("/api/v1/tracks/{id}/download{query}"))
            .bearer_auth(&by.access)
            .send()
    };
    let old = download(&ana, "?version=1").await.unwrap();
    assert_eq!(old.status(), StatusCode::OK);
    let disposition = old.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.contains("Demo (version 1).mp3"), "{disposition}");
    assert_eq!(old.bytes().await.unwrap().as_ref(), audio_fixture("tone-2s.mp3").as_slice());
    let current = download(&ana, "?version=2").await.unwrap();
    assert_eq!(current.bytes().await.unwrap().as_ref(), flac.as_slice());
    expect_problem(download(&bob, "?version=1").await.unwrap(), StatusCode::FORBIDDEN, "forbidden")
        .await;
    expect_problem(download(&ana, "?version=9").await.unwrap(), StatusCode::NOT_FOUND, "not_found")
        .await;
    let bad = download(&ana, "?version=x").await.unwrap();
    expect_problem(bad, StatusCode::BAD_REQUEST, "malformed_request").await;

    let versions = server.get_as(&format!("/api/v1/tracks/{id}/versions"), &bob.access).await;
    let versions = expect_json(versions, StatusCode::OK).await;
    let numbers: Vec<u64> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
    assert_eq!(versions["next_cursor"], Value::Null);
    let paged = server.get_as(&format!("/api/v1/tracks/{id}/versions?limit=1"), &ana.access).await;
    assert!(expect_json(paged, StatusCode::OK).await["next_cursor"].is_string());

    // Someone else's track: 403 when visible; nothing is kept of the refused file.
    let stranger = upload_version(&server, &bob, &id, "x.mp3", audio_fixture("tone-2s.mp3")).await;
    expect_problem(stranger, StatusCode::FORBIDDEN, "forbidden").await;
    let pdf =
        upload_version(&server, &ana, &id, "x.mp3", b"%PDF-1.7 not audio at all".to_vec()).await;
    expect_problem(pdf, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let missing = server
        .request(reqwest::Method::POST, &format!("/api/v1/tracks/{id}/versions"))
        .bearer_auth(&ana.access)
        .multipart(reqwest::multipart::Form::new().text("title", "x"))
        .send()
        .await
        .unwrap();
    expect_problem(missing, StatusCode::BAD_REQUEST, "malformed_request").await;
    let unknown = upload_version(
        &server,
        &ana,
        &uuid::Uuid::now_v7().to_string(),
        "x.mp3",
        audio_fixture("tone-2s.mp3"),
    )
    .await;
    expect_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
    let versions = server.get_as(&format!("/api/v1/tracks/{id}/versions"), &ana.access).await;
    assert_eq!(expect_json(versions, StatusCode::OK).await["items"].as_array().unwrap().len(), 2);

    let deleted = server
        .request(reqwest::Method::DELETE, &format!("/api/v1/tracks/{id}"))
        .bearer_auth(&ana.access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    server.run_jobs().await;
    assert_eq!(server.blob_keys().await, Vec::<String>::new(), "every version's file is removed");
    let gone = server.get_as(&format!("/api/v1/tracks/{id}/versions"), &ana.access).await;
    expect_problem(gone, StatusCode::NOT_FOUND, "not_found").await;
}

/// Stores an original the way every upload does, then stops, as a crash or a client gone
/// between the end of the file and the track's creation would: no track claims it. Returns
/// its key and its staged copy's, sorted as `blob_keys` lists them.
async fn store_unclaimed_original(server: &TestServer, bytes: Vec<u8>) -> Vec<String> {
    let body = BlobBody::new(futures_util::stream::iter([Ok(Bytes::from(bytes))]));
    let original = server.services.tracks.store_original(&Actor::operator(), body).await;
    let original = original.expect("an audio file is stored");
    let mut keys = vec![original.staged.as_str().to_owned(), original.blob.as_str().to_owned()];
    keys.sort();
    keys
}

#[tokio::test]
async fn an_original_no_track_claims_is_removed_after_its_grace_and_a_claimed_one_stays() {
    // Within the grace: the removal is queued, not due.
    let server = TestServer::start().await;
    let orphan = store_unclaimed_original(&server, audio_fixture("tone-2s.mp3")).await;
    server.run_jobs().await;
    assert_eq!(server.blob_keys().await, orphan, "kept while its grace lasts");

    // Stored longer ago than the grace (the job runner keeps the real time).
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::now_utc() - UNCLAIMED_ORIGINAL_GRACE - Duration::minutes(5),
    ));
    let server = TestServer::start_with_clock(clock).await;
    let alice = server.register_as("alice").await;
    let response = server.upload_track(&alice, "kept.wav", wav_2s(), &[("title", "Kept")]).await;
    let kept = expect_json(response, StatusCode::CREATED).await;
    store_unclaimed_original(&server, audio_fixture("tone-2s.mp3")).await;
    // The same bytes as a track's, left unclaimed: the removal must spare the track's file.
    store_unclaimed_original(&server, wav_2s()).await;
    let staged = server.blob_keys().await.into_iter().filter(|k| k.starts_with("staging/"));
    assert_eq!(staged.count(), 2, "the unclaimed ones' staged copies");

    server.run_jobs().await;

    let keys = server.blob_keys().await;
    assert_eq!(keys.len(), 1, "only the claimed original is left: {keys:?}");
    assert!(keys[0].ends_with(".wav"), "{keys:?}");
    let id = kept["id"].as_str().expect("id");
    let stream = server.get_as(&format!("/api/v1/tracks/{id}/stream"), &alice.access).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.bytes().await.expect("body").as_ref(), wav_2s().as_slice());
}
