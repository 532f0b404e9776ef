use crate::names::named_enum;
use time::OffsetDateTime;
use uuid::Uuid;

use super::TrackCursor;
use crate::auth::FieldError;
use crate::blobs::BlobKey;
use crate::media::{AudioAnalysis, AudioFormat};
use crate::users::{DisplayName, Username};
use crate::web_address;

/// `likes_count`, `plays_count` and `comments_count` of every track until likes, plays and
/// comments exist.
pub const COUNTS_BEFORE_ENGAGEMENT: u64 = 0;

named_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Visibility {
        /// Listed and visible to anyone.
        Public => "public",
        /// Visible to anyone holding the id, never listed.
        Unlisted => "unlisted",
        /// Visible to its owner (and admins) only.
        Private => "private",
    }
}

named_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum TrackStatus {
        Processing => "processing",
        Ready => "ready",
        Failed => "failed",
    }
}

named_enum! {
    /// The order of a track list. Every order ends on the id, so keyset pages are total.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub enum TrackSort {
        /// Newest first.
        #[default]
        Recent => "recent",
        /// Highest popularity first (likes and plays once they exist), newest first among equals.
        Popular => "popular",
        /// By case-folded title, A to Z, oldest first among equals.
        Title => "title",
        /// Best full-text match first, newest first among equals; only with a search.
        Relevance => "relevance",
    }
}

/// Trimmed text of `min..=max` characters without control characters (line breaks allowed
/// when `multiline`).
fn text(field: &'static str, raw: &str, max: usize, multiline: bool) -> Result<String, FieldError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal, $multiline:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub const MAX: usize = $max;

            /// # Errors
            /// A `FieldError` saying which rule the value breaks.
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                text($field, raw, $max, $multiline).map(Self)
            }

            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_value!(
    /// 1–200 characters on one line.
    Title, "title", 200, false
);
text_value!(
    /// Up to 5000 characters, line breaks allowed.
    Description, "description", 5000, true
);
text_value!(
    /// A free genre name (`techno`, `lo-fi hip hop`): up to 50 characters.
    Genre, "genre", 50, false
);
text_value!(
    /// A musical key as musicians write it (`C#m`, `F major`, `8A`): up to 12 characters.
    MusicalKey, "key", 12, false
);

