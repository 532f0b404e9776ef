//! `veza track import`: files (or every file under directories) become tracks of one owner,
//! each through the pipeline an HTTP upload takes (`TrackService::store_original`, then
//! `create_for_owner`), so the same checks apply: format by bytes, upload limit, virus scan.
//! Files stream from disk in 64 KiB chunks; none is ever read whole into memory.

use bytes::BytesMut;
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;
use uuid::Uuid;
use veza_core::audit::Actor;
use veza_core::blobs::{BlobBody, BlobError};
use veza_core::tracks::{NewTrackInput, Title, TrackDetails, TrackService, TracksError};

/// Size of each read from an imported file.
const CHUNK: usize = 64 * 1024;

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Imported {
        track_id: Uuid,
    },
    /// Not for this importer: not audio, empty, over the upload limit.
    Skipped {
        reason: String,
    },
    /// Should have worked: unreadable, infected, scanner or storage down.
    Failed {
        reason: String,
    },
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Imported { .. } => "imported",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Failed { .. } => "failed",
        }
    }
}

/// Every regular file named by `paths`, directories walked recursively, in name order so
/// runs are repeatable. Symbolic links to files are followed; links to directories are not
/// (a link cycle would never end).
///
/// # Errors
/// A one-line message for a path that does not exist or a directory that cannot be read.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut entries: Vec<_> = entries
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    entries.sort();
    for path in entries {
        let link =
            std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if link.is_dir() {
            walk(&path, files)?;
        } else if link.is_file() || (link.is_symlink() && path.is_file()) {
            files.push(path);
        }
    }
    Ok(())
}

/// The title a file is imported under: its name without the extension, cut to the longest
/// title allowed; the whole name when the stem is empty (`.mp3`).
pub fn title_for(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().trim().to_owned());
    let name = match stem.filter(|s| !s.is_empty()) {
        Some(stem) => stem,
        None => path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    name.chars().filter(|c| !c.is_control()).take(Title::MAX).collect()
}

/// The file as a stream of chunks read as the store asks for them.
fn file_body(file: tokio::fs::File) -> BlobBody {
    BlobBody::new(futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut chunk = BytesMut::with_capacity(CHUNK);
        match file.read_buf(&mut chunk).await {
            Ok(0) => None,
            Ok(_) => Some((Ok(chunk.freeze()), Some(file))),
            // Ends the stream after the error: the store refuses the body.
            Err(err) => Some((Err(BlobError::backend(err)), None)),
        }
    }))
}

/// Imports one file as a public track of `owner`.
pub async fn import_file(tracks: &TrackService, owner: Uuid, path: &Path) -> Outcome {
    let file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(err) => return Outcome::Failed { reason: format!("cannot read: {err}") },
    };
    let original = match tracks.store_original(&Actor::operator(), file_body(file)).await {
        Ok(original) => original,
        Err(err) => return refused(err),
    };
    // Default details: public, not downloadable, no description or tags.
    let input =
        NewTrackInput { title: title_for(path), details: TrackDetails::default(), original };
    match tracks.create_for_owner(owner, input).await {
        Ok(track) => Outcome::Imported { track_id: track.id },
        Err(err) => refused(err),
    }
}

fn refused(err: TracksError) -> Outcome {
    match err {
        TracksError::NotAudio | TracksError::EmptyFile | TracksError::TooLarge { .. } => {
            Outcome::Skipped { reason: err.to_string() }
        }
        TracksError::Invalid(errors) => Outcome::Failed {
            reason: errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        },
        // The store's own message is generic; its cause says what broke.
        TracksError::Blob(cause) => Outcome::Failed { reason: chain(&cause) },
        TracksError::Store(cause) => Outcome::Failed { reason: chain(&cause) },
        other => Outcome::Failed { reason: other.to_string() },
    }
}

/// An error and its sources on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_the_file_name_without_its_extension() {
        assert_eq!(title_for(Path::new("/music/Night Drive.mp3")), "Night Drive");
        assert_eq!(title_for(Path::new("a/b/tone-2s.tar.flac")), "tone-2s.tar");
        assert_eq!(title_for(Path::new(".mp3")), ".mp3");
        let long = format!("{}.wav", "x".repeat(300));
        assert_eq!(title_for(Path::new(&long)).chars().count(), Title::MAX);
        assert!(Title::parse(&title_for(Path::new(&long))).is_ok());
    }

    #[test]
    fn directories_are_walked_in_name_order_and_missing_paths_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
        for name in ["z.mp3", "a.mp3", "b/c/deep.flac", "b/one.ogg"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let files = collect_files(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> =
            files.iter().map(|f| f.strip_prefix(dir.path()).unwrap().to_owned()).collect();
        let expected: Vec<PathBuf> =
            ["a.mp3", "b/c/deep.flac", "b/one.ogg", "z.mp3"].iter().map(PathBuf::from).collect();
        assert_eq!(names, expected);
        let err = collect_files(&[dir.path().join("nope")]).unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }
}
