//! Injected time. Stores stamp `lastupdate`, expirations and queue TTLs with a [`Clock`]
//! so tests can move time by hand instead of sleeping.

use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use mason_types::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, UTC.
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Utc::now()
    }
}

/// A clock that only moves when told to (for tests). Each reading also advances it by
/// one microsecond so that successive writes get distinct, ordered timestamps.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// A clock standing at 2006-01-02T15:04:05Z (upstream's test epoch).
    pub fn at_upstream_epoch() -> Self {
        Self::new(
            mason_types::resource::parse_wire_time("2006-01-02T15:04:05Z").expect("valid time"),
        )
    }

    /// Move forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().expect("clock lock");
        *now += chrono::Duration::from_std(by).expect("duration in range");
    }

    /// The current reading without advancing.
    pub fn peek(&self) -> Timestamp {
        *self.now.lock().expect("clock lock")
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let mut now = self.now.lock().expect("clock lock");
        let t = *now;
        *now += chrono::Duration::microseconds(1);
        t
    }
}
