//! `/api/v1/internal`: service-to-service calls, authenticated by the internal token
//! (`VEZA_INTERNAL_TOKEN`), never by a user's session. Today the stream server's callback,
//! reporting on a track's HLS packaging.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use veza_core::tracks::StreamReport;

use crate::AppState;
use crate::extract::{Body, Path, bearer_token};
use crate::problem::Problem;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream_ready))
}

/// A caller that presented the internal token as `Authorization: Bearer <token>`. Extracted
/// before the body, so a caller without it learns nothing about what a valid body is.
pub struct StreamServer;

impl FromRequestParts<AppState> for StreamServer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let token = parts.headers.get(AUTHORIZATION).and_then(bearer_token);
        state.services.tracks.authorize_stream_server(token)?;
        Ok(StreamServer)
    }
}

/// The stream server's report on a track's packaging.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamReadyBody {
    /// `ready` or `failed`.
    status: String,
    /// With `ready` (required): absolute http(s) URL of the HLS playlist, at most 2048
    /// characters; shown as the track's `hls_url`.
    hls_url: Option<String>,
    /// With `failed`: why packaging failed (kept, cut to 1000 characters; not shown to users).
    error: Option<String>,
}

/// Stream server callback: a track's HLS packaging is `ready` (with its `hls_url`) or
/// `failed`. A later report replaces an earlier one. Only the stream server may call it, with
/// the internal token; a user's access token is refused like any other wrong token.
#[utoipa::path(post, path = "/tracks/{id}/stream-ready", tag = "internal",
    security(("internal_token" = [])),
    params(("id" = Uuid, Path, description = "Track id")),
    request_body = StreamReadyBody,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, body = Problem, description = "Malformed JSON or an unknown field"),
        (status = 401, body = Problem, description = "invalid_internal_token: missing or wrong token"),
        (status = 404, body = Problem, description = "No such track"),
        (status = 422, body = Problem, description = "validation_failed: unknown status, or fields that do not fit it"),
    ))]
async fn stream_ready(
    State(state): State<AppState>,
    _caller: StreamServer,
    Path(id): Path<Uuid>,
    Body(body): Body<StreamReadyBody>,
) -> Result<StatusCode, Problem> {
    let report = StreamReport { status: body.status, hls_url: body.hls_url, error: body.error };
    state.services.tracks.record_stream_report(id, report).await?;
    Ok(StatusCode::NO_CONTENT)
}
