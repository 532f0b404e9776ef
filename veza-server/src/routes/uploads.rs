//! tus 1.0 resumable uploads under `/api/v1/tracks/uploads` (core, creation, termination,
//! checksum with sha1, expiration) and `POST /api/v1/tracks/from-upload`, which makes a track
//! of a finished upload. Handlers translate headers; the core decides (who may touch an
//! upload, where it is, whether an append lands).

use axum::Json;
use axum::body::{Body as RequestBody, BodyDataStream};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use veza_core::audit::Actor;
use veza_core::blobs::{BlobBody, BlobError};
use veza_core::tracks::TrackDetails;
use veza_core::uploads::{FromUploadInput, Upload, UploadChecksum, UploadError, UploadMetadata};

use super::http_date;
use super::tracks::TrackView;
use crate::AppState;
use crate::extract::{Authenticated, Body, Client, Path};
use crate::problem::Problem;

pub const TUS_VERSION: &str = "1.0.0";
const TUS_EXTENSIONS: &str = "creation,termination,checksum,expiration";
const OFFSET_CONTENT_TYPE: &str = "application/offset+octet-stream";

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION_HEADER: HeaderName = HeaderName::from_static("tus-version");
const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
const TUS_CHECKSUM_ALGORITHM: HeaderName = HeaderName::from_static("tus-checksum-algorithm");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");

/// The headers a browser tus client must be allowed to send and read across origins.
pub const TUS_REQUEST_HEADERS: [HeaderName; 6] = [
    TUS_RESUMABLE,
    UPLOAD_LENGTH,
    UPLOAD_OFFSET,
    UPLOAD_METADATA,
    UPLOAD_CHECKSUM,
    UPLOAD_DEFER_LENGTH,
];
pub const TUS_RESPONSE_HEADERS: [HeaderName; 9] = [
    TUS_RESUMABLE,
    TUS_VERSION_HEADER,
    TUS_EXTENSION,
    TUS_MAX_SIZE,
    TUS_CHECKSUM_ALGORITHM,
    UPLOAD_LENGTH,
    UPLOAD_OFFSET,
    UPLOAD_METADATA,
    UPLOAD_EXPIRES,
];

pub fn router() -> OpenApiRouter<AppState> {
    let (schemas, paths, upload) = routes!(upload_status, append, terminate);
    OpenApiRouter::new()
        .routes(routes!(tus_options, create_upload))
        // An append's size is bounded by its upload's length, checked as it streams in.
        .routes((schemas, paths, upload.layer(DefaultBodyLimit::disable())))
        .layer(axum::middleware::from_fn(tus_protocol))
        .routes(routes!(from_upload))
}

/// Every tus response says `Tus-Resumable`; a request for another protocol version (or
/// none, OPTIONS aside) is 412 with the versions this server speaks.
async fn tus_protocol(request: Request, next: Next) -> Response {
    let speaks_ours = request
        .headers()
        .get(TUS_RESUMABLE)
        .is_some_and(|v| v.as_bytes() == TUS_VERSION.as_bytes());
    let mut response = if request.method() == Method::OPTIONS || speaks_ours {
        next.run(request).await
    } else {
        let problem = Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "unsupported_tus_version",
            Some(format!("Send Tus-Resumable: {TUS_VERSION}.")),
        );
        let mut response = problem.into_response();
        response.headers_mut().insert(TUS_VERSION_HEADER, HeaderValue::from_static(TUS_VERSION));
        response
    };
    response.headers_mut().insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    response
}

/// A header's text; `Err` with what is wrong, for a 400.
fn header_text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, String> {
    headers.get(name).map(|v| v.to_str().map_err(|_| format!("{name} is not text."))).transpose()
}

/// A non-negative decimal header, as tus defines them; `Err` with what is wrong, for a 400.
fn header_number(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, String> {
    header_text(headers, name)?
        .map(|v| {
            let v = v.trim();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{name} must be a whole number."));
            }
            v.parse::<u64>().map_err(|_| format!("{name} is too large."))
        })
        .transpose()
}

