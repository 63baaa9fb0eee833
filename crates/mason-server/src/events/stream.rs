//! One subscriber of `GET /api/v2/events/stream`: the events after its cursor that pass
//! its filters, as Server-Sent Events (`id:` the event id, `event:` its kind, `data:` its
//! JSON), first the backlog from the log, then live from the [`EventHub`].
//!
//! The cursor only moves forward, over ranges the subscriber has fully seen:
//! - a batch that covers ids at or below the cursor is skipped (no duplicate, e.g. right
//!   after a resume with `Last-Event-ID`);
//! - a batch that starts past the cursor, or a broadcast the subscriber fell behind on,
//!   makes it read the gap from the log first (no event skipped).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::Event as SseEvent;
use tokio::sync::broadcast::{self, error::RecvError};

use super::filter::EventFilter;
use super::hub::{Batch, EventHub, Published, READ_BATCH};

/// What a stream sends next.
pub(crate) enum Next {
    /// An event to send, with its id.
    Event(u64, SseEvent),
    /// The stream ends (the server stops, or the log failed; the client resumes with
    /// `Last-Event-ID`).
    End,
}

/// One subscriber's position and filters.
pub(crate) struct Subscriber {
    hub: EventHub,
    filter: EventFilter,
    /// Every event with an id up to here has been sent (or did not pass the filters).
    cursor: u64,
    /// Whether the log may hold events past the cursor that no batch will bring.
    behind: bool,
    rx: broadcast::Receiver<Arc<Batch>>,
    ready: VecDeque<(u64, SseEvent)>,
}

impl Subscriber {
    /// Subscribe, then start after `start` (`None`: after the newest event, i.e. only
    /// what happens from now on).
    pub(crate) async fn start(
        hub: EventHub,
        filter: EventFilter,
        start: Option<u64>,
    ) -> Result<Self, mason_store::Error> {
        // Subscribe first: whatever is written from here on arrives as a batch.
        let rx = hub.subscribe();
        let cursor = match start {
            Some(id) => id,
            None => hub.log().head().await?,
        };
        Ok(Self {
            hub,
            filter,
            cursor,
            behind: true,
            rx,
            ready: VecDeque::new(),
        })
    }

    /// Wait for the next event to send.
    pub(crate) async fn next(&mut self) -> Next {
        loop {
            if let Some((id, event)) = self.ready.pop_front() {
                return Next::Event(id, event);
            }
            if self.behind {
                if let Err(e) = self.read_log().await {
                    tracing::warn!(error = %e, "event stream: cannot read the log; ending the stream");
                    return Next::End;
                }
                continue;
            }
            let received = tokio::select! {
                received = self.rx.recv() => received,
                _ = self.hub.closed() => return Next::End,
            };
            match received {
                Ok(batch) => self.take(&batch),
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        "event stream subscriber fell behind; reading the log"
                    );
                    self.behind = true;
                }
                Err(RecvError::Closed) => return Next::End,
            }
        }
    }

    /// One page of the log after the cursor.
    async fn read_log(&mut self) -> Result<(), mason_store::Error> {
        let page = self
            .hub
            .log()
            .read(self.cursor, &self.filter, READ_BATCH)
            .await?;
        self.behind = page.events.len() >= READ_BATCH;
        for event in page.events {
            if event.id > self.cursor {
                self.ready
                    .push_back((event.id, sse(&Published::new(event))));
            }
        }
        self.cursor = self.cursor.max(page.next);
        Ok(())
    }

    /// A broadcast batch: skipped when already covered, the gap read first when it
    /// starts past the cursor.
    pub(super) fn take(&mut self, batch: &Batch) {
        if batch.next <= self.cursor {
            return;
        }
        if batch.after > self.cursor {
            self.behind = true;
            return;
        }
        for published in &batch.events {
            if published.event.id > self.cursor && self.filter.matches(&published.event) {
                self.ready.push_back((published.event.id, sse(published)));
            }
        }
        self.cursor = batch.next;
    }
}

fn sse(published: &Published) -> SseEvent {
    SseEvent::default()
        .id(published.event.id.to_string())
        .event(published.event.kind.as_str())
        .data(published.json.as_str())
}

/// The subscriber as the body stream of an SSE answer.
pub(crate) fn into_stream(
    subscriber: Subscriber,
) -> impl futures::Stream<Item = Result<SseEvent, Infallible>> + Send {
    futures::stream::unfold(subscriber, |mut subscriber| async move {
        match subscriber.next().await {
            Next::Event(id, event) => {
                tracing::trace!(id, "event sent to a stream subscriber");
                Some((Ok(event), subscriber))
            }
            Next::End => None,
        }
    })
}
