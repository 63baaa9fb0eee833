//! [`EventHub`]: one follower of the event log per server, fanned out to every stream
//! subscriber.
//!
//! The follower wakes when the log says new events were written (any replica's, on
//! PostgreSQL), reads them once, serializes each once, and broadcasts them as a
//! `Batch` that says exactly which id range it covers (`after` < id ≤ `next`). A
//! subscriber filters batches in memory, so a subscriber whose filters match nothing
//! costs a few comparisons per event and no store read, and 100 idle subscribers cost
//! nothing measurable. The follower runs only while someone listens: it starts with the
//! first subscriber and stops at its first wake-up after the last one left.
//!
//! A subscriber never relies on the broadcast alone: when a batch starts past its cursor
//! (it joined late, or fell behind and the channel dropped batches for it) it reads the
//! missing range from the log itself (see `stream`), so nothing is skipped, and ids at
//! or below its cursor are never sent again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mason_types::event::Event;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::filter::EventFilter;
use super::EventLog;

/// Events read per log read.
pub(crate) const READ_BATCH: usize = 1_000;
/// Batches a slow subscriber may fall behind before it reads from the log instead.
const CHANNEL_DEPTH: usize = 256;
/// A read of the log even without a notification (a notification lost with a database
/// connection must not stall the streams). One read per server, not per subscriber.
const FALLBACK_POLL: Duration = Duration::from_secs(5);
/// Pause after a failed read of the log.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One event, with its JSON written once for every subscriber.
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) event: Event,
    pub(crate) json: String,
}

impl Published {
    pub(crate) fn new(event: Event) -> Self {
        let json = serde_json::to_string(&event).expect("an event serializes");
        Self { event, json }
    }
}

/// Every event with `after` < id ≤ `next`, oldest first (a follower's first batch is
/// empty with `after` = `next` = where it starts).
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) after: u64,
    pub(crate) next: u64,
    pub(crate) events: Vec<Published>,
}

/// The fan-out of the event log. Cheap to clone.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

struct Inner {
    log: Arc<dyn EventLog>,
    tx: broadcast::Sender<Arc<Batch>>,
    /// Whether a follower task runs; changed only under this lock, together with the
    /// subscriber count check, so a subscriber never joins a follower that is leaving.
    following: Mutex<bool>,
    /// Cancelled when the server shuts down: every stream ends (an SSE answer would
    /// otherwise hold the graceful shutdown until its deadline).
    closed: CancellationToken,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("subscribers", &self.inner.tx.receiver_count())
            .finish_non_exhaustive()
    }
}

impl EventHub {
    /// A hub over `log`; nothing runs until the first subscriber.
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        let (tx, _) = broadcast::channel(CHANNEL_DEPTH);
        Self {
            inner: Arc::new(Inner {
                log,
                tx,
                following: Mutex::new(false),
                closed: CancellationToken::new(),
            }),
        }
    }

    /// The log this hub follows.
    pub(crate) fn log(&self) -> &Arc<dyn EventLog> {
        &self.inner.log
    }

    /// End every stream (the server is shutting down). Streams opened later end at once.
    pub fn close(&self) {
        self.inner.closed.cancel();
    }

    /// Resolves once [`EventHub::close`] was called.
    pub(crate) async fn closed(&self) {
        self.inner.closed.cancelled().await;
    }

    /// Current subscribers (for tests and logs).
    pub fn subscribers(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// Receive every batch from now on; starts the follower when none runs.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        let mut following = self.inner.following.lock().expect("hub lock");
        let rx = self.inner.tx.subscribe();
        if !*following {
            *following = true;
            tokio::spawn(follow(self.inner.clone()));
        }
        rx
    }
}

/// Read every new event once and broadcast it, while anyone listens.
async fn follow(inner: Arc<Inner>) {
    let mut changes = inner.log.changes();
    let mut cursor = loop {
        match inner.log.head().await {
            Ok(head) => break head,
            Err(e) => {
                tracing::warn!(error = %e, "event stream: cannot read the log head; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                if stop_if_alone(&inner) {
                    return;
                }
            }
        }
    };
    tracing::debug!(cursor, "event follower started");
    // Say where this follower starts: a subscriber whose cursor is behind (events were
    // written between its own read of the log and this start) reads the gap from the log
    // instead of waiting for a batch that will never cover it.
    let _ = inner.tx.send(Arc::new(Batch {
        after: cursor,
        next: cursor,
        events: Vec::new(),
    }));
    loop {
        changes.borrow_and_update();
        match read_on(&inner, &mut cursor).await {
            Ok(()) => {
                tokio::select! {
                    _ = changes.changed() => {}
                    _ = tokio::time::sleep(FALLBACK_POLL) => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "event stream: cannot read the log; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
        if stop_if_alone(&inner) {
            tracing::debug!(cursor, "event follower stopped: no subscribers");
            return;
        }
    }
}

/// Broadcast everything after `cursor`, moving it.
async fn read_on(inner: &Inner, cursor: &mut u64) -> Result<(), mason_store::Error> {
    loop {
        let page = inner
            .log
            .read(*cursor, &EventFilter::default(), READ_BATCH)
            .await?;
        if page.next <= *cursor {
            return Ok(());
        }
        let full = page.events.len() >= READ_BATCH;
        let batch = Batch {
            after: *cursor,
            next: page.next,
            events: page.events.into_iter().map(Published::new).collect(),
        };
        *cursor = batch.next;
        // No receiver left is fine: the follower stops at its next check.
        let _ = inner.tx.send(Arc::new(batch));
        if !full {
            return Ok(());
        }
    }
}

fn stop_if_alone(inner: &Inner) -> bool {
    let mut following = inner.following.lock().expect("hub lock");
    if inner.tx.receiver_count() == 0 {
        *following = false;
        true
    } else {
        false
    }
}
