//! Tracks on SQLite. Edits read the row and write it back inside the single writer's
//! transaction, so concurrent edits of different fields serialise and all land. Lists are
//! keyset queries, one per sort, over the `tracks_listed_*` indexes; a search joins the
//! FTS5 index the migration's triggers keep in step with the table.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use time::OffsetDateTime;
use uuid::Uuid;
use veza_core::blobs::BlobKey;
use veza_core::jobs::NewJob;
use veza_core::media::{AudioAnalysis, AudioFormat};
use veza_core::pagination::PageRequest;
use veza_core::store::StoreError;
use veza_core::tracks::{
    Bpm, Description, Genre, MusicalKey, NewTrack, NewTrackVersion, RankedTrack, SearchTerms,
    StreamState, Tags, Title, Track, TrackChanges, TrackCursor, TrackFacts, TrackOwner, TrackQuery,
    TrackSort, TrackStatus, TrackStore, TrackVersion, Visibility, Waveform,
};
use veza_core::users::{DisplayName, Username};

use super::SqliteStore;
use super::accounts::{
    blob_key_at, conversion, optional_unsigned_at, time_at, unsigned_at, uuid_at, wide,
};
use super::jobs::enqueue_in;
use crate::time_text;

const TRACK_COLUMNS: &str = "t.id, t.owner_id, u.username, u.display_name, t.title, \
    t.description, t.genre, t.tags, t.bpm, t.musical_key, t.visibility, t.downloadable, \
    t.status, t.failure_reason, t.duration_ms, t.sample_rate, t.channels, t.bitrate, t.codec, \
    t.size_bytes, t.blob_key, t.format, t.popularity, t.created_at, t.updated_at, t.version, \
    t.stream_status, t.hls_url, t.stream_error";

const TRACK_FROM: &str = "FROM tracks t JOIN users u ON u.id = t.owner_id";

/// Full-text matches and their score (higher is better: bm25 is negative, lower better).
/// Title hits weigh 10, owner and tags 5, the description 1. Materialised so bm25 runs in
/// the FTS query it belongs to. `?8` is the MATCH expression.
const SEARCH_CTE: &str = "WITH s AS MATERIALIZED (SELECT track_id, \
    -bm25(tracks_fts, 0.0, 10.0, 5.0, 5.0, 1.0) AS score \
    FROM tracks_fts WHERE tracks_fts MATCH ?8)";

/// The filters every list shares; `?1` genre key, `?2` tag, `?3` owner.
const LISTED: &str = "t.status = 'ready' AND t.visibility = 'public' \
    AND (?1 IS NULL OR t.genre_key = ?1) \
    AND (?2 IS NULL OR instr(t.tags, ',' || ?2 || ',') > 0) \
    AND (?3 IS NULL OR t.owner_id = ?3)";

/// The FTS5 query for `terms`: every word as a quoted prefix (words hold only letters and
/// digits, so the quotes cannot be escaped from).
fn match_expression(terms: &SearchTerms) -> String {
    terms.words().iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" ")
}

fn invalid(index: usize, what: &str) -> rusqlite::Error {
    conversion(index, std::io::Error::other(format!("unknown {what} in the tracks table")))
}

