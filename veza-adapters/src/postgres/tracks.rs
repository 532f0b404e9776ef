//! Tracks on PostgreSQL. Edits lock the row (`FOR UPDATE`), apply the change and write it
//! back in one transaction, so concurrent edits of different fields serialise and all land.
//! Lists are keyset queries, one literal statement per sort; titles compare under the "C"
//! collation so the order is the same byte order SQLite uses. A search matches the
//! generated `search` tsvector (GIN-indexed) and ranks with `ts_rank`.

use async_trait::async_trait;
use sqlx::{FromRow, PgConnection, PgExecutor};
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

use super::jobs::enqueue_in;
use super::{PgStore, blob_keys, pg_error, wide};

macro_rules! track_columns {
    () => {
        "SELECT t.id, t.owner_id, u.username, u.display_name, t.title, t.description, t.genre, \
         t.tags, t.bpm, t.musical_key, t.visibility, t.downloadable, t.status, \
         t.failure_reason, t.duration_ms, t.sample_rate, t.channels, t.bitrate, t.codec, \
         t.size_bytes, t.blob_key, t.format, t.popularity, t.created_at, t.updated_at, \
         t.version, t.stream_status, t.hls_url, t.stream_error "
    };
}

macro_rules! track_from {
    () => {
        "FROM tracks t JOIN users u ON u.id = t.owner_id "
    };
}

/// The full-text score of a row (0 without a search); `$8` is the tsquery text.
macro_rules! score {
    () => {
        "COALESCE(ts_rank(t.search, to_tsquery('simple', $8))::float8, 0) "
    };
}

/// The filters every list shares: `$1` genre key, `$2` tag, `$3` owner, `$8` search. `$4`
/// is the cursor id, `$5` its popularity, `$6` its title key, `$7` its score, `$9` the
/// limit; each statement names the parameters it does not use once, so all nine have types.
macro_rules! listed {
    () => {
        concat!(
            track_columns!(),
            ", ",
            score!(),
            "AS score ",
            track_from!(),
            "WHERE t.status = 'ready' AND t.visibility = 'public' \
             AND ($1::text IS NULL OR t.genre_key = $1) \
             AND ($2::text IS NULL OR strpos(t.tags, ',' || $2 || ',') > 0) \
             AND ($3::uuid IS NULL OR t.owner_id = $3) \
             AND ($8::text IS NULL OR t.search @@ to_tsquery('simple', $8)) \
             AND $5::bigint IS NOT DISTINCT FROM $5 AND $6::text IS NOT DISTINCT FROM $6 \
             AND $7::float8 IS NOT DISTINCT FROM $7 "
        )
    };
}

const LIST_RECENT: &str =
    concat!(listed!(), "AND ($4::uuid IS NULL OR t.id < $4) ORDER BY t.id DESC LIMIT $9");
const LIST_POPULAR: &str = concat!(
    listed!(),
    "AND ($4::uuid IS NULL OR t.popularity < $5 OR (t.popularity = $5 AND t.id < $4)) \
     ORDER BY t.popularity DESC, t.id DESC LIMIT $9"
);
const LIST_TITLE: &str = concat!(
    listed!(),
    "AND ($4::uuid IS NULL OR t.title_key COLLATE \"C\" > $6 \
     OR (t.title_key = $6 AND t.id > $4)) \
     ORDER BY t.title_key COLLATE \"C\" ASC, t.id ASC LIMIT $9"
);
const LIST_RELEVANCE: &str = concat!(
    listed!(),
    "AND ($4::uuid IS NULL OR ",
    score!(),
    "< $7 OR (",
    score!(),
    "= $7 AND t.id < $4)) ORDER BY score DESC, t.id DESC LIMIT $9"
);

/// The tsquery for `terms`: every word as a prefix, all required (words hold only letters
/// and digits, so no tsquery operator reaches the database).
fn tsquery(terms: &SearchTerms) -> String {
    terms.words().iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ")
}

#[derive(FromRow)]
struct RankedRow {
    #[sqlx(flatten)]
    track: TrackRow,
    score: f64,
}

