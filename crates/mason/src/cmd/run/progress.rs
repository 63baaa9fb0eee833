//! What `mason run` shows while it waits for a resource.
//!
//! On a terminal: one live line on stderr, redrawn every second, with the queue rank (when
//! the server tells it) and the time waited; cleared once the wait ends. Otherwise (CI
//! logs): a plain line at the first unsuccessful poll and then at most every 30 s.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_client::WaitProgress;
use mason_types::format_go_duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often a log line is written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// Shared between the wait's hook and the redraw task.
struct State {
    /// `a <type> resource in state <state>`.
    what: String,
    start: Instant,
    rank: Option<u64>,
    /// Whether a poll has failed yet (nothing is shown before).
    waiting: bool,
    last_log: Option<Instant>,
    /// Whether a live line is on screen.
    drawn: bool,
}

/// The waiting display.
pub(super) struct Progress {
    state: Arc<Mutex<State>>,
    tty: bool,
    redraw: Option<JoinHandle<()>>,
}

impl Progress {
    /// Start showing progress for `what`; on a terminal, redraw every second.
    pub(super) fn start(what: String, tty: bool) -> Self {
        let state = Arc::new(Mutex::new(State {
            what,
            start: Instant::now(),
            rank: None,
            waiting: false,
            last_log: None,
            drawn: false,
        }));
        let redraw = tty.then(|| {
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    draw(&mut lock(&state));
                }
            })
        });
        Self { state, tty, redraw }
    }

    /// The hook to give to the wait.
    pub(super) fn hook(&self) -> impl Fn(&WaitProgress) + Send + Sync + 'static {
        let state = Arc::clone(&self.state);
        let tty = self.tty;
        move |p: &WaitProgress| {
            let mut s = lock(&state);
            s.rank = p.rank;
            s.waiting = true;
            if tty {
                draw(&mut s);
            } else if s.last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                s.last_log = Some(Instant::now());
                eprintln!("mason run: {} ({})", line(&s), p.last_error);
            }
        }
    }

    /// Stop redrawing and clear the live line.
    pub(super) fn finish(self) {
        if let Some(task) = &self.redraw {
            task.abort();
        }
        let mut s = lock(&self.state);
        if s.drawn {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            s.drawn = false;
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn draw(s: &mut State) {
    if !s.waiting {
        return;
    }
    eprint!("\r\x1b[2Kmason run: {}", line(s));
    let _ = std::io::stderr().flush();
    s.drawn = true;
}

/// `waiting for <what>: #3 in queue, 1m20s`.
fn line(s: &State) -> String {
    let waited = format_go_duration(Duration::from_secs(s.start.elapsed().as_secs()));
    match s.rank {
        Some(rank) => format!("waiting for {}: #{rank} in queue, {waited}", s.what),
        None => format!("waiting for {}: {waited}", s.what),
    }
}
