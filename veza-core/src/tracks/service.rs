//! What the `/tracks` endpoints do, and the visibility rules every read goes through.

use std::sync::Arc;
use uuid::Uuid;

use super::media::{MediaUse, TrackMedia, check_media_access};
use super::processing::{delete_blobs_payload, process_payload};
use super::removal::{remove_unless_used, settle};
use super::upload::{Inspection, Refusal, StoredOriginal, original_key};
use super::{
    Bpm, Description, Genre, MusicalKey, NewTrack, NewTrackVersion, SearchTerms, StreamState, Tags,
    Title, Track, TrackChanges, TrackCursor, TrackPatch, TrackQuery, TrackSort, TrackStatus,
    TrackVersion, TracksError, Visibility, Waveform,
};
use super::{StreamNotification, TrackBlobRemover, TrackProcessor};
use crate::Ports;
use crate::audit::{Actor, AuditAction, AuditLog};
use crate::auth::{FieldError, Principal};
use crate::blobs::{BlobBody, BlobKey};
use crate::jobs::NewJob;
use crate::pagination::{Page, PageRequest};
use crate::scan::ScanVerdict;
use crate::stream::InternalToken;
use crate::users::{Role, Username};

/// Job kind that analyses a new track; payload `{"track_id":"<uuid>"}`.
pub const PROCESS_JOB: &str = "track.process";

/// Job kind that removes a deleted track's original; payload `{"blob_key":"<key>"}`.
pub const DELETE_BLOBS_JOB: &str = "track.delete_blobs";

/// Job kind of `store_original`'s safety net: removes a received original, or its staged
/// object, unless a track claimed it within `UNCLAIMED_ORIGINAL_GRACE`. Same payload and
/// handler as `DELETE_BLOBS_JOB`; a kind of its own so `veza jobs list` tells them apart.
pub const DISCARD_UNCLAIMED_JOB: &str = "track.discard_unclaimed";

/// A new track's metadata beside its title, as the client sent it (raw: the service parses
/// it). Every way of creating a track (multipart, tus, import) carries one.
#[derive(Debug, Clone, Default)]
pub struct TrackDetails {
    pub description: Option<String>,
    pub genre: Option<String>,
    /// Comma-separated.
    pub tags: Option<String>,
    pub bpm: Option<i64>,
    pub key: Option<String>,
    /// Defaults to `public`.
    pub visibility: Option<String>,
    pub downloadable: bool,
}

/// A new track's title and details as the client sent them, and its stored original.
#[derive(Debug, Clone)]
pub struct NewTrackInput {
    pub title: String,
    pub details: TrackDetails,
    pub original: StoredOriginal,
}

/// The stream server's report on a track's packaging, as it sent it.
#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    /// `ready` or `failed`.
    pub status: String,
    /// With `ready`: where the HLS playlist is.
    pub hls_url: Option<String>,
    /// With `failed`: why, in the stream server's words.
    pub error: Option<String>,
}

/// Limits and secrets of the track domain, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracksConfig {
    /// Largest original accepted (`VEZA_MAX_UPLOAD_BYTES`).
    pub max_upload_bytes: u64,
    /// What the stream server's callback must present; `None`: every callback is refused.
    pub internal_token: Option<InternalToken>,
}

impl TracksConfig {
    /// API.md's default upload limit: 500 MiB.
    pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 500 * 1024 * 1024;
}

impl Default for TracksConfig {
    fn default() -> Self {
        Self { max_upload_bytes: Self::DEFAULT_MAX_UPLOAD_BYTES, internal_token: None }
    }
}

/// A list request as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct TrackListRequest {
    /// Full-text search over title, description, tags and owner.
    pub q: Option<String>,
    pub genre: Option<String>,
    pub tag: Option<String>,
    /// A user id or a username.
    pub owner: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The value, or `None` with its error kept, so one answer can list every bad field.
fn collect<T>(errors: &mut Vec<FieldError>, result: Result<T, FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// Empty text clears an optional field.
fn optional<T>(
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, FieldError>,
) -> Result<Option<T>, FieldError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => parse(value).map(Some),
    }
}

fn visibility(raw: &str) -> Result<Visibility, FieldError> {
    Visibility::parse(raw.trim())
        .ok_or_else(|| FieldError::new("visibility", "must be public, unlisted or private"))
}