/// The headers that describe where an upload is.
fn upload_headers(upload: &Upload) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(upload.offset));
    if let Some(expires) = http_date(upload.expires_at) {
        headers.insert(UPLOAD_EXPIRES, expires);
    }
    headers
}

/// What this server supports: tus 1.0.0 with creation, termination, checksum (sha1) and
/// expiration, up to `Tus-Max-Size` bytes (`VEZA_MAX_UPLOAD_BYTES`).
#[utoipa::path(options, path = "/uploads", tag = "uploads",
    responses((status = 204, headers(
        ("Tus-Version" = String), ("Tus-Extension" = String), ("Tus-Max-Size" = u64),
        ("Tus-Checksum-Algorithm" = String),
    ))))]
async fn tus_options(State(state): State<AppState>) -> (StatusCode, HeaderMap) {
    let mut headers = HeaderMap::new();
    headers.insert(TUS_VERSION_HEADER, HeaderValue::from_static(TUS_VERSION));
    headers.insert(TUS_EXTENSION, HeaderValue::from_static(TUS_EXTENSIONS));
    headers.insert(TUS_MAX_SIZE, HeaderValue::from(state.services.uploads.max_size()));
    headers.insert(TUS_CHECKSUM_ALGORITHM, HeaderValue::from_static("sha1"));
    (StatusCode::NO_CONTENT, headers)
}

/// Declare an upload (tus creation): `Upload-Length` (required; deferred lengths are not
/// supported) and optional `Upload-Metadata` (`filename` and `title` are kept). The upload
/// expires 24 hours after its creation.
#[utoipa::path(post, path = "/uploads", tag = "uploads", security(("bearer" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = u64, Header, description = "The file's size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: `filename <base64>,title <base64>`"),
    ),
    responses(
        (status = 201, headers(("Location" = String), ("Upload-Expires" = String))),
        (status = 400, body = Problem, description = "Upload-Length missing or malformed, or malformed metadata"),
        (status = 401, body = Problem),
        (status = 412, body = Problem, description = "unsupported_tus_version"),
        (status = 413, body = Problem, description = "payload_too_large: over Tus-Max-Size"),
    ))]
async fn create_upload(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
) -> Result<(StatusCode, HeaderMap), Problem> {
    if headers.contains_key(UPLOAD_DEFER_LENGTH) {
        return Err(Problem::bad_request(
            "Deferred lengths are not supported; send Upload-Length.",
        ));
    }
    let length = header_number(&headers, &UPLOAD_LENGTH)
        .map_err(Problem::bad_request)?
        .ok_or_else(|| Problem::bad_request("Upload-Length is required."))?;
    let metadata = match header_text(&headers, &UPLOAD_METADATA).map_err(Problem::bad_request)? {
        Some(raw) => UploadMetadata::parse(raw)?,
        None => UploadMetadata::default(),
    };
    let upload = state.services.uploads.create(&principal, length, metadata).await?;
    let mut headers = upload_headers(&upload);
    headers.remove(UPLOAD_OFFSET);
    let location = format!("/api/v1/tracks/uploads/{}", upload.id);
    headers.insert(header::LOCATION, HeaderValue::try_from(location).expect("a path is a value"));
    Ok((StatusCode::CREATED, headers))
}

/// Where the upload is: `Upload-Offset` of `Upload-Length` bytes received.
#[utoipa::path(head, path = "/uploads/{upload_id}", tag = "uploads", security(("bearer" = [])),
    params(("upload_id" = Uuid, Path), ("Tus-Resumable" = String, Header, description = "1.0.0")),
    responses(
        (status = 200, headers(("Upload-Offset" = u64), ("Upload-Length" = u64), ("Upload-Expires" = String))),
        (status = 404, description = "No such upload, someone else's, or expired"),
    ))]
