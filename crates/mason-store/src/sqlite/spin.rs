//! The hand-off's adaptive wait: whether the store thread looks for its next job, and a
//! caller for its answer, for a few microseconds before sleeping.
//!
//! On an otherwise idle machine a sleeping thread costs a wake-up on every hand-off (an
//! idle vCPU is woken through the hypervisor: tens of µs, more than the SQL of a point
//! call), so a short look first pays. On a machine short of CPU the look takes a core
//! that the client and the HTTP worker need and spends the scheduler credit that makes a
//! woken thread run at once, so there it costs. So the store thread samples the number of
//! runnable threads on the machine (`/proc/loadavg`) at most every [`SAMPLE_EVERY`], and
//! nobody looks while more are runnable than there are CPUs: every hand-off then sleeps,
//! as it would without this module. Where the count cannot be read nobody looks.
//! The figures (idle, and beside CPU burners) are in docs/benchmarks.md, "The store
//! hand-off's adaptive wait".

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often the store thread samples the machine's runnable threads.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// How long the store thread looks for its next job after one, while jobs keep coming
/// sooner than this. 100 µs covers a one-connection client's round trip on an idle
/// machine; 200 µs measured no better.
const STORE_WINDOW: Duration = Duration::from_micros(100);

/// How long a caller looks for its answer before it sleeps on it: a point call's SQL and
/// the store thread's answer fit in it on an idle machine; 50 µs measured no better.
const CALLER_WINDOW: Duration = Duration::from_micros(20);

/// The instant samples are timed from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The number of runnable threads on the machine, from `/proc/loadavg`'s fourth field
/// (`running/total`), the reader included.
fn runnable() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    runnable_of(&text)
}

fn runnable_of(loadavg: &str) -> Option<usize> {
    loadavg
        .split_whitespace()
        .nth(3)?
        .split('/')
        .next()?
        .parse()
        .ok()
}

fn cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Shared by the store thread and its callers.
#[derive(Debug, Default)]
pub(super) struct Spin {
    /// The last sample found more runnable threads than CPUs (or none could be taken).
    contended: AtomicBool,
    /// When the last sample was taken (µs since [`epoch`] plus one; 0: never).
    sampled_at: AtomicU64,
}

impl Spin {
    /// How long the store thread looks for its next job (0: it sleeps at once). Takes a
    /// new sample when the last one is older than [`SAMPLE_EVERY`].
    pub(super) fn store_window(&self) -> Duration {
        let now = epoch().elapsed().as_micros() as u64 + 1;
        let last = self.sampled_at.load(Ordering::Relaxed);
        if last == 0 || now.saturating_sub(last) >= SAMPLE_EVERY.as_micros() as u64 {
            self.sampled_at.store(now, Ordering::Relaxed);
            self.record(runnable());
        }
        self.window(STORE_WINDOW)
    }

    /// How long a caller looks for its answer (0: it sleeps at once).
    pub(super) fn caller_window(&self) -> Duration {
        self.window(CALLER_WINDOW)
    }

    fn record(&self, runnable: Option<usize>) {
        let contended = runnable.is_none_or(|n| n > cpus());
        self.contended.store(contended, Ordering::Relaxed);
    }

    fn window(&self, window: Duration) -> Duration {
        if self.sampled_at.load(Ordering::Relaxed) == 0 || self.contended.load(Ordering::Relaxed) {
            Duration::ZERO
        } else {
            window
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_runnable_count_of_proc_loadavg() {
        assert_eq!(runnable_of("0.52 0.58 0.59 3/467 12345\n"), Some(3));
        assert_eq!(runnable_of("0.52 0.58"), None);
        assert_eq!(runnable_of("a b c x/y 1"), None);
    }

    #[test]
    fn nobody_looks_while_more_threads_are_runnable_than_cpus() {
        let spin = Spin::default();
        assert_eq!(spin.caller_window(), Duration::ZERO, "no sample yet");
        spin.sampled_at.store(1, Ordering::Relaxed);
        spin.record(Some(1));
        assert!(!spin.caller_window().is_zero());
        spin.record(Some(cpus() + 1));
        assert_eq!(spin.caller_window(), Duration::ZERO);
        spin.record(None);
        assert_eq!(spin.caller_window(), Duration::ZERO);
        spin.record(Some(cpus()));
        assert!(!spin.caller_window().is_zero());
    }
}
