//! Health, readiness, metrics, the OpenAPI document, `/docs`, CORS.

use axum::http::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::json;
use veza_cli::settings::Database;
use veza_server::ServerConfig;

use crate::support::{TestServer, expect_json};

#[tokio::test]
async fn health_and_readiness_answer() {
    let server = TestServer::start().await;
    let health =
        expect_json(server.request(Method::GET, "/healthz").send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(health["status"], "ok");
    let ready =
        expect_json(server.request(Method::GET, "/readyz").send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(ready["checks"]["database"], "ok");
}

#[tokio::test]
async fn readiness_is_503_naming_the_database_once_it_is_gone() {
    let server = TestServer::start().await;
    // SQLite cannot vanish from under open connections; PostgreSQL can, so this runs there.
    let Database::Postgres(database_url) = &server.database else { return };
    let server_url = std::env::var("VEZA_DATABASE_URL").expect("set when on PostgreSQL");
    veza_adapters::postgres::testing::drop_database(&server_url, database_url).await;
    let response = server.request(Method::GET, "/readyz").send().await.unwrap();
    let body = expect_json(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["checks"]["database"], "unavailable");
    let health = server.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the process itself is alive");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let server = TestServer::start().await;
    server.register_as("metered").await;
    let _ = server
        .request(Method::DELETE, &format!("/api/v1/auth/sessions/{}", uuid::Uuid::now_v7()))
        .send()
        .await;
    let text = server.request(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"route="/api/v1/auth/register",status="201""#), "{text}");
    assert!(
        text.contains(r#"route="/api/v1/auth/sessions/{id}",status="401""#),
        "labels use the template: {text}"
    );
    assert!(text.contains("veza_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("veza_db_pool_connections"), "{text}");
    assert!(text.contains(r#"veza_jobs{status="queued"} 0"#), "queue depth: {text}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_served() {
    let server = TestServer::start().await;
    let doc = expect_json(
        server.request(Method::GET, "/api/v1/openapi.json").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/logout-all", "post"),
        ("/api/v1/auth/sessions", "get"),
        ("/api/v1/auth/sessions/{id}", "delete"),
        ("/api/v1/auth/me", "get"),
        ("/api/v1/auth/chat/token", "post"),
        ("/api/v1/auth/2fa/setup", "post"),
        ("/api/v1/auth/2fa/enable", "post"),
        ("/api/v1/auth/2fa/verify", "post"),
        ("/api/v1/auth/2fa/disable", "post"),
        ("/api/v1/users/{id}", "get"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/me", "patch"),
        ("/api/v1/users/me", "delete"),
        ("/api/v1/users/me/avatar", "put"),
        ("/api/v1/users/me/settings", "get"),
        ("/api/v1/users/me/settings", "put"),
        ("/api/v1/users/me/profile-completion", "get"),
        ("/api/v1/users/me/export", "get"),
        ("/api/v1/users/{id}/avatar", "get"),
        ("/api/v1/users/{id}/follow", "post"),
        ("/api/v1/users/{id}/follow", "delete"),
        ("/api/v1/users/{id}/followers", "get"),
        ("/api/v1/users/{id}/following", "get"),
        ("/api/v1/tracks", "get"),
        ("/api/v1/tracks", "post"),
        ("/api/v1/search", "get"),
        ("/api/v1/tracks/{id}", "get"),
        ("/api/v1/tracks/{id}", "patch"),
        ("/api/v1/tracks/{id}", "delete"),
        ("/api/v1/tracks/{id}/waveform", "get"),
        ("/api/v1/tracks/{id}/versions", "get"),
        ("/api/v1/tracks/{id}/versions", "post"),
        ("/api/v1/tracks/uploads", "options"),
        ("/api/v1/tracks/uploads", "post"),
        ("/api/v1/tracks/uploads/{upload_id}", "head"),
        ("/api/v1/tracks/uploads/{upload_id}", "patch"),
        ("/api/v1/tracks/uploads/{upload_id}", "delete"),
        ("/api/v1/tracks/from-upload", "post"),
        ("/api/v1/tracks/{id}/stream", "get"),
        ("/api/v1/tracks/{id}/stream", "head"),
        ("/api/v1/tracks/{id}/download", "get"),
        ("/api/v1/tracks/{id}/download", "head"),
        ("/api/v1/auth/password/change", "post"),
        ("/api/v1/auth/password/forgot", "post"),
        ("/api/v1/auth/password/reset", "post"),
        ("/api/v1/auth/email/verify", "post"),
        ("/api/v1/auth/email/verify/resend", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/api/v1/admin/users", "get"),
        ("/api/v1/admin/users/{id}/role", "put"),
        ("/api/v1/admin/users/{id}/suspend", "post"),
        ("/api/v1/admin/users/{id}/unsuspend", "post"),
        ("/api/v1/admin/audit-log", "get"),
        ("/api/v1/internal/tracks/{id}/stream-ready", "post"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} undocumented"
        );
    }
    let callback = &paths["/api/v1/internal/tracks/{id}/stream-ready"]["post"];
    assert_eq!(callback["security"], json!([{"internal_token": []}]), "{callback}");
    let scheme = &doc["components"]["securitySchemes"]["internal_token"];
    assert_eq!((&scheme["type"], &scheme["scheme"]), (&json!("http"), &json!("bearer")));
    let expected_paths: std::collections::BTreeSet<&str> =
        expected.iter().map(|(p, _)| *p).collect();
    let documented: std::collections::BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(documented, expected_paths, "no undocumented extras");
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_locally() {
    let server = TestServer::start().await;
    let page = server.request(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(!html.contains("cdn") && !html.contains("unpkg"), "assets come from the binary");
    let bundle = server.request(Method::GET, "/docs/swagger-ui-bundle.js").send().await.unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn cors_allows_listed_origins_only() {
    let config = ServerConfig {
        cors_origins: vec![HeaderValue::from_static("https://app.example")],
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let preflight = |origin: &'static str| {
        server
            .request(Method::OPTIONS, "/api/v1/auth/login")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example");
    let seek = server
        .request(Method::OPTIONS, "/api/v1/tracks/00000000-0000-0000-0000-000000000000/stream")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "range,if-range")
        .send()
        .await
        .unwrap();
    let allowed_headers = seek.headers()["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed_headers.contains("range") && allowed_headers.contains("if-range"));
    let denied = preflight("https://evil.example").await.unwrap();
    assert!(!denied.headers().contains_key("access-control-allow-origin"));
}
