//! The stream server: a separate service that packages ready tracks for HLS. This is the
//! port Veza tells it through that a track is ready for packaging (`StreamNotifier`); the
//! stream server answers later on its callback, which the track service records
//! (`TrackService::record_stream_report`). Notices go out from the `track.notify_stream` job,
//! queued in the same transaction that marks the track ready, so a stream server that is down
//! gets the notice once it is back (the queue retries with backoff). `NoNotifier` is the
//! embedded default (`VEZA_STREAM_SERVER_URL` unset): nothing is sent and no job is queued.

use async_trait::async_trait;
use std::fmt;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::blobs::BlobKey;
use crate::media::AudioFormat;

/// The shared secret of Veza and its stream server (`VEZA_INTERNAL_TOKEN`): the stream
/// server presents it on its callback, and notices carry it so the stream server knows they
/// come from Veza. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct InternalToken(String);

impl InternalToken {
    /// Shortest token accepted: as many bytes as the JWT secret's minimum.
    pub const MIN_LEN: usize = 32;

    /// # Errors
    /// A message if the token is shorter than `MIN_LEN` bytes.
    pub fn new(token: impl Into<String>) -> Result<Self, String> {
        let token = token.into();
        if token.len() < Self::MIN_LEN {
            return Err(format!("the internal token must be at least {} bytes", Self::MIN_LEN));
        }
        Ok(Self(token))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, compared in constant time (a timing difference
    /// would let a caller guess it byte by byte).
    pub fn verify(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl fmt::Debug for InternalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InternalToken({} bytes)", self.0.len())
    }
}

/// What the stream server needs to package one track: which track, whose, and where its
/// audio is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyForPackaging {
    pub track_id: Uuid,
    pub owner_id: Uuid,
    pub format: AudioFormat,
    pub size_bytes: u64,
    pub duration_ms: Option<u64>,
    /// The original in the blob store the stream server shares.
    pub blob: BlobKey,
}

#[derive(Debug, thiserror::Error)]
pub enum StreamNotifyError {
    /// No answer: refused connection, DNS failure, timeout, broken exchange.
    #[error("the stream server could not be reached: {0}")]
    Unreachable(String),
    /// An answer other than 2xx.
    #[error("the stream server answered HTTP {status}")]
    Refused { status: u16 },
}

#[async_trait]
pub trait StreamNotifier: Send + Sync {
    /// Whether notices go anywhere. `false` (`NoNotifier`) means no `track.notify_stream`
    /// job is queued at all.
    fn is_configured(&self) -> bool;

    /// Where notices go, for logs and `veza doctor` (no credentials).
    fn describe(&self) -> String;

    /// Tells the stream server `track` is ready for packaging. Delivery is at least once: a
    /// retried job may tell it twice, so the stream server keys on `track_id`.
    ///
    /// # Errors
    /// `Unreachable` without an answer, `Refused` for any answer but 2xx; the job retries.
    async fn track_ready(&self, track: &ReadyForPackaging) -> Result<(), StreamNotifyError>;
}

/// No stream server: nothing is sent, nothing is queued.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNotifier;

#[async_trait]
impl StreamNotifier for NoNotifier {
    fn is_configured(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        "none: the stream server is not notified (VEZA_STREAM_SERVER_URL unset)".into()
    }

    async fn track_ready(&self, _track: &ReadyForPackaging) -> Result<(), StreamNotifyError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_internal_token_is_checked_whole_and_never_shown() {
        assert!(InternalToken::new("short").is_err());
        let token = InternalToken::new("s".repeat(40)).unwrap();
        assert!(token.verify(&"s".repeat(40)));
        assert!(!token.verify(&"s".repeat(39)), "a prefix is not the token");
        assert!(!token.verify(&"s".repeat(41)));
        assert!(!token.verify(""));
        assert!(!format!("{token:?}").contains("sss"));
    }
}