fn track_from_row(row: &Row<'_>) -> rusqlite::Result<Track> {
    let visibility: String = row.get(10)?;
    let status: String = row.get(12)?;
    let format: String = row.get(21)?;
    Ok(Track {
        id: uuid_at(row, 0)?,
        owner: TrackOwner {
            id: uuid_at(row, 1)?,
            username: Username::from_trusted(row.get(2)?),
            display_name: DisplayName::from_trusted(row.get(3)?),
        },
        title: Title::from_trusted(row.get(4)?),
        description: row.get::<_, Option<String>>(5)?.map(Description::from_trusted),
        genre: row.get::<_, Option<String>>(6)?.map(Genre::from_trusted),
        tags: Tags::from_stored(&row.get::<_, String>(7)?),
        bpm: row.get::<_, Option<u16>>(8)?.map(Bpm::from_trusted),
        key: row.get::<_, Option<String>>(9)?.map(MusicalKey::from_trusted),
        visibility: Visibility::parse(&visibility).ok_or_else(|| invalid(10, "visibility"))?,
        downloadable: row.get(11)?,
        status: TrackStatus::parse(&status).ok_or_else(|| invalid(12, "status"))?,
        failure_reason: row.get(13)?,
        facts: TrackFacts {
            duration_ms: optional_unsigned_at(row, 14)?,
            sample_rate: row.get(15)?,
            channels: row.get(16)?,
            bitrate: row.get(17)?,
            codec: row.get(18)?,
        },
        size_bytes: unsigned_at(row, 19)?,
        blob: blob_key_at(row, 20)?,
        format: AudioFormat::from_extension(&format).ok_or_else(|| invalid(21, "format"))?,
        popularity: row.get(22)?,
        created_at: time_at(row, 23)?,
        updated_at: time_at(row, 24)?,
        version: row.get(25)?,
        stream: match row.get::<_, Option<String>>(26)? {
            None => None,
            Some(status) => Some(
                StreamState::from_stored(&status, row.get(27)?, row.get(28)?)
                    .ok_or_else(|| invalid(26, "stream status"))?,
            ),
        },
    })
}

fn track_by_id(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<Track>> {
    conn.prepare_cached(&format!("SELECT {TRACK_COLUMNS} {TRACK_FROM} WHERE t.id = ?1"))?
        .query_row([id.to_string()], track_from_row)
        .optional()
}

fn insert(tx: &Transaction<'_>, track: &NewTrack) -> rusqlite::Result<()> {
    let created = time_text::format(track.created_at);
    tx.prepare_cached(
        "INSERT INTO tracks (id, owner_id, title, title_key, description, genre, genre_key, \
         tags, bpm, musical_key, visibility, downloadable, status, size_bytes, blob_key, \
         format, created_at, updated_at, version, owner_name) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'processing', ?13, ?14, \
         ?15, ?16, ?16, 1, (SELECT username FROM users WHERE id = ?2))",
    )?
    .execute(params![
        track.id.to_string(),
        track.owner_id.to_string(),
        track.title.as_str(),
        track.title.sort_key(),
        track.description.as_ref().map(Description::as_str),
        track.genre.as_ref().map(Genre::as_str),
        track.genre.as_ref().map(Genre::key),
        track.tags.to_stored(),
        track.bpm.map(Bpm::get),
        track.key.as_ref().map(MusicalKey::as_str),
        track.visibility.as_str(),
        track.downloadable,
        wide(track.size_bytes)?,
        track.blob.as_str(),
        track.format.extension(),
        created,
    ])?;
    insert_version(tx, &track.first_version(), 1)
}

const VERSION_COLUMNS: &str = "id, track_id, number, blob_key, format, size_bytes, created_at";

fn insert_version(
    tx: &Transaction<'_>,
    version: &NewTrackVersion,
    number: u32,
) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO track_versions ({VERSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        version.id.to_string(),
        version.track_id.to_string(),
        number,
        version.blob.as_str(),
        version.format.extension(),
        wide(version.size_bytes)?,
        time_text::format(version.created_at),
    ])?;
    Ok(())
}

/// The distinct originals of the versions of the tracks whose `column` is `id`.
fn version_blob_keys(conn: &Connection, column: &str, id: Uuid) -> rusqlite::Result<Vec<BlobKey>> {
    conn.prepare_cached(&format!(
        "SELECT DISTINCT v.blob_key FROM track_versions v \
         JOIN tracks t ON t.id = v.track_id WHERE {column} = ?1 ORDER BY v.blob_key"
    ))?
    .query_map([id.to_string()], |row| blob_key_at(row, 0))?
    .collect()
}