impl Title {
    /// The case-folded form titles sort by.
    pub fn sort_key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl Genre {
    /// The case-folded form a genre filter matches (`genre=techno` finds `Techno`).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// Up to 20 distinct tags of at most 50 characters each, lower-cased, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<String>);

impl Tags {
    pub const MAX_TAGS: usize = 20;
    pub const MAX_LEN: usize = 50;

    /// Parses comma-separated input (`"Techno, dark ,techno"` → `["techno", "dark"]`);
    /// empty items are skipped, repeats kept once.
    ///
    /// # Errors
    /// A `FieldError` on `tags` naming the broken rule.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::from_items([raw])
    }

    /// As `parse`, from items already split (a JSON array). An item holding commas is split
    /// too, as `parse` would: a comma is the stored form's separator, never part of a tag.
    /// Refused at the first tag past `MAX_TAGS`, so a huge list costs no more than 21 tags.
    ///
    /// # Errors
    /// A `FieldError` on `tags` naming the broken rule.
    pub fn from_items<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, FieldError> {
        let mut tags: Vec<String> = Vec::new();
        for item in items.into_iter().flat_map(|item| item.split(',')) {
            let tag = item.trim().to_lowercase();
            if tag.is_empty() || tags.contains(&tag) {
                continue;
            }
            if tags.len() == Self::MAX_TAGS {
                return Err(FieldError::new("tags", format!("at most {} tags", Self::MAX_TAGS)));
            }
            if tag.chars().count() > Self::MAX_LEN {
                return Err(FieldError::new(
                    "tags",
                    format!("each tag must be at most {} characters", Self::MAX_LEN),
                ));
            }
            if tag.chars().any(char::is_control) {
                return Err(FieldError::new("tags", "must not contain control characters"));
            }
            tags.push(tag);
        }
        Ok(Self(tags))
    }

    pub fn from_trusted(tags: Vec<String>) -> Self {
        Self(tags)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The stored form: `,tag1,tag2,` (bounded by commas so `LIKE '%,tag,%'` matches whole
    /// tags; commas never occur inside a tag).
    pub fn to_stored(&self) -> String {
        if self.0.is_empty() { String::new() } else { format!(",{},", self.0.join(",")) }
    }

    pub fn from_stored(stored: &str) -> Self {
        Self(stored.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect())
    }
}

/// Beats per minute, 20–300.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bpm(u16);

impl Bpm {
    pub const MIN: i64 = 20;
    pub const MAX: i64 = 300;

    /// # Errors
    /// A `FieldError` on `bpm` outside 20–300.
    pub fn new(value: i64) -> Result<Self, FieldError> {
        if (Self::MIN..=Self::MAX).contains(&value) {
            Ok(Self(value as u16))
        } else {
            Err(FieldError::new("bpm", format!("must be between {} and {}", Self::MIN, Self::MAX)))
        }
    }

    pub fn from_trusted(value: u16) -> Self {
        Self(value)
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// Who uploaded a track, as lists and pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackOwner {
    pub id: Uuid,
    pub username: Username,
    pub display_name: DisplayName,
}

/// What processing measured; all `None` until the track is ready.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackFacts {
    pub duration_ms: Option<u64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub bitrate: Option<u32>,
    pub codec: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub id: Uuid,
    pub owner: TrackOwner,
    pub title: Title,
    pub description: Option<Description>,
    pub genre: Option<Genre>,
    pub tags: Tags,
    pub bpm: Option<Bpm>,
    pub key: Option<MusicalKey>,
    pub visibility: Visibility,
    pub downloadable: bool,
    pub status: TrackStatus,
    pub failure_reason: Option<String>,
    pub facts: TrackFacts,
    pub size_bytes: u64,
    /// The stored original.
    pub blob: BlobKey,
    pub format: AudioFormat,
    /// Likes and plays once they exist; orders `sort=popular`.
    pub popularity: i64,
    /// What the stream server last reported about its HLS packaging; `None` until it did.
    pub stream: Option<StreamState>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Bumped by every change, from 1.
    pub version: i64,
}

/// The stream server's report on a track's HLS packaging, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    /// Packaged; players fetch the playlist at `hls_url`.
    Ready { hls_url: HlsUrl },
    /// Packaging failed, with the stream server's reason if it gave one.
    Failed { error: Option<String> },
}

impl StreamState {
    /// Longest failure reason kept; a longer one is cut (it is the stream server's text).
    pub const MAX_ERROR_CHARS: usize = 1000;

    /// Parses a report as the stream server sent it: `ready` with an `hls_url`, or `failed`
    /// with an optional `error` (cut to `MAX_ERROR_CHARS`).
    ///
    /// # Errors
    /// `FieldError`s for an unknown status, a missing or bad `hls_url`, or a field that does
    /// not belong to the status.
    pub fn parse(
        status: &str,
        hls_url: Option<&str>,
        error: Option<&str>,
    ) -> Result<Self, Vec<FieldError>> {
        match status {
            "ready" => {
                let mut errors = Vec::new();
                let url = match hls_url {
                    None => Err(FieldError::new("hls_url", "is required when status is ready")),
                    Some(raw) => HlsUrl::parse(raw),
                };
                let url = url.map_err(|e| errors.push(e)).ok();
                if error.is_some() {
                    errors.push(FieldError::new("error", "only goes with status failed"));
                }
                match url {
                    Some(hls_url) if errors.is_empty() => Ok(StreamState::Ready { hls_url }),
                    _ => Err(errors),
                }
            }
            "failed" => {
                if hls_url.is_some() {
                    return Err(vec![FieldError::new("hls_url", "only goes with status ready")]);
                }
                let error = error
                    .map(|e| e.trim().chars().take(Self::MAX_ERROR_CHARS).collect::<String>())
                    .filter(|e| !e.is_empty());
                Ok(StreamState::Failed { error })
            }
            _ => Err(vec![FieldError::new("status", "must be ready or failed")]),
        }
    }

    /// `ready` or `failed`, as stored.
    pub fn status(&self) -> &'static str {
        match self {
            StreamState::Ready { .. } => "ready",
            StreamState::Failed { .. } => "failed",
        }
    }

    pub fn hls_url(&self) -> Option<&HlsUrl> {
        match self {
            StreamState::Ready { hls_url } => Some(hls_url),
            StreamState::Failed { .. } => None,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            StreamState::Ready { .. } => None,
            StreamState::Failed { error } => error.as_deref(),
        }
    }

    /// Rebuilds a stored state; `None` for a status this build does not know.
    pub fn from_stored(
        status: &str,
        hls_url: Option<String>,
        error: Option<String>,
    ) -> Option<Self> {
        match (status, hls_url) {
            ("ready", Some(url)) => Some(StreamState::Ready { hls_url: HlsUrl(url) }),
            ("failed", _) => Some(StreamState::Failed { error }),
            _ => None,
        }
    }
}

/// Where a packaged track's HLS playlist is: an absolute http(s) URL without credentials, at
/// most 2048 characters. Clients are handed it as is, so nothing else gets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsUrl(String);

impl HlsUrl {
    pub const MAX: usize = 2048;

