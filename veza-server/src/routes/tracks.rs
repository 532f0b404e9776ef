//! `/api/v1/tracks`: lists and search, one track, metadata edits, deletion and the
//! waveform. Handlers translate; the core decides who sees what (a private track of someone
//! else is 404) and who may change it (the owner; an admin may also delete). Resumable
//! uploads are `uploads.rs`.

use axum::Json;
use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use veza_core::audit::Actor;
use veza_core::auth::FieldError;
use veza_core::blobs::{BlobBody, BlobError};
use veza_core::pagination::Page;
use veza_core::tracks::{
    COUNTS_BEFORE_ENGAGEMENT, NewTrackInput, StoredOriginal, Track, TrackDetails, TrackListRequest,
    TrackPatch, TrackVersion, Waveform,
};

use crate::AppState;
use crate::extract::{Authenticated, Body, Client, PageQuery, Path, Query};
use crate::problem::Problem;

pub fn router() -> OpenApiRouter<AppState> {
    let (schemas, paths, list_and_upload) = routes!(list_tracks, upload_track);
    OpenApiRouter::new()
        // The upload limit is the core's, checked as the file streams in.
        .routes((schemas, paths, list_and_upload.layer(DefaultBodyLimit::disable())))
        .routes(routes!(get_track, update_track, delete_track))
        .routes(routes!(waveform))
        .routes({
            let (schemas, paths, versions) = routes!(list_versions, add_version);
            (schemas, paths, versions.layer(DefaultBodyLimit::disable()))
        })
        .merge(super::uploads::router())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackOwnerView {
    id: Uuid,
    username: String,
    display_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackView {
    id: Uuid,
    owner: TrackOwnerView,
    title: String,
    description: Option<String>,
    genre: Option<String>,
    tags: Vec<String>,
    /// 20–300.
    bpm: Option<u16>,
    key: Option<String>,
    /// `public`, `unlisted` or `private`.
    visibility: &'static str,
    downloadable: bool,
    /// `processing`, `ready` or `failed`.
    status: &'static str,
    /// Why processing failed, in words the uploader can act on.
    failure_reason: Option<String>,
    duration_ms: Option<u64>,
    sample_rate: Option<u32>,
    channels: Option<u16>,
    /// Average bits per second.
    bitrate: Option<u32>,
    codec: Option<String>,
    size_bytes: u64,
    likes_count: u64,
    plays_count: u64,
    comments_count: u64,
    /// The HLS playlist, once the stream server has packaged the track; `null` until then.
    hls_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    /// Bumped by every change.
    version: i64,
}

impl From<Track> for TrackView {
    fn from(track: Track) -> Self {
        Self {
            id: track.id,
            owner: TrackOwnerView {
                id: track.owner.id,
                username: track.owner.username.as_str().to_owned(),
                display_name: track.owner.display_name.as_str().to_owned(),
            },
            title: track.title.as_str().to_owned(),
            description: track.description.map(|d| d.as_str().to_owned()),
            genre: track.genre.map(|g| g.as_str().to_owned()),
            tags: track.tags.as_slice().to_vec(),
            bpm: track.bpm.map(|b| b.get()),
            key: track.key.map(|k| k.as_str().to_owned()),
            visibility: track.visibility.as_str(),
            downloadable: track.downloadable,
            status: track.status.as_str(),
            failure_reason: track.failure_reason,
            duration_ms: track.facts.duration_ms,
            sample_rate: track.facts.sample_rate,
            channels: track.facts.channels,
            bitrate: track.facts.bitrate,
            codec: track.facts.codec,
            size_bytes: track.size_bytes,
            likes_count: COUNTS_BEFORE_ENGAGEMENT,
            plays_count: COUNTS_BEFORE_ENGAGEMENT,
            comments_count: COUNTS_BEFORE_ENGAGEMENT,
            hls_url: track.stream.as_ref().and_then(|s| s.hls_url()).map(|u| u.as_str().to_owned()),
            created_at: track.created_at,
            updated_at: track.updated_at,
            version: track.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackList {
    items: Vec<TrackView>,
    next_cursor: Option<String>,
}

impl From<Page<Track>> for TrackList {
    fn from(page: Page<Track>) -> Self {
        Self {
            items: page.items.into_iter().map(TrackView::from).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaveformView {
    /// Peak amplitude (0.0–1.0) of each run of `samples_per_peak` frames.
    peaks: Vec<f32>,
    samples_per_peak: u64,
}

impl From<Waveform> for WaveformView {
    fn from(waveform: Waveform) -> Self {
        Self { peaks: waveform.peaks, samples_per_peak: waveform.samples_per_peak }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrackListQuery {
    /// Full text over title, description, tags and owner; every word must match (as a
    /// prefix). Ranked best first unless `sort` says otherwise.
    q: Option<String>,
    /// Exact genre, without case.
    genre: Option<String>,
    /// One tag.
    tag: Option<String>,
    /// A user id or username.
    owner: Option<String>,
    /// `recent` (default), `popular`, `title`, or `relevance` (default with `q`).
    sort: Option<String>,
    /// 1–100, default 20.
    limit: Option<i64>,
    /// `next_cursor` of the previous page, with the same `sort`.
    cursor: Option<String>,
}

/// Present-and-null (`Some(None)`) differs from absent (`None`) in a PATCH.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Absent fields stay; `null` (or `""`) clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackBody {
    /// 1–200 characters.
    title: Option<String>,
    /// Up to 5000 characters; line breaks allowed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// Up to 50 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    genre: Option<Option<String>>,
    /// Up to 20 tags of up to 50 characters; stored lower-cased, repeats once.
    tags: Option<Vec<String>>,
    /// 20–300.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    bpm: Option<Option<i64>>,
    /// Up to 12 characters (`C#m`, `8A`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    key: Option<Option<String>>,
    /// `public`, `unlisted` or `private`.
    visibility: Option<String>,
    downloadable: Option<bool>,
}

/// Public ready tracks, filtered, searched and sorted.
#[utoipa::path(get, path = "/", tag = "tracks", params(TrackListQuery),
    responses(
        (status = 200, body = TrackList),
        (status = 400, body = Problem, description = "invalid_sort, invalid_pagination or a malformed query"),
    ))]
async fn list_tracks(
    State(state): State<AppState>,
    Query(query): Query<TrackListQuery>,
) -> Result<Json<TrackList>, Problem> {
    let request = TrackListRequest {
        q: query.q,
        genre: query.genre,
        tag: query.tag,
        owner: query.owner,
        sort: query.sort,
        limit: query.limit,
        cursor: query.cursor,
    };
    Ok(Json(state.services.tracks.list(request).await?.into()))
}

/// One track: public and unlisted ones to anyone, private ones to their owner and admins.
#[utoipa::path(get, path = "/{id}", tag = "tracks",
    params(("id" = Uuid, Path, description = "Track id")),
    responses((status = 200, body = TrackView), (status = 404, body = Problem)))]
async fn get_track(
    State(state): State<AppState>,
    viewer: Option<Authenticated>,
    Path(id): Path<Uuid>,
) -> Result<Json<TrackView>, Problem> {
    let viewer = viewer.map(|Authenticated(p)| p);
    Ok(Json(state.services.tracks.get(viewer.as_ref(), id).await?.into()))
}

/// Edit a track's metadata (owner only). Someone who may see the track but does not own it
/// gets 403; someone who may not see it, 404.
#[utoipa::path(patch, path = "/{id}", tag = "tracks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Track id")),
    request_body = TrackBody,
    responses(
        (status = 200, body = TrackView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem, description = "forbidden"),
        (status = 404, body = Problem),
        (status = 422, body = Problem, description = "validation_failed"),
    ))]
async fn update_track(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    Body(body): Body<TrackBody>,
) -> Result<Json<TrackView>, Problem> {
    let patch = TrackPatch {
        title: body.title,
        description: body.description,
        genre: body.genre,
        tags: body.tags,
        bpm: body.bpm,
        key: body.key,
        visibility: body.visibility,
        downloadable: body.downloadable,
    };
    Ok(Json(state.services.tracks.update(&principal, id, patch).await?.into()))
}

/// Delete a track (owner or admin); its stored audio is removed in the background.
#[utoipa::path(delete, path = "/{id}", tag = "tracks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Track id")),
    responses(
        (status = 204), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "forbidden"), (status = 404, body = Problem),
    ))]
