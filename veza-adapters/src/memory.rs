//! In-process adapters: the rate limiter of a single `veza serve` (no Redis configured).

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use veza_core::rate_limit::{RateLimiter, Window};
use veza_core::store::StoreError;

/// Fixed windows in a map. Expired windows are dropped as the map is touched, so it holds
/// at most the keys hit within the longest window.
#[derive(Debug, Default)]
pub struct MemoryRateLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

impl MemoryRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Above this many keys, a hit first sweeps out the expired windows.
const SWEEP_ABOVE: usize = 10_000;

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn current(&self, key: &str, now: OffsetDateTime) -> Result<Option<Window>, StoreError> {
        Ok(self.windows().get(key).copied().filter(|w| w.resets_at > now))
    }

    async fn hit(
        &self,
        key: &str,
        now: OffsetDateTime,
        length: Duration,
    ) -> Result<Window, StoreError> {
        let mut windows = self.windows();
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, w| w.resets_at > now);
        }
        let window = windows
            .entry(key.to_owned())
            .and_modify(|w| {
                if w.resets_at <= now {
                    *w = Window { count: 0, resets_at: now + length };
                }
            })
            .or_insert(Window { count: 0, resets_at: now + length });
        window.count += 1;
        Ok(*window)
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.windows().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    async fn fresh() -> Arc<dyn RateLimiter> {
        Arc::new(MemoryRateLimiter::new())
    }

    veza_core::rate_limiter_contract!(fresh);
}