    /// # Errors
    /// A `FieldError` on `hls_url`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.chars().count() > Self::MAX {
            return Err(FieldError::new(
                "hls_url",
                format!("must be at most {} characters", Self::MAX),
            ));
        }
        web_address::check("hls_url", value, "must be an absolute http:// or https:// URL")?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A full-text search: up to `MAX_WORDS` lower-cased words of letters and digits, every one
/// of which must start a word of the track's title, owner, tags or description. Anything
/// else in the input separates words, so no query syntax of either database reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms(Vec<String>);

impl SearchTerms {
    pub const MAX_WORDS: usize = 8;
    pub const MAX_WORD_LEN: usize = 50;

    /// `None` when the input holds no word (an empty search filters nothing).
    pub fn parse(raw: &str) -> Option<Self> {
        let words: Vec<String> = raw
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| w.to_lowercase().chars().take(Self::MAX_WORD_LEN).collect())
            .take(Self::MAX_WORDS)
            .collect();
        if words.is_empty() { None } else { Some(Self(words)) }
    }

    pub fn words(&self) -> &[String] {
        &self.0
    }
}

impl Track {
    /// Where this track sits in a list ordered by `sort`; `relevance` is the full-text score
    /// the store reported with the row (ignored by other sorts).
    pub fn cursor(&self, sort: TrackSort, relevance: f64) -> TrackCursor {
        match sort {
            TrackSort::Relevance => TrackCursor::Relevance { score: relevance, id: self.id },
            TrackSort::Recent => TrackCursor::Recent { id: self.id },
            TrackSort::Popular => TrackCursor::Popular { popularity: self.popularity, id: self.id },
            TrackSort::Title => {
                TrackCursor::Title { title_key: self.title.sort_key(), id: self.id }
            }
        }
    }
}

/// A track to insert, in `processing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrack {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub title: Title,
    pub description: Option<Description>,
    pub genre: Option<Genre>,
    pub tags: Tags,
    pub bpm: Option<Bpm>,
    pub key: Option<MusicalKey>,
    pub visibility: Visibility,
    pub downloadable: bool,
    pub size_bytes: u64,
    pub blob: BlobKey,
    pub format: AudioFormat,
    pub created_at: OffsetDateTime,
}

impl NewTrack {
    /// Version 1: the track's first original, under the track's own id.
    pub fn first_version(&self) -> NewTrackVersion {
        NewTrackVersion {
            id: self.id,
            track_id: self.id,
            blob: self.blob.clone(),
            format: self.format,
            size_bytes: self.size_bytes,
            created_at: self.created_at,
        }
    }
}

/// One stored original of a track. The first is recorded with the track (its id is the
/// track's); each upload to `/versions` adds the next number and becomes the one served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackVersion {
    pub id: Uuid,
    pub track_id: Uuid,
    /// 1, 2, … in upload order.
    pub number: u32,
    pub blob: BlobKey,
    pub format: AudioFormat,
    pub size_bytes: u64,
    pub created_at: OffsetDateTime,
}

/// A version to add; the store numbers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrackVersion {
    pub id: Uuid,
    pub track_id: Uuid,
    pub blob: BlobKey,
    pub format: AudioFormat,
    pub size_bytes: u64,
    pub created_at: OffsetDateTime,
}