/// Whether `viewer` may manage tracks it does not own.
fn is_admin(viewer: &Principal) -> bool {
    viewer.user.role == Role::Admin
}

/// A new track's title and details, parsed.
struct NewTrackMetadata {
    title: Title,
    description: Option<Description>,
    genre: Option<Genre>,
    tags: Tags,
    bpm: Option<Bpm>,
    key: Option<MusicalKey>,
    visibility: Visibility,
}

impl NewTrackMetadata {
    /// # Errors
    /// `Invalid` listing every bad field.
    fn parse(title: &str, details: &TrackDetails) -> Result<Self, TracksError> {
        let mut errors = Vec::new();
        let title = collect(&mut errors, Title::parse(title));
        let description =
            collect(&mut errors, optional(details.description.as_deref(), Description::parse));
        let genre = collect(&mut errors, optional(details.genre.as_deref(), Genre::parse));
        let tags = collect(&mut errors, Tags::parse(details.tags.as_deref().unwrap_or("")));
        let bpm = collect(&mut errors, details.bpm.map(Bpm::new).transpose());
        let key = collect(&mut errors, optional(details.key.as_deref(), MusicalKey::parse));
        let visibility = collect(
            &mut errors,
            details.visibility.as_deref().map_or(Ok(Visibility::Public), visibility),
        );
        match (title, description, genre, tags, bpm, key, visibility) {
            (
                Some(title),
                Some(description),
                Some(genre),
                Some(tags),
                Some(bpm),
                Some(key),
                Some(visibility),
            ) => Ok(Self { title, description, genre, tags, bpm, key, visibility }),
            _ => Err(TracksError::Invalid(errors)),
        }
    }
}

/// Checks a new track's title and details as `create` will, for a caller that has costly
/// work to do before it can create the track (reading a whole resumable upload).
///
/// # Errors
/// `Invalid` listing every bad field.
pub(crate) fn check_new_track(title: &str, details: &TrackDetails) -> Result<(), TracksError> {
    NewTrackMetadata::parse(title, details).map(drop)
}

/// The job that removes `key` once no track version uses it any more.
pub(crate) fn blob_removal_job(key: &BlobKey, ports: &Ports) -> NewJob {
    track_job(DELETE_BLOBS_JOB, delete_blobs_payload(key), ports)
}

/// How long a received original may wait for its track before the safety-net removal of
/// `store_original` takes it (unless a track uses it by then): far longer than any request
/// takes from the end of its file to its track's creation.
pub const UNCLAIMED_ORIGINAL_GRACE: time::Duration = time::Duration::hours(24);

fn track_job(kind: &str, payload: String, ports: &Ports) -> NewJob {
    let now = ports.clock.now();
    NewJob {
        id: ports.ids.new_id(),
        kind: kind.to_owned(),
        payload,
        run_at: now,
        max_attempts: NewJob::MAX_ATTEMPTS,
        created_at: now,
    }
}

#[derive(Clone)]
pub struct TrackService {
    ports: Ports,
    audit: AuditLog,
    config: TracksConfig,
}

impl TrackService {
    pub fn new(ports: Ports, audit: AuditLog, config: TracksConfig) -> Self {
        Self { ports, audit, config }
    }

    pub fn config(&self) -> &TracksConfig {
        &self.config
    }

    /// Whether a callback presenting `token` comes from the stream server.
    ///
    /// # Errors
    /// `NotStreamServer` for a missing or wrong token, or when no token is configured.
    pub fn authorize_stream_server(&self, token: Option<&str>) -> Result<(), TracksError> {
        match (&self.config.internal_token, token) {
            (Some(expected), Some(presented)) if expected.verify(presented) => Ok(()),
            _ => Err(TracksError::NotStreamServer),
        }
    }