async fn delete_track(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Problem> {
    state.services.tracks.delete(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The waveform computed at processing; 404 until the track is ready.
#[utoipa::path(get, path = "/{id}/waveform", tag = "tracks",
    params(("id" = Uuid, Path, description = "Track id")),
    responses((status = 200, body = WaveformView), (status = 404, body = Problem)))]
async fn waveform(
    State(state): State<AppState>,
    viewer: Option<Authenticated>,
    Path(id): Path<Uuid>,
) -> Result<Json<WaveformView>, Problem> {
    let viewer = viewer.map(|Authenticated(p)| p);
    Ok(Json(state.services.tracks.waveform(viewer.as_ref(), id).await?.into()))
}

/// Text parts of an upload form: more, or longer, is not a form but an attack.
const MAX_FORM_FIELDS: usize = 16;
const MAX_FORM_FIELD_BYTES: usize = 64 * 1024;

/// The text parts of a track upload, as sent.
#[derive(Debug, Default)]
struct TrackForm {
    title: Option<String>,
    description: Option<String>,
    genre: Option<String>,
    tags: Option<String>,
    visibility: Option<String>,
    downloadable: Option<String>,
    bpm: Option<String>,
    key: Option<String>,
}

impl TrackForm {
    /// Keeps one text part; unknown and repeated names are malformed requests (the `Err`
    /// says why).
    fn set(&mut self, name: &str, value: String) -> Result<(), String> {
        let slot = match name {
            "title" => &mut self.title,
            "description" => &mut self.description,
            "genre" => &mut self.genre,
            "tags" => &mut self.tags,
            "visibility" => &mut self.visibility,
            "downloadable" => &mut self.downloadable,
            "bpm" => &mut self.bpm,
            "key" => &mut self.key,
            other => return Err(format!("Unknown form field `{other}`.")),
        };
        if slot.replace(value).is_some() {
            return Err(format!("The form field `{name}` is repeated."));
        }
        Ok(())
    }

    fn into_input(self, original: StoredOriginal) -> Result<NewTrackInput, FieldError> {
        let downloadable = match self.downloadable.as_deref().map(str::trim) {
            None | Some("" | "false" | "0" | "off") => false,
            Some("true" | "1" | "on") => true,
            Some(_) => return Err(FieldError::new("downloadable", "must be true or false")),
        };
        let bpm = match self.bpm.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                raw.parse::<i64>().map_err(|_| FieldError::new("bpm", "must be a whole number"))?,
            ),
        };
        let details = TrackDetails {
            description: self.description,
            genre: self.genre,
            tags: self.tags,
            bpm,
            key: self.key,
            visibility: self.visibility,
            downloadable,
        };
        Ok(NewTrackInput { title: self.title.unwrap_or_default(), details, original })
    }
}

