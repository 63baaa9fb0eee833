//! SIGINT and SIGTERM, handled the same way by every command.
//!
//! - The same signal twice within [`REPEAT_WINDOW`] counts as one. `timeout 2 mason up`
//!   and many supervisors signal both the process and its group, so the process sees
//!   two SIGTERMs at once; that is one request to stop, not "stop now".
//! - Daemons (serve, up, builder, reaper, cleaner, janitor) stop gracefully on the first
//!   signal and exit 0; a second signal, later than that, exits at once with
//!   128 + its number (130 for SIGINT, 143 for SIGTERM).
//! - Client commands interrupted while they wait exit with 128 + the signal's number.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::exit;

/// A repeat of the same signal within this time is the same request.
pub(crate) const REPEAT_WINDOW: Duration = Duration::from_secs(1);

/// The two signals that stop `mason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sig {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM.
    Term,
}

impl Sig {
    /// Its name, `SIGINT` or `SIGTERM`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Sig::Int => "SIGINT",
            Sig::Term => "SIGTERM",
        }
    }

    /// The exit code for "stopped by this signal" (130 or 143).
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Sig::Int => exit::SIGINT,
            Sig::Term => exit::SIGTERM,
        }
    }

    /// The signal to forward to a child process.
    pub(crate) fn to_rustix(self) -> rustix::process::Signal {
        match self {
            Sig::Int => rustix::process::Signal::INT,
            Sig::Term => rustix::process::Signal::TERM,
        }
    }
}

/// Tells repeats apart from new signals.
#[derive(Debug, Default)]
struct Repeats {
    last: Option<(Sig, Instant)>,
}

impl Repeats {
    /// Whether `sig` at `now` is a new request (not the last one again within the window).
    fn is_new(&mut self, sig: Sig, now: Instant) -> bool {
        if let Some((last, at)) = self.last {
            if last == sig && now.duration_since(at) < REPEAT_WINDOW {
                return false;
            }
        }
        self.last = Some((sig, now));
        true
    }
}

/// SIGINT and SIGTERM as a stream, repeats within a second dropped.
pub(crate) struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    repeats: Repeats,
}

impl Signals {
    /// Start catching SIGINT and SIGTERM (from now on they no longer kill the process).
    pub(crate) fn catch() -> std::io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            repeats: Repeats::default(),
        })
    }

    /// The next signal that is not a repeat of the previous one within a second.
    pub(crate) async fn next(&mut self) -> Sig {
        loop {
            let sig = tokio::select! {
                _ = self.int.recv() => Sig::Int,
                _ = self.term.recv() => Sig::Term,
            };
            if self.repeats.is_new(sig, Instant::now()) {
                return sig;
            }
            tracing::debug!(
                signal = sig.name(),
                "repeated signal within a second ignored"
            );
        }
    }
}

/// For daemons: a token cancelled by the first SIGINT/SIGTERM; a second signal (not a
/// repeat within a second) exits at once with 128 + its number.
pub(crate) fn shutdown_on_signals() -> anyhow::Result<CancellationToken> {
    let mut signals = Signals::catch().context("install SIGINT/SIGTERM handlers")?;
    let token = CancellationToken::new();
    let fire = token.clone();
    tokio::spawn(async move {
        let first = signals.next().await;
        tracing::info!(
            signal = first.name(),
            "shutting down (send a signal again to exit at once)"
        );
        fire.cancel();
        let second = signals.next().await;
        tracing::warn!(signal = second.name(), "second signal: exiting now");
        std::process::exit(i32::from(second.exit_code()));
    });
    Ok(token)
}

/// For client commands: a token cancelled by the first SIGINT/SIGTERM, remembering which.
#[derive(Clone)]
pub(crate) struct Interrupt {
    /// Cancelled by the first signal.
    pub(crate) token: CancellationToken,
    got: Arc<OnceLock<Sig>>,
}

impl Interrupt {
    /// Install the handlers.
    pub(crate) fn on_signals() -> anyhow::Result<Self> {
        let mut signals = Signals::catch().context("install SIGINT/SIGTERM handlers")?;
        let interrupt = Self {
            token: CancellationToken::new(),
            got: Arc::new(OnceLock::new()),
        };
        let fire = interrupt.clone();
        tokio::spawn(async move {
            let sig = signals.next().await;
            let _ = fire.got.set(sig);
            fire.token.cancel();
        });
        Ok(interrupt)
    }

    /// The exit code for the signal received (130 when none was, which cannot happen
    /// once the token is cancelled).
    pub(crate) fn exit_code(&self) -> u8 {
        self.got.get().map_or(exit::SIGINT, |s| s.exit_code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_signal_within_a_second_is_one() {
        let start = Instant::now();
        let mut repeats = Repeats::default();
        assert!(repeats.is_new(Sig::Term, start));
        assert!(!repeats.is_new(Sig::Term, start + Duration::from_millis(5)));
        assert!(!repeats.is_new(Sig::Term, start + Duration::from_millis(900)));
        assert!(repeats.is_new(Sig::Term, start + Duration::from_millis(1000)));
        assert!(repeats.is_new(Sig::Int, start + Duration::from_millis(1001)));
    }

    #[test]
    fn exit_codes_are_the_shells() {
        assert_eq!(Sig::Int.exit_code(), 130);
        assert_eq!(Sig::Term.exit_code(), 143);
    }
}
