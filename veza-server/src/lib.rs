//! Veza's REST API over axum. Thin by design: extractors turn requests into core inputs,
//! handlers call `veza_core::Services`, and `problem.rs` turns core errors into RFC 9457
//! responses. The OpenAPI document is generated from the same route declarations that
//! serve, so it describes exactly what runs.

pub mod cookies;
pub mod extract;
pub mod problem;
mod routes;
pub mod telemetry;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;
use veza_core::Services;

use crate::problem::Problem;
use crate::telemetry::RequestId;

/// JSON bodies above this are refused with 413 (API.md: 1 MiB).
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Origins allowed by CORS; empty: no cross-origin access.
    pub cors_origins: Vec<HeaderValue>,
    pub request_timeout: Duration,
    /// Mark session cookies `Secure`: set when clients reach the server over HTTPS.
    pub secure_cookies: bool,
    /// `VEZA_PUBLIC_URL`: base of absolute URLs in responses; `None`: paths alone.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(30),
            secure_cookies: false,
            public_url: None,
        }
    }
}

/// Shared by every request. axum clones the state into each handler call, so everything here
/// is a pointer copy: cloning `Services` by value (each service holds the whole port bundle)
/// took 17% of the CPU of `GET /auth/me` under load (perf, 2026-11-30).
#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub metrics: PrometheusHandle,
    /// `ServerConfig::secure_cookies`, for the handlers that set cookies.
    pub secure_cookies: bool,
    /// `ServerConfig::public_url` without a trailing `/`, or empty.
    pub public_url: Arc<str>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Veza API", description = "The backend of a collaborative audio platform."),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Sign-up, sign-in, tokens, sessions, passwords and e-mail verification"),
         (name = "admin", description = "User administration, moderation and the audit log"),
         (name = "users", description = "Profiles, follows, settings, export, account deletion"),
         (name = "tracks", description = "Tracks: lists, search, metadata, waveforms, streaming and downloads"),
         (name = "internal", description = "Service-to-service callbacks (the stream server), authenticated by the internal token"),
         (name = "operations", description = "Health, readiness and metrics")),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        openapi
            .components
            .get_or_insert_default()
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
        // Browsers may send the session cookie instead (and X-CSRF-Token on unsafe methods).
        let cookie = ApiKey::Cookie(ApiKeyValue::with_description(
            cookies::SESSION_COOKIE,
            "Set by login with \"cookie\": true; unsafe methods also need X-CSRF-Token equal \
             to the veza_csrf cookie.",
        ));
        openapi
            .components
            .get_or_insert_default()
            .add_security_scheme("session_cookie", SecurityScheme::ApiKey(cookie));
        let internal = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "VEZA_INTERNAL_TOKEN, shared with the stream server; never a user's token.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_default()
            .add_security_scheme("internal_token", SecurityScheme::Http(internal));
    }
}

/// The OpenAPI document of everything `app` serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::ops::router())
        .nest(
            "/api/v1/auth",
            routes::auth::router()
                .merge(routes::two_factor::router())
                .merge(routes::credentials::router()),
        )
        .nest("/api/v1/admin", routes::admin::router())
        .nest("/api/v1/users", routes::users::router())
        .nest("/api/v1/tracks", routes::tracks::router().merge(routes::track_media::router()))
        .nest("/api/v1/search", routes::search::router())
        .nest("/api/v1/internal", routes::internal::router())
}

/// The whole application: API routes, `/docs`, and the middleware every request crosses.
pub fn app(services: Services, config: &ServerConfig) -> Router {
    let public_url =
        Arc::from(config.public_url.as_deref().unwrap_or_default().trim_end_matches('/'));
    let state = AppState {
        services: Arc::new(services),
        metrics: telemetry::prometheus(),
        secure_cookies: config.secure_cookies,
        public_url,
    };
    let (api, openapi) = api_router().split_for_parts();
    let api =
        api.route_layer(axum::middleware::from_fn(telemetry::record_metrics)).with_state(state);

    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let request_id =
            req.extensions().get::<RequestId>().and_then(|id| id.0.to_str().ok()).unwrap_or("-");
        // The path only: query strings may carry tokens, headers may carry credentials.
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
    })
    .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Micros))
    .on_failure(DefaultOnFailure::new().level(Level::ERROR));

    let mut app = Router::new()
        .merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", openapi))
        .merge(api)
        .fallback(|| async { Problem::not_found() })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(CatchPanicLayer::custom(telemetry::panic_response))
        .layer(axum::middleware::from_fn_with_state(config.request_timeout, deadline))
        // A body that stops arriving is cut off after the same time without a byte.
        .layer(RequestBodyTimeoutLayer::new(config.request_timeout));
    if !config.cors_origins.is_empty() {
        app = app.layer(cors(&config.cors_origins));
    }
    app.layer(axum::middleware::from_fn(telemetry::problem_for_bare_errors))
        .layer(trace)
        .layer(axum::middleware::from_fn(telemetry::request_id))
}

/// Bodies that are files: an upload of hundreds of mebibytes may take minutes, so these
/// requests are bounded by the idle timeout of their body, not by a total deadline. Only
/// methods that carry a body qualify: a GET does not escape the deadline by its header.
fn is_file_upload(request: &Request) -> bool {
    if !matches!(*request.method(), Method::POST | Method::PATCH | Method::PUT) {
        return false;
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    content_type.is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("multipart/form-data")
            || essence.eq_ignore_ascii_case("application/offset+octet-stream")
    })
}

/// Answers 408 to a request not answered within `limit` (file uploads excepted).
async fn deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if is_file_upload(&request) {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

fn cors(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(tower_http::cors::AllowHeaders::list(
            [
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-csrf-token"),
                HeaderName::from_static("idempotency-key"),
                telemetry::REQUEST_ID,
                // A web player seeking in a track, and revalidating it.
                header::RANGE,
                header::IF_RANGE,
                header::IF_NONE_MATCH,
            ]
            .into_iter()
            .chain(routes::uploads::TUS_REQUEST_HEADERS),
        ))
        .expose_headers(tower_http::cors::ExposeHeaders::list(
            [
                telemetry::REQUEST_ID,
                header::RETRY_AFTER,
                header::LOCATION,
                header::CONTENT_RANGE,
                header::ACCEPT_RANGES,
                header::ETAG,
                header::CONTENT_DISPOSITION,
            ]
            .into_iter()
            .chain(routes::uploads::TUS_RESPONSE_HEADERS),
        ))
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
///
/// # Errors
/// If accepting connections fails.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, content_type: &str) -> Request {
        let request = axum::http::Request::builder().method(method).uri("/api/v1/tracks");
        request.header(header::CONTENT_TYPE, content_type).body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn only_bodies_that_are_files_escape_the_deadline() {
        let form = "multipart/form-data; boundary=x";
        assert!(is_file_upload(&request(Method::POST, form)));
        assert!(is_file_upload(&request(Method::PATCH, "application/offset+octet-stream")));
        assert!(!is_file_upload(&request(Method::POST, "application/json")));
        assert!(!is_file_upload(&request(Method::GET, form)), "a header alone does not");
        assert!(!is_file_upload(&request(Method::DELETE, "application/offset+octet-stream")));
    }
}