/// A text part, refused once it exceeds `MAX_FORM_FIELD_BYTES`.
async fn text_part(mut field: Field<'_>) -> Result<String, Problem> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        if bytes.len() + chunk.len() > MAX_FORM_FIELD_BYTES {
            return Err(Problem::bad_request("A form field is longer than 64 KiB."));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| Problem::bad_request("A form field is not UTF-8."))
}

/// Streams the `file` part through the core's upload checks into the blob store. The part
/// borrows the request, so its chunks cross a small channel to the core, which reads them
/// as they come: at most a few chunks are in memory whatever the file's size.
pub(crate) async fn receive_file(
    state: &AppState,
    actor: &Actor,
    mut field: Field<'_>,
) -> Result<StoredOriginal, Problem> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, BlobError>>(4);
    let body = BlobBody::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let forward = async move {
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    // The core stopped reading: it refused the file and says why.
                    if tx.send(Ok(chunk)).await.is_err() {
                        return Ok(());
                    }
                }
                Ok(None) => return Ok(()),
                Err(err) => {
                    let _ = tx.send(Err(BlobError::backend("the request body broke off"))).await;
                    return Err(Problem::from(err));
                }
            }
        }
    };
    let (forwarded, stored) =
        tokio::join!(forward, state.services.tracks.store_original(actor, body));
    // A body that broke off is the client's error, whatever the store made of it.
    forwarded?;
    Ok(stored?)
}

/// Reads a multipart upload: exactly one `file` part, streamed through `receive_file`, and
/// text parts handed to `text` as they come. If anything is refused after the file was
/// stored, the file is discarded: a refused request keeps nothing.
async fn receive_form(
    state: &AppState,
    actor: &Actor,
    mut multipart: Multipart,
    mut text: impl FnMut(&str, String) -> Result<(), String>,
) -> Result<StoredOriginal, Problem> {
    let (mut original, mut fields) = (None, 0);
    let received = async {
        while let Some(field) = multipart.next_field().await? {
            fields += 1;
            if fields > MAX_FORM_FIELDS {
                return Err(Problem::bad_request("Too many form fields."));
            }
            match field.name().map(str::to_owned) {
                Some(name) if name == "file" => {
                    if original.is_some() {
                        return Err(Problem::bad_request("Send exactly one part named `file`."));
                    }
                    original = Some(receive_file(state, actor, field).await?);
                }
                Some(name) => text(&name, text_part(field).await?).map_err(Problem::bad_request)?,
                None => return Err(Problem::bad_request("A form part has no name.")),
            }
        }
        Ok(())
    }
    .await;
    match (received, original) {
        (Ok(()), Some(original)) => Ok(original),
        (Ok(()), None) => Err(Problem::bad_request("The part `file` is missing.")),
        (Err(problem), original) => {
            if let Some(original) = &original {
                state.services.tracks.discard(original).await;
            }
            Err(problem)
        }
    }
}

