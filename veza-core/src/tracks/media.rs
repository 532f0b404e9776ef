//! Serving a track's audio: who may stream it, who may download it, and what an edge needs to
//! answer (the format, a strong validator, a file name). The checks run before any blob I/O;
//! the blob is opened only once the edge knows which bytes it will send, so a `304` costs no
//! read and a `HEAD` no open body.

use std::sync::Arc;
use uuid::Uuid;

use super::{Track, TrackStatus, TracksError, Visibility};
use crate::auth::Principal;
use crate::blobs::{BlobError, BlobKey, BlobMeta, BlobRead, BlobStore, ByteRange};
use crate::media::AudioFormat;

/// What the caller asked for: listening (`stream`) or the original as a file (`download`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaUse {
    Stream,
    Download,
}

/// A track's original the caller may read, not opened yet.
#[derive(Clone)]
pub struct TrackMedia {
    blobs: Arc<dyn BlobStore>,
    key: BlobKey,
    pub track_id: Uuid,
    pub format: AudioFormat,
    /// Strong validator, quoted (`"<sha256>"`): the key is the content's hash, so the same
    /// bytes always carry the same tag and different bytes never do.
    pub etag: String,
    /// The title as a file name with the format's extension, safe to save as is: no path
    /// separators, quotes or control characters, never hidden or empty.
    pub file_name: String,
    /// Whether shared caches may keep it: a ready public track served to anyone alike.
    pub shared: bool,
}

impl std::fmt::Debug for TrackMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackMedia")
            .field("key", &self.key)
            .field("track_id", &self.track_id)
            .field("format", &self.format)
            .field("etag", &self.etag)
            .field("file_name", &self.file_name)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

fn blob_error(err: BlobError) -> TracksError {
    match err {
        // The row exists but its bytes are gone (deleted under us): nothing to serve.
        BlobError::NotFound => TracksError::NotFound,
        BlobError::RangeNotSatisfiable { size } => TracksError::RangeNotSatisfiable { size },
        other => TracksError::Blob(other),
    }
}

impl TrackMedia {
    pub(super) fn new(blobs: Arc<dyn BlobStore>, track: &Track, shared: bool) -> Self {
        Self {
            blobs,
            etag: format!("\"{}\"", track.blob.file_stem()),
            key: track.blob.clone(),
            track_id: track.id,
            format: track.format,
            file_name: file_name(track.title.as_str(), track.format),
            shared,
        }
    }

    /// An older version of `track`, as the owner downloads it: `title (version N).ext`,
    /// never shared by caches.
    pub(super) fn of_version(
        blobs: Arc<dyn BlobStore>,
        track: &Track,
        version: &super::TrackVersion,
    ) -> Self {
        let title = format!("{} (version {})", track.title.as_str(), version.number);
        Self {
            blobs,
            etag: format!("\"{}\"", version.blob.file_stem()),
            key: version.blob.clone(),
            track_id: track.id,
            format: version.format,
            file_name: file_name(&title, version.format),
            shared: false,
        }
    }

    /// The stored original's size and modification time, without opening it.
    ///
    /// # Errors
    /// `NotFound` if the bytes are gone, `Blob` if the store fails.
    pub async fn head(&self) -> Result<BlobMeta, TracksError> {
        self.blobs.head(&self.key).await.map_err(blob_error)?.ok_or(TracksError::NotFound)
    }

    /// Opens the original, or the part `range` names.
    ///
    /// # Errors
    /// `RangeNotSatisfiable` with the size when `range` names no byte of it, `NotFound` if the
    /// bytes are gone, `Blob` if the store fails.
    pub async fn open(&self, range: Option<ByteRange>) -> Result<BlobRead, TracksError> {
        self.blobs.get(&self.key, range).await.map_err(blob_error)
    }
}

/// Longest file name offered, in characters, extension included; file systems stop at 255
/// bytes, and a long title is still recognisable cut.
const MAX_FILE_NAME_CHARS: usize = 100;

/// `title.ext` with everything a file name must not carry replaced: path separators (so
/// `../../etc/passwd` names a file, not a place), quotes, control and other invisible
/// characters, and characters Windows refuses. Leading dots and spaces go too (no hidden
/// files, no `..`).
pub fn file_name(title: &str, format: AudioFormat) -> String {
    let cleaned: String = title
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() || is_invisible(c) => '_',
            c => c,
        })
        .collect();
    let ext = format.extension();
    let stem: String = cleaned
        .trim_start_matches(['.', ' ', '_'])
        .chars()
        .take(MAX_FILE_NAME_CHARS - ext.len() - 1)
        .collect();
    let stem = stem.trim_end_matches(['.', ' ']);
    if stem.is_empty() { format!("track.{ext}") } else { format!("{stem}.{ext}") }
}

/// Format characters that can make a name read differently from what it is (a right-to-left
/// override, U+202E, showing `evil<U+202E>3pm.exe` as `evilexe.mp3`) or hide in it.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// The access rules of `TrackService::media`, on a track the viewer may see.
pub(super) fn check_media_access(
    track: &Track,
    viewer: Option<&Principal>,
    usage: MediaUse,
) -> Result<bool, TracksError> {
    let is_owner = viewer.is_some_and(|v| v.user.id == track.owner.id);
    let ready = track.status == TrackStatus::Ready;
    // Until processing is done the track exists for its owner only.
    if !ready && !is_owner {
        return Err(TracksError::NotFound);
    }
    if usage == MediaUse::Download && !is_owner && !track.downloadable {
        return Err(TracksError::NotDownloadable);
    }
    let shared = ready
        && track.visibility == Visibility::Public
        && (usage == MediaUse::Stream || track.downloadable);
    Ok(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_never_name_a_place_or_hide() {
        let name = |t: &str| file_name(t, AudioFormat::Mp3);
        assert_eq!(name("Night Drive"), "Night Drive.mp3");
        assert_eq!(name("../../etc/passwd"), "etc_passwd.mp3");
        assert_eq!(name("..\\..\\boot.ini"), "boot.ini.mp3");
        assert_eq!(name("a \"quoted\" title"), "a _quoted_ title.mp3");
        assert_eq!(name("tab\there\r\nnext"), "tab_here__next.mp3");
        assert_eq!(name(".hidden"), "hidden.mp3");
        assert_eq!(name("..."), "track.mp3");
        assert_eq!(name("évasion — été"), "évasion — été.mp3");
        assert_eq!(name("evil\u{202E}3pm.exe"), "evil_3pm.exe.mp3");
        assert_eq!(name("C:\\x"), "C__x.mp3");
        let long = name(&"é".repeat(300));
        assert_eq!(long.chars().count(), MAX_FILE_NAME_CHARS);
        assert!(long.ends_with("é.mp3"));
    }
}