    /// Receives an original for `actor`: streams `body` into a staging object, refusing it at
    /// the first chunk over the upload limit or once its first bytes show it is not audio;
    /// scans it; stores it under its content-addressed key. The body is never held whole.
    ///
    /// Once the bytes are in, two removal jobs due after `UNCLAIMED_ORIGINAL_GRACE` are
    /// queued, for the staging object and for the content-addressed key: the safety net for
    /// what the cleanup on refusal cannot reach, a crash or a dropped request (its client gone)
    /// between here and the track's creation. Each removes its blob unless a track uses it by
    /// then; in the usual case `settle` removed the staged object long before, and the
    /// original is a track's, so both removals change nothing. The original is a copy of the
    /// staged object, which stays until the caller's `create` or `add_version` settles it.
    ///
    /// # Errors
    /// `TooLarge`, `NotAudio`, `EmptyFile`, `Infected` (audited), `ScanFailed` (the scanner
    /// could not vouch for it), `Blob`, `Store` (the removal jobs could not be queued). In
    /// every case nothing is kept.
    pub async fn store_original(
        &self,
        actor: &Actor,
        body: BlobBody,
    ) -> Result<StoredOriginal, TracksError> {
        let blobs = &self.ports.blobs;
        let staging = BlobKey::parse(&format!("staging/{}", self.ports.ids.new_id()))
            .expect("uuids make valid keys");
        let (body, inspection) = Inspection::wrap(body, self.config.max_upload_bytes);
        let stored = blobs.put_stream(&staging, body).await;
        let inspected = match (stored, inspection.refusal(), inspection.passed(Inspection::finish))
        {
            (Ok(_), None, Some(inspected)) => inspected,
            (_, Some(refusal), _) => {
                return Err(match refusal {
                    Refusal::TooLarge { limit } => TracksError::TooLarge { limit },
                    Refusal::NotAudio => TracksError::NotAudio,
                    Refusal::Empty => TracksError::EmptyFile,
                });
            }
            (Err(err), None, _) => return Err(err.into()),
            (Ok(_), None, None) => unreachable!("a stored body was read to its end"),
        };
        let key = original_key(&inspected);
        let checked = async {
            let due = self.ports.clock.now() + UNCLAIMED_ORIGINAL_GRACE;
            for blob in [&staging, &key] {
                let payload = delete_blobs_payload(blob);
                let job = track_job(DISCARD_UNCLAIMED_JOB, payload, &self.ports);
                let job = NewJob { run_at: due, ..job };
                self.ports.jobs.enqueue_job(&job).await?;
            }
            // Opened only if the scanner reads it (`NoScanner` does not).
            let content = BlobBody::of_objects(Arc::clone(blobs), vec![staging.clone()]);
            match self.ports.scanner.scan(content).await? {
                ScanVerdict::Clean => {}
                ScanVerdict::Infected { signature } => {
                    let mut event = actor.event(AuditAction::UploadInfected).detail(&signature);
                    if let Some(id) = actor.user_id {
                        event = event.target(id);
                    }
                    self.audit.record(event).await;
                    return Err(TracksError::Infected { signature });
                }
            }
            // Copied, not moved: the staged object stays until the track exists (`settle`).
            blobs.copy(&staging, &key).await?;
            Ok(())
        }
        .await;
        match checked {
            Ok(()) => Ok(StoredOriginal {
                blob: key,
                staged: staging,
                format: inspected.format,
                size_bytes: inspected.size_bytes,
                sha256: inspected.sha256,
            }),
            Err(err) => {
                if let Err(cleanup) = blobs.delete(&staging).await {
                    tracing::warn!(error = %cleanup, key = %staging, "staged upload not removed");
                }
                Err(err)
            }
        }
    }

    /// Removes an original no track was created for (the rest of its request was refused):
    /// its staged copy, and the original itself unless a track uses the same bytes. What
    /// fails here is left to the safety-net jobs `store_original` queued.
    pub async fn discard(&self, original: &StoredOriginal) {
        let blobs = &*self.ports.blobs;
        if let Err(err) = blobs.delete(&original.staged).await {
            tracing::warn!(error = %err, key = %original.staged, "staged upload not removed");
        }
        let in_use = || self.ports.tracks.track_blob_in_use(&original.blob);
        if let Err(err) = remove_unless_used(blobs, &original.blob, in_use).await {
            tracing::warn!(error = %err, key = %original.blob, "unused original not removed");
        }
    }

    /// What follows a stored original's use by a new track version, or its refusal.
    async fn settle_or_discard<T>(
        &self,
        original: &StoredOriginal,
        recorded: Result<T, TracksError>,
    ) -> Result<T, TracksError> {
        match &recorded {
            Ok(_) => settle(&*self.ports.blobs, original).await,
            Err(_) => self.discard(original).await,
        }
        recorded
    }

    /// The `PROCESS_JOB` handler over this service's ports.
    pub fn processor(&self) -> TrackProcessor {
        TrackProcessor {
            tracks: self.ports.tracks.clone(),
            spool: self.ports.spool.clone(),
            analyzer: self.ports.analyzer.clone(),
            stream: self.ports.stream.clone(),
            clock: self.ports.clock.clone(),
            ids: self.ports.ids.clone(),
        }
    }

