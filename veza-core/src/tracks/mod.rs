//! Tracks: a musician's uploaded audio and what others may see of it. Metadata is parsed once
//! into types that only hold valid values; a track is created `processing` together with the
//! job that analyses it, and becomes `ready` (with duration, format facts and waveform peaks)
//! or `failed` with a readable reason. Who may see a track is decided here, in the service:
//! a private track of someone else does not exist for the caller.

mod cursor;
mod error;
mod media;
mod model;
mod ports;
mod processing;
mod service;
mod upload;

pub use cursor::TrackCursor;
pub use error::TracksError;
pub use media::{MediaUse, TrackMedia, file_name};
pub use model::{
    Bpm, COUNTS_BEFORE_ENGAGEMENT, Description, Genre, MusicalKey, NewTrack, RankedTrack,
    SearchTerms, Tags, Title, Track, TrackChanges, TrackFacts, TrackOwner, TrackPatch, TrackQuery,
    TrackSort, TrackStatus, Visibility, Waveform,
};
pub use ports::TrackStore;
pub use processing::{TrackBlobRemover, TrackProcessor};
pub use service::{
    DELETE_BLOBS_JOB, NewTrackInput, PROCESS_JOB, TrackListRequest, TrackService, TracksConfig,
};
pub use upload::StoredOriginal;
