use crate::auth::FieldError;
use crate::blobs::BlobError;
use crate::pagination::PageError;
use crate::scan::ScanError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TracksError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// No such track, or one the caller may not see.
    #[error("track not found")]
    NotFound,
    /// The caller sees the track but may not change it.
    #[error("only the track's owner may do this")]
    Forbidden,
    /// A stream-server callback without the internal token, or with another one.
    #[error("the internal token is missing or wrong")]
    NotStreamServer,
    /// The caller sees the track but its owner has not made it downloadable.
    #[error("the owner has not made this track downloadable")]
    NotDownloadable,
    /// A byte range that names no byte of the track's `size` bytes.
    #[error("the range names no byte of the {size} bytes of this track")]
    RangeNotSatisfiable { size: u64 },
    /// Unknown `sort` value, or `relevance` without a search.
    #[error("sort must be one of recent, popular, title, or relevance with q")]
    BadSort,
    #[error(transparent)]
    BadPage(#[from] PageError),
    /// The upload exceeded the configured limit; refused as soon as it did.
    #[error("the file is larger than the upload limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The bytes are not MP3, FLAC, WAV, Ogg, AAC or M4A, whatever the client called them.
    #[error("the file is not audio in a supported format (MP3, FLAC, WAV, OGG/Opus, AAC/M4A)")]
    NotAudio,
    #[error("the file is empty")]
    EmptyFile,
    /// The virus scanner flagged the upload; nothing was stored.
    #[error("the file was flagged by the virus scanner ({signature})")]
    Infected { signature: String },
    /// The scanner could not vouch for the file, so it was not stored.
    #[error(transparent)]
    ScanFailed(#[from] ScanError),
    #[error("blob storage failed")]
    Blob(#[from] BlobError),
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl From<FieldError> for TracksError {
    fn from(err: FieldError) -> Self {
        TracksError::Invalid(vec![err])
    }
}