    /// The `NOTIFY_STREAM_JOB` handler over this service's ports.
    pub fn stream_notification(&self) -> StreamNotification {
        StreamNotification { tracks: self.ports.tracks.clone(), stream: self.ports.stream.clone() }
    }

    /// Records what the stream server reports about a track's HLS packaging; a later report
    /// replaces an earlier one. The caller has established that the stream server is asking.
    ///
    /// # Errors
    /// `Invalid` for a status other than `ready`/`failed` or fields that do not fit it,
    /// `NotFound` for an unknown track.
    pub async fn record_stream_report(
        &self,
        id: Uuid,
        report: StreamReport,
    ) -> Result<(), TracksError> {
        let state =
            StreamState::parse(&report.status, report.hls_url.as_deref(), report.error.as_deref())
                .map_err(TracksError::Invalid)?;
        let now = self.ports.clock.now();
        if self.ports.tracks.record_stream_state(id, &state, now).await? {
            Ok(())
        } else {
            Err(TracksError::NotFound)
        }
    }

    /// The `DELETE_BLOBS_JOB` and `DISCARD_UNCLAIMED_JOB` handler over this service's ports.
    pub fn blob_remover(&self) -> TrackBlobRemover {
        TrackBlobRemover { tracks: self.ports.tracks.clone(), blobs: self.ports.blobs.clone() }
    }

    /// Records a track whose original `store_original` stored, owned by the signed-in
    /// `owner`, in `processing`, with its processing job. If the track cannot be created the
    /// original is discarded.
    ///
    /// # Errors
    /// `Invalid` listing every bad field; nothing is written then.
    pub async fn create(
        &self,
        owner: &Principal,
        input: NewTrackInput,
    ) -> Result<Track, TracksError> {
        self.create_for_owner(owner.user.id, input).await
    }

    /// As `create`, for an operator acting on behalf of the account `owner_id` (`veza track
    /// import`): no session is involved, the edge has resolved the owner.
    ///
    /// # Errors
    /// `Invalid` listing every bad field; `Store` if the owner does not exist. Nothing is
    /// written then.
    pub async fn create_for_owner(
        &self,
        owner_id: Uuid,
        input: NewTrackInput,
    ) -> Result<Track, TracksError> {
        let original = input.original.clone();
        let created = self.insert(owner_id, input).await;
        self.settle_or_discard(&original, created).await
    }

    async fn insert(&self, owner_id: Uuid, input: NewTrackInput) -> Result<Track, TracksError> {
        let NewTrackMetadata { title, description, genre, tags, bpm, key, visibility } =
            NewTrackMetadata::parse(&input.title, &input.details)?;
        let track = NewTrack {
            id: self.ports.ids.new_id(),
            owner_id,
            title,
            description,
            genre,
            tags,
            bpm,
            key,
            visibility,
            downloadable: input.details.downloadable,
            size_bytes: input.original.size_bytes,
            blob: input.original.blob,
            format: input.original.format,
            created_at: self.ports.clock.now(),
        };
        let job = track_job(PROCESS_JOB, process_payload(track.id), &self.ports);
        Ok(self.ports.tracks.insert_track(&track, &job).await?)
    }

    /// The track if `viewer` may see it: public and unlisted ones to anyone, private ones to
    /// their owner and admins.
    ///
    /// # Errors
    /// `NotFound` if there is none or the viewer may not see it.
    pub async fn get(&self, viewer: Option<&Principal>, id: Uuid) -> Result<Track, TracksError> {
        let track = self.ports.tracks.track_by_id(id).await?.ok_or(TracksError::NotFound)?;
        let visible = match track.visibility {
            Visibility::Public | Visibility::Unlisted => true,
            Visibility::Private => {
                viewer.is_some_and(|v| v.user.id == track.owner.id || is_admin(v))
            }
        };
        if visible { Ok(track) } else { Err(TracksError::NotFound) }
    }

