//! Request ids, request metrics, and the problem body for bare error statuses.

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use uuid::Uuid;

use crate::problem::Problem;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in its extensions for handlers and logs.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

/// Keeps the client's `X-Request-Id` if it is sane (1–128 of `[A-Za-z0-9._-]`), else makes
/// a UUIDv7; sets it on the response either way.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let sane = |v: &&HeaderValue| {
        let b = v.as_bytes();
        (1..=128).contains(&b.len())
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    };
    let id = req.headers().get(REQUEST_ID).filter(sane).cloned().unwrap_or_else(|| {
        HeaderValue::from_str(&Uuid::now_v7().to_string()).expect("a uuid is a valid header")
    });
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(req).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// A process-wide Prometheus recorder: `metrics` allows one global recorder, and tests run
/// many servers in one process.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("veza_http_request_duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                )
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding app: keep ours local then.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts requests and times them, labelled by route template (never the raw path, which
/// would make a label per id) and status.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("veza_http_requests_total", &labels).increment(1);
    metrics::histogram!("veza_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Gives bare error responses from layers and fallbacks (405, 408, 413, …) a problem body,
/// so every error a client sees has the same shape.
pub async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        let (parts, _) = response.into_parts();
        let mut problem = Problem::for_status(status).into_response();
        for (name, value) in &parts.headers {
            problem.headers_mut().entry(name).or_insert(value.clone());
        }
        return problem;
    }
    response
}

/// Body of a panic: a 500 problem that says nothing about the panic (logged instead).
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic");
    tracing::error!(panic = message, "handler panicked");
    Problem::for_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt as _;
    use tower_http::catch_panic::CatchPanicLayer;

    async fn boom() -> &'static str {
        panic!("secret internal detail: db password hunter2")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_without_internals() {
        let app =
            Router::new().route("/boom", get(boom)).layer(CatchPanicLayer::custom(panic_response));
        let request = axum::http::Request::get("/boom").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], crate::problem::PROBLEM_CONTENT_TYPE);
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains(r#""code":"internal_error""#), "{text}");
        assert!(!text.contains("hunter2") && !text.contains("secret"), "{text}");
    }
}
