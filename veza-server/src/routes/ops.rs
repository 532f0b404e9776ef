//! Operations endpoints: liveness, readiness, Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    status: &'static str,
    /// Each configured dependency: `ok` or `unavailable`.
    checks: Checks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    database: &'static str,
}

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// 200 when every configured dependency answers; 503 naming the one that does not.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    match state.services.health.ping().await {
        Ok(()) => {
            (StatusCode::OK, Json(Readiness { status: "ready", checks: Checks { database: "ok" } }))
        }
        Err(err) => {
            tracing::warn!(error = %err, "readiness: database unavailable");
            let body =
                Readiness { status: "unavailable", checks: Checks { database: "unavailable" } };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}

/// Prometheus text exposition: requests by route and status, latency, database pool.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pool = state.services.health.pool_status();
    let backend = state.services.health.backend();
    metrics::gauge!("veza_db_pool_connections", "backend" => backend).set(pool.connections);
    metrics::gauge!("veza_db_pool_idle_connections", "backend" => backend).set(pool.idle);
    match state.services.jobs.queue_depth().await {
        Ok(depth) => {
            for (status, count) in
                [("queued", depth.queued), ("running", depth.running), ("dead", depth.dead)]
            {
                metrics::gauge!("veza_jobs", "status" => status).set(count as f64);
            }
        }
        Err(err) => tracing::warn!(error = %err, "metrics: queue depth unavailable"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