#[derive(FromRow)]
struct TrackRow {
    id: Uuid,
    owner_id: Uuid,
    username: String,
    display_name: String,
    title: String,
    description: Option<String>,
    genre: Option<String>,
    tags: String,
    bpm: Option<i32>,
    musical_key: Option<String>,
    visibility: String,
    downloadable: bool,
    status: String,
    failure_reason: Option<String>,
    duration_ms: Option<i64>,
    sample_rate: Option<i32>,
    channels: Option<i32>,
    bitrate: Option<i32>,
    codec: Option<String>,
    size_bytes: i64,
    blob_key: String,
    format: String,
    popularity: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    version: i64,
    stream_status: Option<String>,
    hls_url: Option<String>,
    stream_error: Option<String>,
}

fn unknown(what: &str) -> StoreError {
    StoreError::backend(format!("unknown {what} in the tracks table"))
}

fn narrow<T: TryFrom<i64>>(value: Option<i64>) -> Result<Option<T>, StoreError> {
    value.map(|v| T::try_from(v).map_err(|_| unknown("number"))).transpose()
}

impl TryFrom<TrackRow> for Track {
    type Error = StoreError;

    fn try_from(row: TrackRow) -> Result<Self, StoreError> {
        Ok(Track {
            id: row.id,
            owner: TrackOwner {
                id: row.owner_id,
                username: Username::from_trusted(row.username),
                display_name: DisplayName::from_trusted(row.display_name),
            },
            title: Title::from_trusted(row.title),
            description: row.description.map(Description::from_trusted),
            genre: row.genre.map(Genre::from_trusted),
            tags: Tags::from_stored(&row.tags),
            bpm: narrow::<u16>(row.bpm.map(i64::from))?.map(Bpm::from_trusted),
            key: row.musical_key.map(MusicalKey::from_trusted),
            visibility: Visibility::parse(&row.visibility).ok_or_else(|| unknown("visibility"))?,
            downloadable: row.downloadable,
            status: TrackStatus::parse(&row.status).ok_or_else(|| unknown("status"))?,
            failure_reason: row.failure_reason,
            facts: TrackFacts {
                duration_ms: narrow(row.duration_ms)?,
                sample_rate: narrow(row.sample_rate.map(i64::from))?,
                channels: narrow(row.channels.map(i64::from))?,
                bitrate: narrow(row.bitrate.map(i64::from))?,
                codec: row.codec,
            },
            size_bytes: u64::try_from(row.size_bytes).map_err(|_| unknown("size"))?,
            blob: BlobKey::parse(&row.blob_key).map_err(StoreError::backend)?,
            format: AudioFormat::from_extension(&row.format).ok_or_else(|| unknown("format"))?,
            popularity: row.popularity,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            stream: row
                .stream_status
                .map(|status| {
                    StreamState::from_stored(&status, row.hls_url, row.stream_error)
                        .ok_or_else(|| unknown("stream status"))
                })
                .transpose()?,
        })
    }
}

async fn track_by_id<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<Track>, StoreError> {
    sqlx::query_as::<_, TrackRow>(concat!(track_columns!(), track_from!(), "WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await
        .map_err(pg_error)?
        .map(Track::try_from)
        .transpose()
}

async fn insert(conn: &mut PgConnection, track: &NewTrack) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tracks (id, owner_id, title, title_key, description, genre, genre_key, \
         tags, bpm, musical_key, visibility, downloadable, status, size_bytes, blob_key, \
         format, created_at, updated_at, version, owner_name) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'processing', $13, $14, \
         $15, $16, $16, 1, u.username FROM users u WHERE u.id = $2",
    )
    .bind(track.id)
    .bind(track.owner_id)
    .bind(track.title.as_str())
    .bind(track.title.sort_key())
    .bind(track.description.as_ref().map(Description::as_str))
    .bind(track.genre.as_ref().map(Genre::as_str))
    .bind(track.genre.as_ref().map(Genre::key))
    .bind(track.tags.to_stored())
    .bind(track.bpm.map(|b| i32::from(b.get())))
    .bind(track.key.as_ref().map(MusicalKey::as_str))
    .bind(track.visibility.as_str())
    .bind(track.downloadable)
    .bind(wide(track.size_bytes)?)
    .bind(track.blob.as_str())
    .bind(track.format.extension())
    .bind(track.created_at)
    .execute(&mut *conn)
    .await
    .map_err(pg_error)?;
    insert_version(conn, &track.first_version(), 1).await.map(drop)
}

