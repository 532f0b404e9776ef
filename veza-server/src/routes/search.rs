//! `GET /api/v1/search`: ranked full-text search across kinds of content. Tracks are searched
//! today (FTS5 on SQLite, a tsvector on PostgreSQL, behind the track store); users and
//! playlists join this same answer, one key per type, when their domains can rank.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veza_core::auth::FieldError;
use veza_core::tracks::{SearchTerms, TrackListRequest};

use super::tracks::TrackList;
use crate::AppState;
use crate::extract::Query;
use crate::problem::Problem;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// The types this server can search; `type=` names some of them.
const SEARCHABLE: &[&str] = &["tracks"];
/// Types API.md announces whose search has not been built yet.
const NOT_YET_SEARCHABLE: &[&str] = &["users", "playlists"];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find; every word must match (as a prefix).
    q: String,
    /// Comma-separated kinds of content [default: tracks].
    #[serde(rename = "type")]
    kind: Option<String>,
    /// 1–100 per type, default 20.
    limit: Option<i64>,
    /// `next_cursor` of the previous page (with a single type).
    cursor: Option<String>,
}

/// Matches per type, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    tracks: TrackList,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Problem {
    Problem::invalid(vec![FieldError::new(field, message)])
}

/// Ranked full-text search (public, ready tracks).
#[utoipa::path(get, path = "/", tag = "tracks", params(SearchQuery),
    responses(
        (status = 200, body = SearchResults),
        (status = 400, body = Problem, description = "a malformed query, limit or cursor"),
        (status = 422, body = Problem, description = "a query without a word to search for, or an unknown type"),
    ))]
async fn search(
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResults>, Problem> {
    // The core searches words (letters and digits); a query without one would list
    // everything instead.
    if SearchTerms::parse(&query.q).is_none() {
        return Err(invalid("q", "must contain a word (letters or digits)"));
    }
    for kind in query.kind.as_deref().unwrap_or("tracks").split(',').map(str::trim) {
        if NOT_YET_SEARCHABLE.contains(&kind) {
            return Err(invalid("type", format!("{kind} cannot be searched yet; use tracks")));
        }
        if !SEARCHABLE.contains(&kind) {
            return Err(invalid("type", "must be tracks, users or playlists"));
        }
    }
    let request = TrackListRequest {
        q: Some(query.q),
        genre: None,
        tag: None,
        owner: None,
        sort: None,
        limit: query.limit,
        cursor: query.cursor,
    };
    let tracks = state.services.tracks.list(request).await?.into();
    Ok(Json(SearchResults { tracks }))
}
