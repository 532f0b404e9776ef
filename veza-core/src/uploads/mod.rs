//! Resumable uploads (tus 1.0): an upload is declared with its length, receives its bytes in
//! any number of appends at the offset it has reached, and once complete becomes a track's
//! original through the same checks as a one-shot upload. Blob stores have no append (S3),
//! so each append is its own blob `uploads/<id>/<offset>-<uuid>`; the store records a part and
//! advances the offset in one conditional step, so of two appends racing at one offset
//! exactly one lands. An upload that is never finished is removed by a job at its expiry.

mod error;
mod expiry;
mod model;
mod ports;
mod service;
mod verify;

pub use error::UploadError;
pub use expiry::UploadExpirer;
pub use model::{
    AppendOutcome, NewUpload, RemoveIf, Upload, UploadChecksum, UploadMetadata, UploadPart,
};
pub use ports::UploadStore;
pub use service::{EXPIRE_JOB, FromUploadInput, UPLOAD_LIFETIME, UploadService};
