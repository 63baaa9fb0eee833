//! Mason's lease-safety extension (issue 12), the server's part: reading the optional
//! `lease_ttl=` and `generation=` parameters (`params`) and [`LeaseControl`], what the
//! extension keeps per server process. None of it is lease state (that lives in the
//! store); it only decides what the server asks the store and what it refuses first.

pub(crate) mod params;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The default `--max-lease-ttl`: one day.
pub const DEFAULT_MAX_LEASE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Per-process lease settings; see the module docs.
#[derive(Debug)]
pub struct LeaseControl {
    /// The largest `lease_ttl` a request may ask for (`--max-lease-ttl`), in nanoseconds;
    /// more is a 400.
    max_lease_ttl_nanos: AtomicU64,
}

impl Default for LeaseControl {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LEASE_TTL)
    }
}

impl LeaseControl {
    /// Settings with the cap `max_lease_ttl`.
    pub fn new(max_lease_ttl: Duration) -> Self {
        Self {
            max_lease_ttl_nanos: AtomicU64::new(nanos(max_lease_ttl)),
        }
    }

    /// The cap on requested lease TTLs.
    pub fn max_lease_ttl(&self) -> Duration {
        Duration::from_nanos(self.max_lease_ttl_nanos.load(Ordering::Relaxed))
    }

    /// Change the cap (start-up: `--max-lease-ttl`).
    pub fn set_max_lease_ttl(&self, max_lease_ttl: Duration) {
        self.max_lease_ttl_nanos
            .store(nanos(max_lease_ttl), Ordering::Relaxed);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_defaults_to_a_day_and_can_be_changed() {
        let control = LeaseControl::default();
        assert_eq!(control.max_lease_ttl(), Duration::from_secs(86_400));
        control.set_max_lease_ttl(Duration::from_secs(90));
        assert_eq!(control.max_lease_ttl(), Duration::from_secs(90));
    }
}
