//! `/api/v1/tracks/{id}/stream` and `/{id}/download`: a track's original over HTTP, with
//! single byte ranges (RFC 9110 §14), validators and conditional requests. The core decides
//! who may have the bytes and names the validator and the file; this edge reads the request's
//! `Range`, `If-Range` and `If-None-Match`, opens only the bytes it will send, and streams
//! them as the blob store yields them (never the whole file in memory).

use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use veza_core::blobs::ByteRange;
use veza_core::tracks::{MediaUse, TrackMedia};

use super::http_date;
use crate::AppState;
use crate::extract::{Authenticated, Path, Query};
use crate::problem::Problem;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream)).routes(routes!(download))
}

/// A public ready track is the same for everyone; anything else is one caller's business.
const SHARED_CACHE: &str = "public, max-age=300";
const PRIVATE_CACHE: &str = "private, max-age=300";

/// Play a track: its original's bytes, whole or one byte range. Anyone who may see the track
/// may stream it once it is `ready`; before that, only its owner. `HEAD` answers the same
/// headers without a body.
#[utoipa::path(method(get, head), path = "/{id}/stream", tag = "tracks",
    params(
        ("id" = Uuid, Path, description = "Track id"),
        ("Range" = Option<String>, Header, description = "One range: `bytes=a-b`, `bytes=a-` or \
            `bytes=-n`; a malformed or multi-range value is ignored (whole file)"),
        ("If-Range" = Option<String>, Header, description = "An ETag or the Last-Modified date; \
            the range is served only if it still matches"),
        ("If-None-Match" = Option<String>, Header, description = "ETags held; 304 if one matches"),
    ),
    responses(
        (status = 200, content_type = "audio/*", description = "The whole file, with \
            `Accept-Ranges`, `ETag`, `Last-Modified`, `Cache-Control`"),
        (status = 206, content_type = "audio/*", description = "The range, with `Content-Range`"),
        (status = 304, description = "If-None-Match matched"),
        (status = 404, body = Problem, description = "No such track, not visible to the \
            caller, or not ready and the caller is not its owner"),
        (status = 416, body = Problem, description = "range_not_satisfiable, with \
            `Content-Range: bytes */SIZE`"),
    ))]
async fn stream(
    State(state): State<AppState>,
    viewer: Option<Authenticated>,
    Path(id): Path<Uuid>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let viewer = viewer.map(|Authenticated(p)| p);
    let media = state.services.tracks.media(viewer.as_ref(), id, MediaUse::Stream).await?;
    serve(&media, &method, &headers, None).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// A version number (`GET /{id}/versions`); older versions are their owner's only.
    version: Option<u32>,
}

/// Download a track's original as a file: its owner always, anyone who may see it if it is
/// `downloadable`. `?version=N` names an older version (owner only). Ranges and validators
/// work as for `/stream`, so downloads can resume.
#[utoipa::path(method(get, head), path = "/{id}/download", tag = "tracks",
    params(
        ("id" = Uuid, Path, description = "Track id"),
        DownloadQuery,
        ("Range" = Option<String>, Header, description = "As for `/stream`"),
        ("If-Range" = Option<String>, Header, description = "As for `/stream`"),
        ("If-None-Match" = Option<String>, Header, description = "As for `/stream`"),
    ),
    responses(
        (status = 200, content_type = "audio/*", description = "The file, with \
            `Content-Disposition: attachment` naming it after the title"),
        (status = 206, content_type = "audio/*", description = "The range, with `Content-Range`"),
        (status = 304, description = "If-None-Match matched"),
        (status = 403, body = Problem, description = "not_downloadable: the caller sees the \
            track but its owner has not made it downloadable; forbidden: an older version of \
            someone else's track"),
        (status = 404, body = Problem),
        (status = 416, body = Problem, description = "range_not_satisfiable"),
    ))]
async fn download(
    State(state): State<AppState>,
    viewer: Option<Authenticated>,
    Path(id): Path<Uuid>,
    Query(query): Query<DownloadQuery>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let viewer = viewer.map(|Authenticated(p)| p);
    let tracks = &state.services.tracks;
    let media = match query.version {
        Some(number) => tracks.version_media(viewer.as_ref(), id, number).await?,
        None => tracks.media(viewer.as_ref(), id, MediaUse::Download).await?,
    };
    let disposition = attachment(&media.file_name);
    serve(&media, &method, &headers, Some(disposition)).await
}

/// The answer to a `GET` or `HEAD` of `media`, with `Content-Disposition` when given.
async fn serve(
    media: &TrackMedia,
    method: &Method,
    headers: &HeaderMap,
    disposition: Option<HeaderValue>,
) -> Result<Response, Problem> {
    let mut response = if none_match_holds(headers, &media.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = if method == Method::HEAD {
            // Range is defined for GET only (RFC 9110 §14.2); a HEAD is answered from
            // metadata, without opening the body.
            let meta = media.head().await?;
            content(HttpBody::empty(), meta.size, None, meta.last_modified)
        } else {
            let range = match (
                headers.get(header::RANGE).and_then(parse_range),
                headers.get(header::IF_RANGE),
            ) {
                (Some(range), Some(validator)) => {
                    if_range_holds(validator, media).await?.then_some(range)
                }
                (range, _) => range,
            };
            let read = media.open(range).await?;
            let (size, modified) = (read.meta.size, read.meta.last_modified);
            let bytes = range.map(|_| read.range.clone());
            content(HttpBody::from_stream(read.body), size, bytes, modified)
        };
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media.format.mime_type()));
        if let Some(disposition) = disposition {
            headers.insert(header::CONTENT_DISPOSITION, disposition);
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&media.etag).map_err(|e| Problem::internal(&e))?,
    );
    let cache = if media.shared { SHARED_CACHE } else { PRIVATE_CACHE };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // Audio is never a page: no sniffing it into HTML, no scripts if opened directly.
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}

