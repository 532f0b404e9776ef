//! Malformed, oversized and hostile requests: each gets the documented 4xx problem, never a
//! 500, and leaves nothing half-written.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{PASSWORD, TestServer, expect_json, expect_problem};

const REGISTER: &str = "/api/v1/auth/register";

async fn post_raw(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    server
        .request(Method::POST, path)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_json_wrong_types_and_unknown_fields_are_400() {
    let server = TestServer::start().await;
    let bodies: [&[u8]; 8] = [
        b"{",
        b"not json at all",
        b"",
        b"[]",
        br#"{"email": 5, "username": "typed", "password": "correct horse battery staple"}"#,
        br#"{"email": "t@example.com", "username": ["typed"], "password": "correct horse battery staple"}"#,
        br#"{"email": "t@example.com", "username": "typed", "password": "correct horse battery staple", "role": "admin"}"#,
        br#"{"email": "t@example.com", "username": "typed"}"#,
    ];
    for body in bodies {
        let response = post_raw(&server, REGISTER, "application/json", body.to_vec()).await;
        expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    }
    assert!(server.services.users.find("typed").await.is_err(), "nothing was written");
}

#[tokio::test]
async fn non_utf8_bodies_are_400() {
    let server = TestServer::start().await;
    let mut body = br#"{"email": "x@example.com", "username": ""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    body.extend_from_slice(br#"", "password": "correct horse battery staple"}"#);
    let response = post_raw(&server, REGISTER, "application/json", body).await;
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[tokio::test]
async fn a_2_mib_body_is_413() {
    let server = TestServer::start().await;
    let padding = "a".repeat(2 * 1024 * 1024);
    let body = json!({"email": "big@example.com", "username": "big", "password": padding});
    let response =
        post_raw(&server, REGISTER, "application/json", serde_json::to_vec(&body).unwrap()).await;
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(server.services.users.find("big").await.is_err());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let server = TestServer::start().await;
    let response = post_raw(&server, REGISTER, "text/plain", b"email=a".to_vec()).await;
    expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

#[tokio::test]
async fn empty_strings_and_10_kb_usernames_are_422() {
    let server = TestServer::start().await;
    let cases = [
        json!({"email": "", "username": "", "password": ""}),
        json!({"email": "long@example.com", "username": "u".repeat(10 * 1024), "password": PASSWORD}),
        json!({"email": format!("{}@example.com", "e".repeat(10 * 1024)), "username": "longmail", "password": PASSWORD}),
        json!({"email": "pw@example.com", "username": "longpw", "password": "p".repeat(10 * 1024)}),
    ];
    for body in cases {
        let response = server.post(REGISTER, body).await;
        let status = response.status();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let problem = expect_json(response, status).await;
        assert!(
            ["validation_failed", "weak_password"].contains(&problem["code"].as_str().unwrap())
        );
    }
    let empty_login = server.post("/api/v1/auth/login", json!({"login": "", "password": ""})).await;
    expect_problem(empty_login, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn sql_and_shell_metacharacters_are_data_not_code() {
    let server = TestServer::start().await;
    let hostile = [
        "' OR '1'='1",
        "admin'--",
        "\"; DROP TABLE users; --",
        "$(rm -rf /)",
        "`reboot`",
        "a; cat /etc/passwd",
        "%00\0nul",
        "../../etc/passwd",
    ];
    for value in hostile {
        let body = json!({"email": format!("{value}@example.com"), "username": value, "password": PASSWORD});
        let response = server.post(REGISTER, body).await;
        expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        let login = server.login(value, value).await;
        expect_problem(login, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // Names with the allowed punctuation still work, and the table is intact.
    let tokens = server.register_as("o.k-name_1").await;
    expect_json(server.get_as("/api/v1/auth/me", &tokens.access).await, StatusCode::OK).await;
    let display = json!({"email": "dn@example.com", "username": "dn_user", "password": PASSWORD, "display_name": "Robert'); DROP TABLE users;--"});
    let body = expect_json(server.post(REGISTER, display).await, StatusCode::CREATED).await;
    assert_eq!(body["user"]["display_name"], "Robert'); DROP TABLE users;--");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let server = TestServer::start().await;
    let missing = server.request(Method::GET, "/api/v1/nope").send().await.unwrap();
    expect_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
    let wrong_method = server.request(Method::GET, REGISTER).send().await.unwrap();
    expect_problem(wrong_method, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let traversal = server.request(Method::GET, "/api/v1/../../etc/passwd").send().await.unwrap();
    assert_eq!(traversal.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_replaced_when_not() {
    let server = TestServer::start().await;
    let sane = server
        .request(Method::GET, "/healthz")
        .header("x-request-id", "client-abc_123.4")
        .send()
        .await
        .unwrap();
    assert_eq!(sane.headers()["x-request-id"], "client-abc_123.4");
    for hostile in ["<script>", &"x".repeat(500), "a b"] {
        let response = server
            .request(Method::GET, "/healthz")
            .header("x-request-id", hostile)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, hostile);
        assert!(uuid::Uuid::try_parse(id).is_ok(), "generated id {id}");
    }
    let error = server.request(Method::GET, "/nope").send().await.unwrap();
    assert!(error.headers().contains_key("x-request-id"), "errors carry an id too");
}

#[tokio::test]
async fn racing_registrations_for_one_email_create_one_account() {
    let server = TestServer::start().await;
    let attempts: Vec<_> = (0..10)
        .map(|i| {
            let client = server.client.clone();
            let url = server.url(REGISTER);
            tokio::spawn(async move {
                let body = json!({"email": "race@example.com", "username": format!("racer{i}"), "password": PASSWORD});
                client.post(url).json(&body).send().await.unwrap().status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
}