fn version_from_row(row: &Row<'_>) -> rusqlite::Result<TrackVersion> {
    let format: String = row.get(4)?;
    Ok(TrackVersion {
        id: uuid_at(row, 0)?,
        track_id: uuid_at(row, 1)?,
        number: row.get(2)?,
        blob: blob_key_at(row, 3)?,
        format: AudioFormat::from_extension(&format).ok_or_else(|| invalid(4, "format"))?,
        size_bytes: unsigned_at(row, 5)?,
        created_at: time_at(row, 6)?,
    })
}

fn list(conn: &Connection, query: &TrackQuery) -> rusqlite::Result<Vec<RankedTrack>> {
    let (order, after) = match query.sort {
        TrackSort::Recent => ("t.id DESC", "(?4 IS NULL OR t.id < ?4)"),
        TrackSort::Popular => (
            "t.popularity DESC, t.id DESC",
            "(?4 IS NULL OR t.popularity < ?5 OR (t.popularity = ?5 AND t.id < ?4))",
        ),
        TrackSort::Title => (
            "t.title_key ASC, t.id ASC",
            "(?4 IS NULL OR t.title_key > ?6 OR (t.title_key = ?6 AND t.id > ?4))",
        ),
        TrackSort::Relevance => (
            "s.score DESC, t.id DESC",
            "(?4 IS NULL OR s.score < ?7 OR (s.score = ?7 AND t.id < ?4))",
        ),
    };
    let (popularity, title_key, score) = match &query.after {
        Some(TrackCursor::Popular { popularity, .. }) => (Some(*popularity), None, None),
        Some(TrackCursor::Title { title_key, .. }) => (None, Some(title_key.clone()), None),
        Some(TrackCursor::Relevance { score, .. }) => (None, None, Some(*score)),
        _ => (None, None, None),
    };
    let sql = match &query.q {
        Some(_) => format!(
            "{SEARCH_CTE} SELECT {TRACK_COLUMNS}, s.score {TRACK_FROM} \
             JOIN s ON s.track_id = t.id WHERE {LISTED} AND {after} ORDER BY {order} LIMIT ?9"
        ),
        // Relevance needs a search; the core never asks for it without one.
        None if query.sort == TrackSort::Relevance => return Ok(Vec::new()),
        None => format!(
            "SELECT {TRACK_COLUMNS}, 0.0 {TRACK_FROM} WHERE {LISTED} AND {after} \
             AND ?7 IS ?7 AND ?8 IS ?8 ORDER BY {order} LIMIT ?9"
        ),
    };
    conn.prepare_cached(&sql)?
        .query_map(
            params![
                query.genre.as_deref().map(str::to_lowercase),
                query.tag,
                query.owner.map(|o| o.to_string()),
                query.after.as_ref().map(|c| c.id().to_string()),
                popularity,
                title_key,
                score,
                query.q.as_ref().map(match_expression),
                query.fetch_limit,
            ],
            |row| Ok(RankedTrack { track: track_from_row(row)?, score: row.get(29)? }),
        )?
        .collect()
}

fn write_metadata(tx: &Transaction<'_>, track: &Track, now: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE tracks SET title = ?2, title_key = ?3, description = ?4, genre = ?5, \
         genre_key = ?6, tags = ?7, bpm = ?8, musical_key = ?9, visibility = ?10, \
         downloadable = ?11, updated_at = ?12, version = version + 1 WHERE id = ?1",
    )?
    .execute(params![
        track.id.to_string(),
        track.title.as_str(),
        track.title.sort_key(),
        track.description.as_ref().map(Description::as_str),
        track.genre.as_ref().map(Genre::as_str),
        track.genre.as_ref().map(Genre::key),
        track.tags.to_stored(),
        track.bpm.map(Bpm::get),
        track.key.as_ref().map(MusicalKey::as_str),
        track.visibility.as_str(),
        track.downloadable,
        now,
    ])?;
    Ok(())
}

