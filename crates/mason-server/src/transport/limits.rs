//! Limits of the process that decide how many connections the server can hold: the
//! open-file limit (raised at start from its soft to its hard value), the default
//! connection cap derived from it, and what to do when `accept` fails (back off on
//! resource exhaustion, never spin, log at most once per second with a count).

use std::io;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// File descriptors kept out of the connection budget: the store's files, the config
/// file and its watcher, the listeners, logs, and refusing excess connections.
pub const RESERVED_FDS: u64 = 64;
/// Connections a separate `--metrics-port` or `--health-port` listener may hold.
pub const SIDE_LISTENER_CONNECTIONS: usize = 32;

/// The open-file limit before and after [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// Soft limit found at start (`None` = unlimited).
    pub soft_before: Option<u64>,
    /// Soft limit now.
    pub soft: Option<u64>,
    /// Hard limit.
    pub hard: Option<u64>,
}

/// Raise `RLIMIT_NOFILE`'s soft limit to its hard limit (the most an unprivileged process
/// may), and say what it was and is. A refusal leaves the limit as it was.
pub fn raise_fd_limit() -> FdLimit {
    let before = getrlimit(Resource::Nofile);
    let mut after = before;
    if before.current != before.maximum {
        let wanted = Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        };
        match setrlimit(Resource::Nofile, wanted) {
            Ok(()) => after = getrlimit(Resource::Nofile),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
        }
    }
    FdLimit {
        soft_before: before.current,
        soft: after.current,
        hard: after.maximum,
    }
}

/// The default connection cap of the API listener: the soft open-file limit minus
/// [`RESERVED_FDS`] and the side listeners' shares, at least 16, at most 1,000,000.
pub fn default_max_connections(side_listeners: usize) -> usize {
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(1_048_576);
    let side = (side_listeners * SIDE_LISTENER_CONNECTIONS) as u64;
    let budget = soft
        .saturating_sub(RESERVED_FDS + side)
        .clamp(16, 1_000_000);
    usize::try_from(budget).unwrap_or(1_000_000)
}

/// Whether an `accept` error means the process (or system) ran out of something, so
/// retrying at once would spin.
fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        Errno::from_io_error(e),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

/// First pause after an exhaustion error; doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// Longest pause between accept attempts while exhausted.
const MAX_PAUSE: Duration = Duration::from_millis(250);
/// At most one log line per this period.
const LOG_PERIOD: Duration = Duration::from_secs(1);

/// Accept-error policy of one listener.
#[derive(Debug)]
pub(crate) struct AcceptErrors {
    what: String,
    pause: Duration,
    last_log: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    /// For the listener described by `what` (its address).
    pub(crate) fn new(what: String) -> Self {
        Self {
            what,
            pause: FIRST_PAUSE,
            last_log: None,
            unlogged: 0,
        }
    }

    /// A connection was accepted: the next exhaustion starts with a short pause again.
    pub(crate) fn accepted(&mut self) {
        self.pause = FIRST_PAUSE;
    }

    /// Count and maybe log `e`; returns how long to wait before the next `accept`.
    pub(crate) fn failed(&mut self, e: &io::Error) -> Duration {
        self.unlogged += 1;
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LOG_PERIOD)
        {
            tracing::error!(
                listener = %self.what,
                error = %e,
                errors = self.unlogged,
                "accept failed (open connections are still served)"
            );
            self.last_log = Some(now);
            self.unlogged = 0;
        }
        if is_exhaustion(e) {
            let pause = self.pause;
            self.pause = (self.pause * 2).min(MAX_PAUSE);
            pause
        } else {
            // The failure belonged to one incoming connection (reset before accept,
            // and the like): go on at once.
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_backs_off_and_other_errors_do_not() {
        let mut errors = AcceptErrors::new("test".into());
        let emfile = io::Error::from_raw_os_error(24);
        let pauses: Vec<Duration> = (0..8).map(|_| errors.failed(&emfile)).collect();
        assert_eq!(pauses[0], FIRST_PAUSE);
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*pauses.last().unwrap(), MAX_PAUSE);
        errors.accepted();
        assert_eq!(errors.failed(&emfile), FIRST_PAUSE);
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(errors.failed(&reset), Duration::ZERO);
        // Ten errors in a burst make at most one log line: the rest are counted.
        assert!(errors.unlogged >= 1);
    }

    #[test]
    fn the_default_cap_leaves_room_for_files() {
        let soft = getrlimit(Resource::Nofile).current;
        let cap = default_max_connections(2) as u64;
        assert!(cap >= 16);
        if let Some(soft) = soft {
            assert!(cap + RESERVED_FDS <= soft.max(16 + RESERVED_FDS));
        }
    }
}