/// Upload a track: multipart with the audio in the part `file` and the metadata in text
/// parts. The file is recognised by its bytes (MP3, FLAC, WAV, OGG Vorbis/Opus, AAC/M4A),
/// refused as soon as it exceeds the upload limit, scanned for viruses when a scanner is
/// configured, and stored once per content; the track starts `processing`.
#[utoipa::path(post, path = "/", tag = "tracks", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "Part `file`: the audio; \
        text parts `title` (required), `description`, `genre`, `tags` (comma-separated), \
        `visibility` (`public` by default), `downloadable` (`true`/`false`), `bpm`, `key`"),
    responses(
        (status = 201, body = TrackView, description = "The track, `processing`"),
        (status = 400, body = Problem, description = "No `file` part, two of them, an unknown field, or a malformed body"),
        (status = 401, body = Problem),
        (status = 413, body = Problem, description = "payload_too_large: over VEZA_MAX_UPLOAD_BYTES"),
        (status = 415, body = Problem, description = "unsupported_media_type: not audio in a supported format"),
        (status = 422, body = Problem, description = "validation_failed, empty_file, or infected (nothing stored)"),
        (status = 503, body = Problem, description = "scanner_unavailable"),
    ))]
async fn upload_track(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<TrackView>), Problem> {
    let actor = Actor::user(principal.user.id, client);
    let mut form = TrackForm::default();
    let original =
        receive_form(&state, &actor, multipart?, |name, value| form.set(name, value)).await?;
    let input = match form.into_input(original.clone()) {
        Ok(input) => input,
        Err(invalid) => {
            state.services.tracks.discard(&original).await;
            return Err(Problem::invalid(vec![invalid]));
        }
    };
    let track = state.services.tracks.create(&principal, input).await?;
    Ok((StatusCode::CREATED, Json(track.into())))
}

/// One stored original of a track; the newest is the one served.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackVersionView {
    id: Uuid,
    /// 1 for the first upload, then one more per new version.
    number: u32,
    /// `mp3`, `flac`, `wav`, `ogg`, `aac` or `m4a`, from the bytes.
    format: &'static str,
    size_bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<TrackVersion> for TrackVersionView {
    fn from(version: TrackVersion) -> Self {
        Self {
            id: version.id,
            number: version.number,
            format: version.format.extension(),
            size_bytes: version.size_bytes,
            created_at: version.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackVersionList {
    items: Vec<TrackVersionView>,
    next_cursor: Option<String>,
}

/// The versions of a track the caller may see, newest first.
#[utoipa::path(get, path = "/{id}/versions", tag = "tracks",
    params(("id" = Uuid, Path, description = "Track id"), PageQuery),
    responses(
        (status = 200, body = TrackVersionList),
        (status = 400, body = Problem, description = "invalid_pagination"),
        (status = 404, body = Problem),
    ))]
async fn list_versions(
    State(state): State<AppState>,
    viewer: Option<Authenticated>,
    Path(id): Path<Uuid>,
    Query(page): Query<PageQuery>,
) -> Result<Json<TrackVersionList>, Problem> {
    let viewer = viewer.map(|Authenticated(p)| p);
    let page = state.services.tracks.versions(viewer.as_ref(), id, page.page()?).await?;
    Ok(Json(TrackVersionList {
        items: page.items.into_iter().map(TrackVersionView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Upload a new version of a track (owner only): multipart with the audio in the part
/// `file`, checked like a first upload. The track serves it once processed (it is
/// `processing` again meanwhile); older versions stay downloadable by the owner.
#[utoipa::path(post, path = "/{id}/versions", tag = "tracks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Track id")),
    request_body(content_type = "multipart/form-data", description = "Part `file`: the audio"),
    responses(
        (status = 201, body = TrackVersionView),
        (status = 400, body = Problem, description = "No `file` part, two, or another part"),
        (status = 401, body = Problem),
        (status = 403, body = Problem, description = "forbidden: not the owner"),
        (status = 404, body = Problem),
        (status = 413, body = Problem, description = "payload_too_large"),
        (status = 415, body = Problem, description = "unsupported_media_type"),
        (status = 422, body = Problem, description = "empty_file or infected (nothing stored)"),
        (status = 503, body = Problem, description = "scanner_unavailable"),
    ))]
async fn add_version(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<TrackVersionView>), Problem> {
    let multipart = multipart?;
    // Refuse before receiving a file the caller could not attach anyway.
    state.services.tracks.owned(&principal, id).await?;
    let actor = Actor::user(principal.user.id, client);
    let original = receive_form(&state, &actor, multipart, |name, _| {
        Err(format!("Unexpected form field `{name}`: send only `file`."))
    })
    .await?;
    let version = state.services.tracks.add_version(&principal, id, original).await?;
    Ok((StatusCode::CREATED, Json(version.into())))
}