    /// Public ready tracks, filtered and sorted as asked. An owner that names nobody, or a
    /// genre or tag no track could have, gives an empty page, as a filter matching nothing does.
    ///
    /// # Errors
    /// `BadSort` for an unknown sort, `BadPage` for a bad limit or a cursor of another sort.
    pub async fn list(&self, request: TrackListRequest) -> Result<Page<Track>, TracksError> {
        let q = request.q.as_deref().and_then(SearchTerms::parse);
        let sort = match (request.sort.as_deref(), &q) {
            (None, Some(_)) => TrackSort::Relevance,
            (None, None) => TrackSort::default(),
            (Some(name), _) => match TrackSort::parse(name) {
                Some(TrackSort::Relevance) if q.is_none() => return Err(TracksError::BadSort),
                Some(sort) => sort,
                None => return Err(TracksError::BadSort),
            },
        };
        let page = PageRequest::parse(request.limit, None)?;
        let after = request.cursor.as_deref().map(|c| TrackCursor::decode(c, sort)).transpose()?;
        let owner = match request.owner.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(ident) => match self.owner_id(ident).await? {
                Some(id) => Some(id),
                None => return Ok(Page { items: Vec::new(), next_cursor: None }),
            },
        };
        let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let (genre, tag) = (nonempty(request.genre), nonempty(request.tag));
        // No genre or tag holds a control character, and PostgreSQL refuses NUL in text.
        if [&genre, &tag].into_iter().flatten().any(|v| v.chars().any(char::is_control)) {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        }
        let query = TrackQuery {
            q,
            genre,
            tag: tag.map(|t| t.to_lowercase()),
            owner,
            sort,
            after,
            fetch_limit: page.fetch_limit(),
        };
        let rows = self.ports.tracks.list_tracks(&query).await?;
        let page = Page::from_rows_with(rows, page, |last| last.cursor(sort).encode());
        let items = page.items.into_iter().map(|r| r.track).collect();
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// The track if `owner` owns it.
    ///
    /// # Errors
    /// `NotFound` if the caller may not see it, `Forbidden` if it may but does not own it.
    pub async fn owned(&self, owner: &Principal, id: Uuid) -> Result<Track, TracksError> {
        let track = self.get(Some(owner), id).await?;
        if track.owner.id == owner.user.id { Ok(track) } else { Err(TracksError::Forbidden) }
    }

    async fn owner_id(&self, ident: &str) -> Result<Option<Uuid>, TracksError> {
        if let Ok(id) = Uuid::try_parse(ident) {
            return Ok(Some(id));
        }
        let Ok(username) = Username::parse(ident) else { return Ok(None) };
        Ok(self.ports.users.user_by_login(&username.key()).await?.map(|u| u.id))
    }

    /// Applies a metadata edit. Only the owner may edit: others get `NotFound` when they
    /// may not see the track and `Forbidden` when they may.
    ///
    /// # Errors
    /// `Invalid` listing every bad field (nothing written), `NotFound`, `Forbidden`.
    pub async fn update(
        &self,
        editor: &Principal,
        id: Uuid,
        patch: TrackPatch,
    ) -> Result<Track, TracksError> {
        self.owned(editor, id).await?;
        let mut errors = Vec::new();
        let changes = TrackChanges {
            title: patch.title.and_then(|t| collect(&mut errors, Title::parse(&t))),
            description: patch
                .description
                .and_then(|d| collect(&mut errors, optional(d.as_deref(), Description::parse))),
            genre: patch
                .genre
                .and_then(|g| collect(&mut errors, optional(g.as_deref(), Genre::parse))),
            tags: patch
                .tags
                .and_then(|t| collect(&mut errors, Tags::from_items(t.iter().map(String::as_str)))),
            bpm: patch.bpm.and_then(|b| collect(&mut errors, b.map(Bpm::new).transpose())),
            key: patch
                .key
                .and_then(|k| collect(&mut errors, optional(k.as_deref(), MusicalKey::parse))),
            visibility: patch.visibility.and_then(|v| collect(&mut errors, visibility(&v))),
            downloadable: patch.downloadable,
        };
        if !errors.is_empty() {
            return Err(TracksError::Invalid(errors));
        }
        let now = self.ports.clock.now();
        self.ports.tracks.update_track(id, &changes, now).await?.ok_or(TracksError::NotFound)
    }

