use crate::blobs::BlobError;
use crate::store::StoreError;
use crate::tracks::TracksError;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// No such upload, someone else's, or expired.
    #[error("upload not found")]
    NotFound,
    /// The declared length exceeds what may be uploaded.
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// An append runs past the upload's declared length; nothing of it was kept.
    #[error("the body runs past the upload's length of {length} bytes")]
    PastLength { length: u64 },
    /// The append does not start where the upload is.
    #[error("the upload is at offset {offset}; append from there")]
    OffsetMismatch { offset: u64 },
    /// The body's digest differs from the one the client declared; nothing was kept.
    #[error("the body does not match its checksum")]
    ChecksumMismatch,
    #[error("unsupported checksum algorithm; use sha1")]
    UnsupportedChecksum,
    #[error("malformed checksum: {0}")]
    BadChecksum(&'static str),
    #[error("malformed upload metadata: {0}")]
    BadMetadata(&'static str),
    /// A track can only be made of every byte the upload declared.
    #[error("the upload is incomplete: {offset} of {length} bytes received")]
    Incomplete { offset: u64, length: u64 },
    /// Another request is turning this upload into a track.
    #[error("the upload is already being turned into a track")]
    Busy,
    /// The finished upload was refused as a track (not audio, infected, bad metadata, …).
    #[error(transparent)]
    Track(#[from] TracksError),
    #[error("blob storage failed")]
    Blob(#[from] BlobError),
    #[error("storage failed")]
    Store(#[from] StoreError),
}
