//! Counting failures per key in fixed windows: the login limit per account and per IP.
//! The in-memory adapter serves one process; a shared one (Redis) serves a fleet.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::store::StoreError;

/// How many hits a key has in its current window, and when that window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u32,
    pub resets_at: OffsetDateTime,
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// The key's window if one is open at `now`.
    async fn current(&self, key: &str, now: OffsetDateTime) -> Result<Option<Window>, StoreError>;

    /// Counts one hit. Opens a window of `length` starting at `now` if none is open.
    /// Concurrent hits are all counted.
    async fn hit(
        &self,
        key: &str,
        now: OffsetDateTime,
        length: Duration,
    ) -> Result<Window, StoreError>;

    /// Forgets the key (a successful login clears the account's failures).
    async fn clear(&self, key: &str) -> Result<(), StoreError>;
}