/// A metadata edit as the client sent it: `None` leaves a field alone, `Some(None)` clears an
/// optional one. Values are raw and parsed by the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackPatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub genre: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub bpm: Option<Option<i64>>,
    pub key: Option<Option<String>>,
    pub visibility: Option<String>,
    pub downloadable: Option<bool>,
}

/// A validated metadata edit: the store writes the `Some` fields and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackChanges {
    pub title: Option<Title>,
    pub description: Option<Option<Description>>,
    pub genre: Option<Option<Genre>>,
    pub tags: Option<Tags>,
    pub bpm: Option<Option<Bpm>>,
    pub key: Option<Option<MusicalKey>>,
    pub visibility: Option<Visibility>,
    pub downloadable: Option<bool>,
}

impl TrackChanges {
    /// Writes the `Some` fields into `track` (stores apply an edit to the row they locked).
    pub fn apply_to(&self, track: &mut Track) {
        if let Some(title) = &self.title {
            track.title = title.clone();
        }
        if let Some(description) = &self.description {
            track.description = description.clone();
        }
        if let Some(genre) = &self.genre {
            track.genre = genre.clone();
        }
        if let Some(tags) = &self.tags {
            track.tags = tags.clone();
        }
        if let Some(bpm) = self.bpm {
            track.bpm = bpm;
        }
        if let Some(key) = &self.key {
            track.key = key.clone();
        }
        if let Some(visibility) = self.visibility {
            track.visibility = visibility;
        }
        if let Some(downloadable) = self.downloadable {
            track.downloadable = downloadable;
        }
    }
}

/// What a list asks the store for. Lists hold public ready tracks only.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackQuery {
    /// Full-text search; required by `TrackSort::Relevance`.
    pub q: Option<SearchTerms>,
    /// Exact genre, without case.
    pub genre: Option<String>,
    /// One tag (lower-cased).
    pub tag: Option<String>,
    pub owner: Option<Uuid>,
    pub sort: TrackSort,
    /// Strictly after this position; its sort matches `sort`.
    pub after: Option<TrackCursor>,
    /// Rows to fetch: the page size plus one.
    pub fetch_limit: u32,
}

/// A listed track with its full-text score (higher is better; 0 without a search).
#[derive(Debug, Clone, PartialEq)]
pub struct RankedTrack {
    pub track: Track,
    pub score: f64,
}

impl RankedTrack {
    pub fn cursor(&self, sort: TrackSort) -> TrackCursor {
        self.track.cursor(sort, self.score)
    }
}

/// Peak amplitudes (0.0–1.0), one per run of `samples_per_peak` frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    pub peaks: Vec<f32>,
    pub samples_per_peak: u64,
}

impl Waveform {
    pub fn of(analysis: &AudioAnalysis) -> Self {
        Self { peaks: analysis.peaks.clone(), samples_per_peak: analysis.samples_per_peak }
    }

    /// Peaks as little-endian `f32`s, the stored form (compact, exact).
    pub fn peaks_to_bytes(&self) -> Vec<u8> {
        self.peaks.iter().flat_map(|p| p.to_le_bytes()).collect()
    }

    pub fn peaks_from_bytes(bytes: &[u8]) -> Vec<f32> {
        bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  Night Drive ").unwrap().as_str(), "Night Drive");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"a".repeat(200)).is_ok());
        assert!(Title::parse(&"a".repeat(201)).is_err());
        assert!(Title::parse("a\nb").is_err());
        assert!(Description::parse("line one\nline two").is_ok());
    }

