//! Tracks: a musician's uploaded audio and what others may see of it. Metadata is parsed once
//! into types that only hold valid values; a track is created `processing` together with the
//! job that analyses it, and becomes `ready` (with duration, format facts and waveform peaks)
//! or `failed` with a readable reason; a ready track is then announced to the stream server,
//! whose report on its HLS packaging is kept with it. Who may see a track is decided here, in the service:
//! a private track of someone else does not exist for the caller.

mod cursor;
mod error;
mod media;
mod model;
mod ports;
mod processing;
mod removal;
mod service;
mod upload;

pub use cursor::TrackCursor;
pub use error::TracksError;
pub use media::{MediaUse, TrackMedia, file_name};
pub use model::{
    Bpm, COUNTS_BEFORE_ENGAGEMENT, Description, Genre, HlsUrl, MusicalKey, NewTrack,
    NewTrackVersion, RankedTrack, SearchTerms, StreamState, Tags, Title, Track, TrackChanges,
    TrackFacts, TrackOwner, TrackPatch, TrackQuery, TrackSort, TrackStatus, TrackVersion,
    Visibility, Waveform,
};
pub use ports::TrackStore;
pub use processing::{NOTIFY_STREAM_JOB, StreamNotification, TrackBlobRemover, TrackProcessor};
pub use service::{
    DELETE_BLOBS_JOB, DISCARD_UNCLAIMED_JOB, NewTrackInput, PROCESS_JOB, StreamReport,
    TrackDetails, TrackListRequest, TrackService, TracksConfig, UNCLAIMED_ORIGINAL_GRACE,
};
pub(crate) use service::{blob_removal_job, check_new_track};
pub use upload::StoredOriginal;