/// A 200 of `size` bytes, or a 206 of `bytes` (half-open) when a range is served.
fn content(
    body: HttpBody,
    size: u64,
    bytes: Option<std::ops::Range<u64>>,
    modified: OffsetDateTime,
) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    match bytes {
        Some(bytes) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let range = format!("bytes {}-{}/{size}", bytes.start, bytes.end - 1);
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.end - bytes.start));
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&range).expect("digits are a valid header"),
            );
        }
        None => {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        }
    }
    if let Some(date) = http_date(modified) {
        response.headers_mut().insert(header::LAST_MODIFIED, date);
    }
    response
}

/// One range of `Range: bytes=…`; `None` for anything else (another unit, several ranges, a
/// malformed value), which RFC 9110 §14.2 lets a server ignore and answer whole.
fn parse_range(value: &HeaderValue) -> Option<ByteRange> {
    let value = value.to_str().ok()?.trim();
    let (unit, spec) = value.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => number(last).map(ByteRange::Last),
        (false, true) => number(first).map(ByteRange::From),
        (false, false) => {
            let (start, last) = (number(first)?, number(last)?);
            // `last < first` makes the range invalid, not unsatisfiable (§14.1.1).
            (last >= start).then(|| ByteRange::Bounded { start, end: last.saturating_add(1) })
        }
        (true, true) => None,
    }
}

/// `If-None-Match` lists this ETag (weak comparison, §13.1.2) or is `*`.
fn none_match_holds(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
    })
}

/// Whether the range may be served under `If-Range` (§13.1.5): a strong ETag equal to ours,
/// or an HTTP-date equal to Last-Modified. A weak tag never matches; anything else doesn't
/// either, and the whole file is sent.
async fn if_range_holds(validator: &HeaderValue, media: &TrackMedia) -> Result<bool, Problem> {
    let Ok(validator) = validator.to_str().map(str::trim) else { return Ok(false) };
    if validator.starts_with('"') || validator.starts_with("W/") {
        return Ok(validator == media.etag);
    }
    let modified = media.head().await?.last_modified;
    Ok(http_date(modified).is_some_and(|date| date.as_bytes() == validator.as_bytes()))
}

/// RFC 8187 `attr-char`: what `filename*` may carry unencoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII name for old clients,
/// the real one percent-encoded for the rest. The core already removed separators, quotes
/// and control characters; `%` goes too in the ASCII form, which some clients decode.
fn attachment(file_name: &str) -> HeaderValue {
    let ascii: String = file_name
        .chars()
        .map(|c| match c {
            ' '..='~' if !matches!(c, '"' | '\\' | '%') => c,
            _ => '_',
        })
        .collect();
    let encoded = utf8_percent_encode(file_name, ATTR_CHAR);
    let value = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str) -> Option<ByteRange> {
        parse_range(&HeaderValue::from_str(value).unwrap())
    }

    #[test]
    fn single_byte_ranges_parse_and_the_rest_is_ignored() {
        assert_eq!(range("bytes=0-0"), Some(ByteRange::Bounded { start: 0, end: 1 }));
        assert_eq!(range("bytes=10-19"), Some(ByteRange::Bounded { start: 10, end: 20 }));
        assert_eq!(range("Bytes = 5-"), Some(ByteRange::From(5)));
        assert_eq!(range("bytes=-500"), Some(ByteRange::Last(500)));
        assert_eq!(range("bytes=-0"), Some(ByteRange::Last(0)), "valid, unsatisfiable");
        let huge = format!("bytes=0-{}", u64::MAX);
        assert_eq!(range(&huge), Some(ByteRange::Bounded { start: 0, end: u64::MAX }));
        for ignored in [
            "bytes=5-4",
            "bytes=0-1,4-5",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1--2",
            "items=0-1",
            "bytes 0-1",
            "bytes=99999999999999999999999-",
            "",
        ] {
            assert_eq!(range(ignored), None, "{ignored:?}");
        }
    }

    #[test]
    fn attachments_carry_an_ascii_name_and_the_real_one_encoded() {
        assert_eq!(
            attachment("Night Drive.mp3"),
            "attachment; filename=\"Night Drive.mp3\"; filename*=UTF-8''Night%20Drive.mp3"
        );
        assert_eq!(
            attachment("été 100%.flac"),
            "attachment; filename=\"_t_ 100_.flac\"; filename*=UTF-8''%C3%A9t%C3%A9%20100%25.flac"
        );
    }
}
