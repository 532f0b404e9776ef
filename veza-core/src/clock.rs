//! Time and identifiers as ports, so tests can hold time still or move it on.

use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub trait Clock: Send + Sync {
    /// The current UTC time, truncated to microseconds: that is what PostgreSQL keeps, so
    /// every store hands back exactly the instant it was given.
    fn now(&self) -> OffsetDateTime;
}

pub trait IdGenerator: Send + Sync {
    /// A new UUIDv7: time-ordered, so ids sort like creation times and make stable cursors.
    fn new_id(&self) -> Uuid;
}

pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let micros = t.microsecond();
    t.replace_microsecond(micros).expect("microsecond taken from a valid time")
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate_to_micros(OffsetDateTime::now_utc())
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct UuidV7Ids;

impl IdGenerator for UuidV7Ids {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// A clock that only moves when told to: expiry and rate-limit windows without sleeping.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(truncate_to_micros(start)))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