async fn upload_status(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, HeaderMap), Problem> {
    let upload = state.services.uploads.status(&principal, id).await?;
    let mut headers = upload_headers(&upload);
    headers.insert(UPLOAD_LENGTH, HeaderValue::from(upload.length));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let metadata = upload.metadata.to_stored();
    if !metadata.is_empty() {
        headers.insert(UPLOAD_METADATA, HeaderValue::try_from(metadata).expect("base64 is ASCII"));
    }
    Ok((StatusCode::OK, headers))
}

/// The request body as a blob body, and whether it broke off (a client gone, an idle body).
fn request_body(body: RequestBody) -> (BlobBody, Arc<AtomicBool>) {
    let broken = Arc::new(AtomicBool::new(false));
    let flag = broken.clone();
    let stream = body.into_data_stream().map(move |chunk| {
        chunk.map_err(|err| {
            flag.store(true, Ordering::SeqCst);
            BlobError::backend(err)
        })
    });
    (BlobBody::new(stream), broken)
}

/// What of a refused PATCH body is read and dropped before the refusal is sent.
const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// A request body the store reads through `body`, whose unread rest `drain` can still
/// read after the store has dropped its side.
struct SharedBody(Arc<Mutex<BodyDataStream>>);

impl SharedBody {
    fn new(body: RequestBody) -> Self {
        Self(Arc::new(Mutex::new(body.into_data_stream())))
    }

    fn body(&self) -> RequestBody {
        let shared = Arc::clone(&self.0);
        let stream = futures_util::stream::poll_fn(move |cx| {
            shared.lock().unwrap_or_else(PoisonError::into_inner).poll_next_unpin(cx)
        });
        RequestBody::from_stream(stream)
    }

    /// Reads and drops up to `LINGER_BYTES` of what is left, so the connection ends the
    /// exchange cleanly. Refused with its body unread (a 409 decided from the headers), a
    /// connection is closed by the server just after the client has pooled it for its next
    /// request, which then fails as a broken connection (tus clients send their next HEAD at
    /// once). Seen in `racing_requests_on_one_upload_land_once` on PostgreSQL: 2 runs in 30
    /// failed without this, none in 40 with it. nginx drains for the same reason.
    async fn drain(&self) {
        let mut left = LINGER_BYTES;
        while left > 0 {
            let next = futures_util::future::poll_fn(|cx| {
                self.0.lock().unwrap_or_else(PoisonError::into_inner).poll_next_unpin(cx)
            });
            match next.await {
                Some(Ok(chunk)) => left = left.saturating_sub(chunk.len()),
                Some(Err(_)) | None => return,
            }
        }
    }
}

/// Append the body at `Upload-Offset`, which must be where the upload is (else 409, and the
/// body is not kept). With `Upload-Checksum: sha1 <base64>`, a body whose digest differs is
/// refused with 460 and the offset stays. A body cut off mid-way keeps nothing: resume from
/// the offset `HEAD` gives.
#[utoipa::path(patch, path = "/uploads/{upload_id}", tag = "uploads", security(("bearer" = [])),
    params(
        ("upload_id" = Uuid, Path),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Offset" = u64, Header),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64 digest>`"),
    ),
    request_body(content_type = "application/offset+octet-stream", description = "The bytes from Upload-Offset on"),
    responses(
        (status = 204, headers(("Upload-Offset" = u64), ("Upload-Expires" = String))),
        (status = 400, body = Problem, description = "Upload-Offset missing or malformed, malformed or unsupported checksum"),
        (status = 404, body = Problem, description = "No such upload, someone else's, or expired"),
        (status = 409, body = Problem, description = "offset_mismatch"),
        (status = 413, body = Problem, description = "payload_too_large: past Upload-Length"),
        (status = 415, body = Problem, description = "Content-Type is not application/offset+octet-stream"),
        (status = 460, body = Problem, description = "checksum_mismatch"),
    ))]