macro_rules! version_columns {
    () => {
        "id, track_id, number, blob_key, format, size_bytes, created_at"
    };
}

#[derive(FromRow)]
struct VersionRow {
    id: Uuid,
    track_id: Uuid,
    number: i32,
    blob_key: String,
    format: String,
    size_bytes: i64,
    created_at: OffsetDateTime,
}

impl TryFrom<VersionRow> for TrackVersion {
    type Error = StoreError;

    fn try_from(row: VersionRow) -> Result<Self, StoreError> {
        Ok(TrackVersion {
            id: row.id,
            track_id: row.track_id,
            number: u32::try_from(row.number).map_err(|_| unknown("version number"))?,
            blob: BlobKey::parse(&row.blob_key).map_err(StoreError::backend)?,
            format: AudioFormat::from_extension(&row.format).ok_or_else(|| unknown("format"))?,
            size_bytes: u64::try_from(row.size_bytes).map_err(|_| unknown("size"))?,
            created_at: row.created_at,
        })
    }
}

async fn insert_version(
    conn: &mut PgConnection,
    version: &NewTrackVersion,
    number: u32,
) -> Result<TrackVersion, StoreError> {
    sqlx::query_as::<_, VersionRow>(concat!(
        "INSERT INTO track_versions (",
        version_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        version_columns!()
    ))
    .bind(version.id)
    .bind(version.track_id)
    .bind(i32::try_from(number).map_err(StoreError::backend)?)
    .bind(version.blob.as_str())
    .bind(version.format.extension())
    .bind(wide(version.size_bytes)?)
    .bind(version.created_at)
    .fetch_one(conn)
    .await
    .map_err(pg_error)?
    .try_into()
}

/// The distinct originals of the versions of the tracks whose `$column` is `$1`.
macro_rules! version_blob_keys {
    ($column:literal) => {
        concat!(
            "SELECT DISTINCT v.blob_key FROM track_versions v \
             JOIN tracks t ON t.id = v.track_id WHERE ",
            $column,
            " = $1 ORDER BY v.blob_key"
        )
    };
}

async fn version_blob_keys(
    store: &PgStore,
    sql: &'static str,
    id: Uuid,
) -> Result<Vec<BlobKey>, StoreError> {
    let keys: Vec<String> =
        sqlx::query_scalar(sql).bind(id).fetch_all(store.pool()).await.map_err(pg_error)?;
    blob_keys(&keys)
}