#[async_trait]
impl TrackStore for SqliteStore {
    async fn insert_track(&self, track: &NewTrack, job: &NewJob) -> Result<Track, StoreError> {
        let (track, job) = (track.clone(), job.clone());
        let id = track.id;
        self.write(move |tx| {
            insert(tx, &track)?;
            enqueue_in(tx, &job)?;
            track_by_id(tx, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
        })
        .await
    }

    async fn track_by_id(&self, id: Uuid) -> Result<Option<Track>, StoreError> {
        self.read_point(move |conn| track_by_id(conn, id)).await
    }

    async fn list_tracks(&self, query: &TrackQuery) -> Result<Vec<RankedTrack>, StoreError> {
        let query = query.clone();
        self.read(move |conn| list(conn, &query)).await
    }

    async fn update_track(
        &self,
        id: Uuid,
        changes: &TrackChanges,
        now: OffsetDateTime,
    ) -> Result<Option<Track>, StoreError> {
        let changes = changes.clone();
        self.write(move |tx| {
            let Some(mut track) = track_by_id(tx, id)? else { return Ok(None) };
            changes.apply_to(&mut track);
            write_metadata(tx, &track, &time_text::format(now))?;
            track_by_id(tx, id)
        })
        .await
    }

    async fn mark_track_ready(
        &self,
        id: Uuid,
        blob: &BlobKey,
        analysis: &AudioAnalysis,
        then: Option<&NewJob>,
        now: OffsetDateTime,
    ) -> Result<Option<Track>, StoreError> {
        let (analysis, blob, then) = (analysis.clone(), blob.as_str().to_owned(), then.cloned());
        self.write(move |tx| {
            let peaks = Waveform::of(&analysis).peaks_to_bytes();
            let changed = tx
                .prepare_cached(
                    "UPDATE tracks SET status = 'ready', failure_reason = NULL, \
                     duration_ms = ?2, sample_rate = ?3, channels = ?4, bitrate = ?5, \
                     codec = ?6, peaks = ?7, samples_per_peak = ?8, updated_at = ?9, \
                     stream_status = NULL, hls_url = NULL, stream_error = NULL, \
                     version = version + 1 WHERE id = ?1 AND blob_key = ?10",
                )?
                .execute(params![
                    id.to_string(),
                    wide(analysis.duration_ms)?,
                    analysis.sample_rate,
                    analysis.channels,
                    analysis.bitrate,
                    analysis.codec,
                    peaks,
                    wide(analysis.samples_per_peak)?,
                    time_text::format(now),
                    blob,
                ])?;
            if changed == 0 {
                return Ok(None);
            }
            if let Some(job) = &then {
                enqueue_in(tx, job)?;
            }
            track_by_id(tx, id)
        })
        .await
    }

    async fn record_stream_state(
        &self,
        id: Uuid,
        state: &StreamState,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let state = state.clone();
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE tracks SET stream_status = ?2, hls_url = ?3, stream_error = ?4, \
                     updated_at = ?5, version = version + 1 WHERE id = ?1",
                )?
                .execute(params![
                    id.to_string(),
                    state.status(),
                    state.hls_url().map(|u| u.as_str()),
                    state.error(),
                    time_text::format(now),
                ])?;
            Ok(changed > 0)
        })
        .await
    }

    async fn mark_track_failed(
        &self,
        id: Uuid,
        blob: &BlobKey,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Track>, StoreError> {
        let (reason, blob) = (reason.to_owned(), blob.as_str().to_owned());
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE tracks SET status = 'failed', failure_reason = ?2, \
                     duration_ms = NULL, sample_rate = NULL, channels = NULL, bitrate = NULL, \
                     codec = NULL, peaks = NULL, samples_per_peak = NULL, updated_at = ?3, \
                     version = version + 1 WHERE id = ?1 AND blob_key = ?4",
                )?
                .execute(params![id.to_string(), reason, time_text::format(now), blob])?;
            if changed == 0 { Ok(None) } else { track_by_id(tx, id) }
        })
        .await
    }

    async fn track_waveform(&self, id: Uuid) -> Result<Option<Waveform>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT peaks, samples_per_peak FROM tracks \
                 WHERE id = ?1 AND status = 'ready' AND peaks IS NOT NULL",
            )?
            .query_row([id.to_string()], |row| {
                Ok(Waveform {
                    peaks: Waveform::peaks_from_bytes(&row.get::<_, Vec<u8>>(0)?),
                    samples_per_peak: optional_unsigned_at(row, 1)?.unwrap_or_default(),
                })
            })
            .optional()
        })
        .await
    }

    async fn add_track_version(
        &self,
        version: &NewTrackVersion,
        job: &NewJob,
        now: OffsetDateTime,
    ) -> Result<Option<TrackVersion>, StoreError> {
        let (version, job) = (version.clone(), job.clone());
        self.write(move |tx| {
            let track_id = version.track_id.to_string();
            // The single writer serialises adds, so the next number is taken race-free.
            let changed = tx
                .prepare_cached(
                    "UPDATE tracks SET blob_key = ?2, format = ?3, size_bytes = ?4, \
                     status = 'processing', failure_reason = NULL, duration_ms = NULL, \
                     sample_rate = NULL, channels = NULL, bitrate = NULL, codec = NULL, \
                     peaks = NULL, samples_per_peak = NULL, updated_at = ?5, \
                     stream_status = NULL, hls_url = NULL, stream_error = NULL, \
                     version = version + 1 WHERE id = ?1",
                )?
                .execute(params![
                    track_id,
                    version.blob.as_str(),
                    version.format.extension(),
                    wide(version.size_bytes)?,
                    time_text::format(now),
                ])?;
            if changed == 0 {
                return Ok(None);
            }
            let number: u32 = tx
                .prepare_cached(
                    "SELECT coalesce(max(number), 0) + 1 FROM track_versions WHERE track_id = ?1",
                )?
                .query_row([&track_id], |row| row.get(0))?;
            insert_version(tx, &version, number)?;
            enqueue_in(tx, &job)?;
            tx.prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM track_versions WHERE id = ?1"
            ))?
            .query_row([version.id.to_string()], version_from_row)
            .map(Some)
        })
        .await
    }

    async fn track_versions(
        &self,
        track_id: Uuid,
        page: PageRequest,
    ) -> Result<Vec<TrackVersion>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM track_versions \
                 WHERE track_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
            ))?
            .query_map(
                params![
                    track_id.to_string(),
                    page.after.map(|id| id.to_string()),
                    page.fetch_limit()
                ],
                version_from_row,
            )?
            .collect()
        })
        .await
    }

    async fn track_version(
        &self,
        track_id: Uuid,
        number: u32,
    ) -> Result<Option<TrackVersion>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM track_versions WHERE track_id = ?1 AND number = ?2"
            ))?
            .query_row(params![track_id.to_string(), number], version_from_row)
            .optional()
        })
        .await
    }

    async fn delete_track(&self, id: Uuid, jobs: &[NewJob]) -> Result<bool, StoreError> {
        let jobs = jobs.to_vec();
        self.write(move |tx| {
            let deleted = tx.execute("DELETE FROM tracks WHERE id = ?1", [id.to_string()])?;
            if deleted > 0 {
                for job in &jobs {
                    enqueue_in(tx, job)?;
                }
            }
            Ok(deleted > 0)
        })
        .await
    }

    async fn owner_blob_keys(&self, owner_id: Uuid) -> Result<Vec<BlobKey>, StoreError> {
        self.read(move |conn| version_blob_keys(conn, "t.owner_id", owner_id)).await
    }

    async fn track_blob_keys(&self, track_id: Uuid) -> Result<Vec<BlobKey>, StoreError> {
        self.read(move |conn| version_blob_keys(conn, "t.id", track_id)).await
    }

    async fn track_blob_in_use(&self, key: &BlobKey) -> Result<bool, StoreError> {
        let key = key.as_str().to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM track_versions WHERE blob_key = ?1)")?
                .query_row([key], |row| row.get(0))
        })
        .await
    }
}