async fn append(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: RequestBody,
) -> Result<(StatusCode, HeaderMap), Problem> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let content_type = content_type.unwrap_or_default();
    if !content_type.trim().eq_ignore_ascii_case(OFFSET_CONTENT_TYPE) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Some(format!("Send the bytes as {OFFSET_CONTENT_TYPE}.")),
        ));
    }
    let offset = header_number(&headers, &UPLOAD_OFFSET)
        .map_err(Problem::bad_request)?
        .ok_or_else(|| Problem::bad_request("Upload-Offset is required."))?;
    let checksum = header_text(&headers, &UPLOAD_CHECKSUM)
        .map_err(Problem::bad_request)?
        .map(UploadChecksum::parse)
        .transpose()?;
    let shared = SharedBody::new(body);
    let (body, broken) = request_body(shared.body());
    let appended = state.services.uploads.append(&principal, id, offset, checksum, body).await;
    match appended {
        Ok(upload) => Ok((StatusCode::NO_CONTENT, upload_headers(&upload))),
        Err(UploadError::Blob(_)) if broken.load(Ordering::SeqCst) => {
            Err(Problem::bad_request("The request body broke off; nothing of it was kept."))
        }
        Err(err) => {
            shared.drain().await;
            Err(err.into())
        }
    }
}

/// Remove the upload and what it received (tus termination).
#[utoipa::path(delete, path = "/uploads/{upload_id}", tag = "uploads", security(("bearer" = [])),
    params(("upload_id" = Uuid, Path), ("Tus-Resumable" = String, Header, description = "1.0.0")),
    responses(
        (status = 204), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "No such upload, someone else's, or expired"),
        (status = 409, body = Problem, description = "upload_busy: it is being turned into a track"),
    ))]
async fn terminate(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Problem> {
    state.services.uploads.terminate(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A finished upload and the new track's metadata.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromUploadBody {
    upload_id: Uuid,
    /// 1–200 characters; by default the upload's `title` metadata, else its file name.
    title: Option<String>,
    description: Option<String>,
    genre: Option<String>,
    /// Up to 20 tags of up to 50 characters.
    tags: Option<Vec<String>>,
    /// `public` (default), `unlisted` or `private`.
    visibility: Option<String>,
    downloadable: Option<bool>,
    /// 20–300.
    bpm: Option<i64>,
    /// Up to 12 characters (`C#m`, `8A`).
    key: Option<String>,
}

/// Make a track of a finished upload: its bytes go through the checks of `POST /tracks`
/// (format by bytes, size limit, virus scan) and the upload is removed. Refused content
/// (415, 413, 422 `empty_file`/`infected`) removes the upload and stores nothing.
#[utoipa::path(post, path = "/from-upload", tag = "tracks", security(("bearer" = [])),
    request_body = FromUploadBody,
    responses(
        (status = 201, body = TrackView, description = "The track, `processing`"),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "No such upload, someone else's, or expired"),
        (status = 409, body = Problem, description = "upload_incomplete, or upload_busy"),
        (status = 413, body = Problem, description = "payload_too_large"),
        (status = 415, body = Problem, description = "unsupported_media_type: not audio in a supported format"),
        (status = 422, body = Problem, description = "validation_failed, empty_file, or infected"),
        (status = 503, body = Problem, description = "scanner_unavailable"),
    ))]
async fn from_upload(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Body(body): Body<FromUploadBody>,
) -> Result<(StatusCode, Json<TrackView>), Problem> {
    let actor = Actor::user(principal.user.id, client);
    let input = FromUploadInput {
        upload_id: body.upload_id,
        title: body.title,
        details: TrackDetails {
            description: body.description,
            genre: body.genre,
            tags: body.tags.map(|tags| tags.join(",")),
            bpm: body.bpm,
            key: body.key,
            visibility: body.visibility,
            downloadable: body.downloadable.unwrap_or(false),
        },
    };
    let track = state.services.uploads.create_track(&principal, &actor, input).await?;
    Ok((StatusCode::CREATED, Json(track.into())))
}