    /// Deletes the track (owner or admin); the blobs of all its versions are removed by jobs.
    ///
    /// # Errors
    /// `NotFound` if the caller may not see it, `Forbidden` if it may but is not allowed.
    pub async fn delete(&self, caller: &Principal, id: Uuid) -> Result<(), TracksError> {
        let track = self.get(Some(caller), id).await?;
        if track.owner.id != caller.user.id && !is_admin(caller) {
            return Err(TracksError::Forbidden);
        }
        let keys = self.ports.tracks.track_blob_keys(id).await?;
        let jobs: Vec<NewJob> = keys.iter().map(|key| blob_removal_job(key, &self.ports)).collect();
        if self.ports.tracks.delete_track(id, &jobs).await? {
            Ok(())
        } else {
            Err(TracksError::NotFound)
        }
    }

    /// Makes `original` (from `store_original`) the track's newest version, served from now
    /// on once processed; older versions stay downloadable by the owner. Owner only.
    ///
    /// # Errors
    /// `NotFound` if the caller may not see the track, `Forbidden` if it may but does not
    /// own it. The original is discarded on any error.
    pub async fn add_version(
        &self,
        owner: &Principal,
        id: Uuid,
        original: StoredOriginal,
    ) -> Result<TrackVersion, TracksError> {
        let added = async {
            self.owned(owner, id).await?;
            let version = NewTrackVersion {
                id: self.ports.ids.new_id(),
                track_id: id,
                blob: original.blob.clone(),
                format: original.format,
                size_bytes: original.size_bytes,
                created_at: self.ports.clock.now(),
            };
            let job = track_job(PROCESS_JOB, process_payload(id), &self.ports);
            let now = self.ports.clock.now();
            self.ports
                .tracks
                .add_track_version(&version, &job, now)
                .await?
                .ok_or(TracksError::NotFound)
        }
        .await;
        self.settle_or_discard(&original, added).await
    }

    /// The versions of a track the viewer may see, newest first.
    ///
    /// # Errors
    /// `NotFound` if not visible, `BadPage` for a bad limit or cursor.
    pub async fn versions(
        &self,
        viewer: Option<&Principal>,
        id: Uuid,
        page: PageRequest,
    ) -> Result<Page<TrackVersion>, TracksError> {
        self.get(viewer, id).await?;
        let rows = self.ports.tracks.track_versions(id, page).await?;
        Ok(Page::from_rows(rows, page, |v| v.id))
    }

    /// The waveform of a ready track the viewer may see.
    ///
    /// # Errors
    /// `NotFound` if not visible or not ready yet.
    pub async fn waveform(
        &self,
        viewer: Option<&Principal>,
        id: Uuid,
    ) -> Result<Waveform, TracksError> {
        let track = self.get(viewer, id).await?;
        if track.status != TrackStatus::Ready {
            return Err(TracksError::NotFound);
        }
        self.ports.tracks.track_waveform(id).await?.ok_or(TracksError::NotFound)
    }

    /// The original of a track, for `usage`, if the viewer may have it: `Stream` follows
    /// `get`, except that a track not `ready` exists for its owner only; `Download` also
    /// needs the viewer to own the track or the track to be `downloadable`. Nothing is
    /// read yet.
    ///
    /// # Errors
    /// `NotFound` if the viewer may not see it (or not yet), `NotDownloadable` if it may see
    /// it but not download it.
    pub async fn media(
        &self,
        viewer: Option<&Principal>,
        id: Uuid,
        usage: MediaUse,
    ) -> Result<TrackMedia, TracksError> {
        let track = self.get(viewer, id).await?;
        let shared = check_media_access(&track, viewer, usage)?;
        Ok(TrackMedia::new(self.ports.blobs.clone(), &track, shared))
    }

    /// Version `number` of a track as a download: the served version under the usual rules,
    /// an older one for the owner only.
    ///
    /// # Errors
    /// `NotFound` if the viewer may not see the track or there is no such version,
    /// `NotDownloadable` / `Forbidden` if it may see the track but not have that file.
    pub async fn version_media(
        &self,
        viewer: Option<&Principal>,
        id: Uuid,
        number: u32,
    ) -> Result<TrackMedia, TracksError> {
        let track = self.get(viewer, id).await?;
        let version =
            self.ports.tracks.track_version(id, number).await?.ok_or(TracksError::NotFound)?;
        if version.blob == track.blob {
            let shared = check_media_access(&track, viewer, MediaUse::Download)?;
            return Ok(TrackMedia::new(self.ports.blobs.clone(), &track, shared));
        }
        if viewer.is_none_or(|v| v.user.id != track.owner.id) {
            return Err(TracksError::Forbidden);
        }
        Ok(TrackMedia::of_version(self.ports.blobs.clone(), &track, &version))
    }
}