    #[test]
    fn tags_are_lower_cased_deduplicated_and_bounded() {
        let tags = Tags::parse("Techno, dark ,,techno").unwrap();
        assert_eq!(tags.as_slice(), ["techno", "dark"]);
        assert_eq!(Tags::from_stored(&tags.to_stored()), tags);
        assert_eq!(Tags::parse("").unwrap(), Tags::default());
        assert_eq!(Tags::default().to_stored(), "");
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Tags::parse(&many.join(",")).is_err());
        assert!(Tags::parse(&many[..20].join(",")).is_ok());
        assert!(Tags::parse(&"x".repeat(51)).is_err());
    }

    #[test]
    fn array_items_holding_commas_are_split_and_still_bounded() {
        let tags = Tags::from_items(["a,b", "B, c"]).unwrap();
        assert_eq!(tags.as_slice(), ["a", "b", "c"]);
        assert_eq!(Tags::from_stored(&tags.to_stored()), tags, "stored and read back alike");
        let packed: Vec<String> = (0..20).map(|i| format!("t{i}a,t{i}b")).collect::<Vec<_>>();
        assert!(Tags::from_items(packed.iter().map(String::as_str)).is_err(), "40 tags in 20");
        let huge: Vec<String> = (0..200_000).map(|i| format!("t{i}")).collect();
        let refused = Tags::from_items(huge.iter().map(String::as_str)).unwrap_err();
        assert_eq!(refused.message, "at most 20 tags");
    }

    #[test]
    fn bpm_is_between_20_and_300() {
        assert!(Bpm::new(19).is_err());
        assert_eq!(Bpm::new(20).unwrap().get(), 20);
        assert_eq!(Bpm::new(300).unwrap().get(), 300);
        assert!(Bpm::new(301).is_err());
    }

    #[test]
    fn peaks_round_trip_through_bytes() {
        let waveform = Waveform { peaks: vec![0.0, 0.5, 1.0], samples_per_peak: 10 };
        assert_eq!(Waveform::peaks_from_bytes(&waveform.peaks_to_bytes()), waveform.peaks);
    }

    #[test]
    fn names_round_trip() {
        for v in Visibility::ALL {
            assert_eq!(Visibility::parse(v.as_str()), Some(v));
        }
        for s in TrackStatus::ALL {
            assert_eq!(TrackStatus::parse(s.as_str()), Some(s));
        }
        for s in TrackSort::ALL {
            assert_eq!(TrackSort::parse(s.as_str()), Some(s));
        }
        assert_eq!(TrackSort::parse("random"), None);
    }

    #[test]
    fn stream_reports_need_the_fields_of_their_status() {
        let ready = StreamState::parse("ready", Some("https://cdn.example/t/1.m3u8"), None);
        assert_eq!(ready.unwrap().hls_url().unwrap().as_str(), "https://cdn.example/t/1.m3u8");
        let failed = StreamState::parse("failed", None, Some(" codec unsupported ")).unwrap();
        assert_eq!(failed.error(), Some("codec unsupported"));
        assert_eq!(StreamState::parse("failed", None, None).unwrap().error(), None);
        let long = "x".repeat(5000);
        let cut = StreamState::parse("failed", None, Some(&long)).unwrap();
        assert_eq!(cut.error().unwrap().len(), StreamState::MAX_ERROR_CHARS);
        let field = |r: Result<StreamState, Vec<FieldError>>| r.unwrap_err()[0].field;
        assert_eq!(field(StreamState::parse("done", None, None)), "status");
        assert_eq!(field(StreamState::parse("ready", None, None)), "hls_url");
        for bad in
            ["ftp://h/x.m3u8", "/relative.m3u8", "https://u:p@h/x.m3u8", "javascript:alert(1)"]
        {
            assert_eq!(field(StreamState::parse("ready", Some(bad), None)), "hls_url", "{bad}");
        }
        assert_eq!(field(StreamState::parse("ready", Some("https://h/x"), Some("e"))), "error");
        assert_eq!(field(StreamState::parse("failed", Some("https://h/x"), None)), "hls_url");
        for state in [ready_state(), failed] {
            let stored = StreamState::from_stored(
                state.status(),
                state.hls_url().map(|u| u.as_str().to_owned()),
                state.error().map(str::to_owned),
            );
            assert_eq!(stored, Some(state));
        }
    }

    fn ready_state() -> StreamState {
        StreamState::parse("ready", Some("http://127.0.0.1:9/x.m3u8"), None).unwrap()
    }

    #[test]
    fn search_terms_keep_only_words() {
        let terms = SearchTerms::parse(r#"Night "drive" OR -x* NEAR(a b) über"#).unwrap();
        assert_eq!(terms.words(), ["night", "drive", "or", "x", "near", "a", "b", "über"]);
        assert_eq!(SearchTerms::parse(" \"*()- "), None);
        assert_eq!(SearchTerms::parse(&"w ".repeat(20)).unwrap().words().len(), 8);
    }
}