#[async_trait]
impl TrackStore for PgStore {
    async fn insert_track(&self, track: &NewTrack, job: &NewJob) -> Result<Track, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        insert(&mut tx, track).await?;
        enqueue_in(&mut *tx, job).await?;
        let inserted = track_by_id(&mut *tx, track.id)
            .await?
            .ok_or_else(|| StoreError::backend("inserted track vanished"))?;
        tx.commit().await.map_err(pg_error)?;
        Ok(inserted)
    }

    async fn track_by_id(&self, id: Uuid) -> Result<Option<Track>, StoreError> {
        track_by_id(self.pool(), id).await
    }

    async fn list_tracks(&self, query: &TrackQuery) -> Result<Vec<RankedTrack>, StoreError> {
        let sql = match query.sort {
            TrackSort::Recent => LIST_RECENT,
            TrackSort::Popular => LIST_POPULAR,
            TrackSort::Title => LIST_TITLE,
            TrackSort::Relevance => LIST_RELEVANCE,
        };
        let (popularity, title_key, score) = match &query.after {
            Some(TrackCursor::Popular { popularity, .. }) => (Some(*popularity), None, None),
            Some(TrackCursor::Title { title_key, .. }) => (None, Some(title_key.clone()), None),
            Some(TrackCursor::Relevance { score, .. }) => (None, None, Some(*score)),
            _ => (None, None, None),
        };
        sqlx::query_as::<_, RankedRow>(sql)
            .bind(query.genre.as_deref().map(str::to_lowercase))
            .bind(query.tag.as_deref())
            .bind(query.owner)
            .bind(query.after.as_ref().map(TrackCursor::id))
            .bind(popularity)
            .bind(title_key)
            .bind(score)
            .bind(query.q.as_ref().map(tsquery))
            .bind(i64::from(query.fetch_limit))
            .fetch_all(self.pool())
            .await
            .map_err(pg_error)?
            .into_iter()
            .map(|row| Ok(RankedTrack { track: Track::try_from(row.track)?, score: row.score }))
            .collect()
    }

    async fn update_track(
        &self,
        id: Uuid,
        changes: &TrackChanges,
        now: OffsetDateTime,
    ) -> Result<Option<Track>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        // Read and locked in one statement: concurrent edits apply one after the other.
        let locked = sqlx::query_as::<_, TrackRow>(concat!(
            track_columns!(),
            track_from!(),
            "WHERE t.id = $1 FOR UPDATE OF t"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(pg_error)?;
        let Some(mut track) = locked.map(Track::try_from).transpose()? else { return Ok(None) };
        changes.apply_to(&mut track);
        sqlx::query(
            "UPDATE tracks SET title = $2, title_key = $3, description = $4, genre = $5, \
             genre_key = $6, tags = $7, bpm = $8, musical_key = $9, visibility = $10, \
             downloadable = $11, updated_at = $12, version = version + 1 WHERE id = $1",
        )
        .bind(id)
        .bind(track.title.as_str())
        .bind(track.title.sort_key())
        .bind(track.description.as_ref().map(Description::as_str))
        .bind(track.genre.as_ref().map(Genre::as_str))
        .bind(track.genre.as_ref().map(Genre::key))
        .bind(track.tags.to_stored())
        .bind(track.bpm.map(|b| i32::from(b.get())))
        .bind(track.key.as_ref().map(MusicalKey::as_str))
        .bind(track.visibility.as_str())
        .bind(track.downloadable)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
        let updated = track_by_id(&mut *tx, id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(updated)
    }

    async fn mark_track_ready(
        &self,
        id: Uuid,
        blob: &BlobKey,
        analysis: &AudioAnalysis,
        then: Option<&NewJob>,
        now: OffsetDateTime,
    ) -> Result<Option<Track>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        let changed = sqlx::query(
            "UPDATE tracks SET status = 'ready', failure_reason = NULL, duration_ms = $2, \
             sample_rate = $3, channels = $4, bitrate = $5, codec = $6, peaks = $7, \
             samples_per_peak = $8, updated_at = $9, stream_status = NULL, hls_url = NULL, \
             stream_error = NULL, version = version + 1 WHERE id = $1 AND blob_key = $10",
        )
        .bind(id)
        .bind(wide(analysis.duration_ms)?)
        .bind(i32::try_from(analysis.sample_rate).map_err(StoreError::backend)?)
        .bind(i32::from(analysis.channels))
        .bind(analysis.bitrate.map(i32::try_from).transpose().map_err(StoreError::backend)?)
        .bind(&analysis.codec)
        .bind(Waveform::of(analysis).peaks_to_bytes())
        .bind(wide(analysis.samples_per_peak)?)
        .bind(now)
        .bind(blob.as_str())
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        if let Some(job) = then {
            enqueue_in(&mut *tx, job).await?;
        }
        let track = track_by_id(&mut *tx, id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(track)
    }

    async fn record_stream_state(
        &self,
        id: Uuid,
        state: &StreamState,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE tracks SET stream_status = $2, hls_url = $3, stream_error = $4, \
             updated_at = $5, version = version + 1 WHERE id = $1",
        )
        .bind(id)
        .bind(state.status())
        .bind(state.hls_url().map(|u| u.as_str()))
        .bind(state.error())
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(pg_error)?
        .rows_affected();
        Ok(changed > 0)
    }

    async fn mark_track_failed(
        &self,
        id: Uuid,
        blob: &BlobKey,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Track>, StoreError> {
        let changed = sqlx::query(
            "UPDATE tracks SET status = 'failed', failure_reason = $2, duration_ms = NULL, \
             sample_rate = NULL, channels = NULL, bitrate = NULL, codec = NULL, peaks = NULL, \
             samples_per_peak = NULL, updated_at = $3, version = version + 1 \
             WHERE id = $1 AND blob_key = $4",
        )
        .bind(id)
        .bind(reason)
        .bind(now)
        .bind(blob.as_str())
        .execute(self.pool())
        .await
        .map_err(pg_error)?
        .rows_affected();
        if changed == 0 { Ok(None) } else { track_by_id(self.pool(), id).await }
    }

    async fn track_waveform(&self, id: Uuid) -> Result<Option<Waveform>, StoreError> {
        let row: Option<(Vec<u8>, i64)> = sqlx::query_as(
            "SELECT peaks, samples_per_peak FROM tracks \
             WHERE id = $1 AND status = 'ready' AND peaks IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(pg_error)?;
        row.map(|(peaks, per_peak)| {
            Ok(Waveform {
                peaks: Waveform::peaks_from_bytes(&peaks),
                samples_per_peak: u64::try_from(per_peak).map_err(|_| unknown("samples"))?,
            })
        })
        .transpose()
    }

    async fn add_track_version(
        &self,
        version: &NewTrackVersion,
        job: &NewJob,
        now: OffsetDateTime,
    ) -> Result<Option<TrackVersion>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        // The update locks the track row: concurrent adds to one track take numbers in turn.
        let changed = sqlx::query(
            "UPDATE tracks SET blob_key = $2, format = $3, size_bytes = $4, \
             status = 'processing', failure_reason = NULL, duration_ms = NULL, \
             sample_rate = NULL, channels = NULL, bitrate = NULL, codec = NULL, peaks = NULL, \
             samples_per_peak = NULL, updated_at = $5, stream_status = NULL, hls_url = NULL, \
             stream_error = NULL, version = version + 1 WHERE id = $1",
        )
        .bind(version.track_id)
        .bind(version.blob.as_str())
        .bind(version.format.extension())
        .bind(wide(version.size_bytes)?)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        let number: i32 = sqlx::query_scalar(
            "SELECT coalesce(max(number), 0) + 1 FROM track_versions WHERE track_id = $1",
        )
        .bind(version.track_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(pg_error)?;
        let number = u32::try_from(number).map_err(|_| unknown("version number"))?;
        let added = insert_version(&mut tx, version, number).await?;
        enqueue_in(&mut *tx, job).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(Some(added))
    }

    async fn track_versions(
        &self,
        track_id: Uuid,
        page: PageRequest,
    ) -> Result<Vec<TrackVersion>, StoreError> {
        sqlx::query_as::<_, VersionRow>(concat!(
            "SELECT ",
            version_columns!(),
            " FROM track_versions WHERE track_id = $1 AND ($2::uuid IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(track_id)
        .bind(page.after)
        .bind(i64::from(page.fetch_limit()))
        .fetch_all(self.pool())
        .await
        .map_err(pg_error)?
        .into_iter()
        .map(TrackVersion::try_from)
        .collect()
    }

    async fn track_version(
        &self,
        track_id: Uuid,
        number: u32,
    ) -> Result<Option<TrackVersion>, StoreError> {
        let Ok(number) = i32::try_from(number) else { return Ok(None) };
        sqlx::query_as::<_, VersionRow>(concat!(
            "SELECT ",
            version_columns!(),
            " FROM track_versions WHERE track_id = $1 AND number = $2"
        ))
        .bind(track_id)
        .bind(number)
        .fetch_optional(self.pool())
        .await
        .map_err(pg_error)?
        .map(TrackVersion::try_from)
        .transpose()
    }

    async fn delete_track(&self, id: Uuid, jobs: &[NewJob]) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await.map_err(pg_error)?;
        let deleted = sqlx::query("DELETE FROM tracks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?
            .rows_affected();
        if deleted > 0 {
            for job in jobs {
                enqueue_in(&mut *tx, job).await?;
            }
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(deleted > 0)
    }

    async fn owner_blob_keys(&self, owner_id: Uuid) -> Result<Vec<BlobKey>, StoreError> {
        version_blob_keys(self, version_blob_keys!("t.owner_id"), owner_id).await
    }

    async fn track_blob_keys(&self, track_id: Uuid) -> Result<Vec<BlobKey>, StoreError> {
        version_blob_keys(self, version_blob_keys!("t.id"), track_id).await
    }

    async fn track_blob_in_use(&self, key: &BlobKey) -> Result<bool, StoreError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM track_versions WHERE blob_key = $1)")
            .bind(key.as_str())
            .fetch_one(self.pool())
            .await
            .map_err(pg_error)
    }
}
