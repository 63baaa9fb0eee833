//! The resource history over HTTP: `GET /api/v2/events` (pages) and
//! `GET /api/v2/events/stream` (Server-Sent Events), both over an [`EventLog`], the
//! store's append-only table of changes.
//!
//! Layout:
//! - [`filter`]: the query (filters, `after`, `limit`) and its 400s.
//! - [`hub`]: [`EventHub`], one follower of the log per server fanned out to every
//!   stream subscriber.
//! - `store_log`: [`StoreLog`], the store's events table as an [`EventLog`].
//! - `stream`: one subscriber: backlog from the log, then live batches, no gap and no
//!   duplicate.

pub mod filter;
pub mod hub;
mod store_log;
mod stream;

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use mason_types::event::EventPage;
use tokio::sync::watch;

pub use filter::EventFilter;
pub use hub::EventHub;
pub use store_log::StoreLog;
pub(crate) use stream::{into_stream, Subscriber};

/// Where events are read from: the store's events table, seen from this server.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Events with an id above `after` that pass `filter`, oldest first, at most
    /// `limit`; `next` is the highest id the read covered (so a reader moves past events
    /// that did not pass the filter without reading them again).
    async fn read(
        &self,
        after: u64,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<EventPage, mason_store::Error>;

    /// The last `limit` events that pass `filter` with an id below `before` (`None`: the
    /// newest), oldest first; `next` is the highest id the read covered (the head when
    /// `before` is `None`), so a reader goes on from there with `after`.
    async fn latest(
        &self,
        before: Option<u64>,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<EventPage, mason_store::Error>;

    /// The id of the newest event (0 when there is none).
    async fn head(&self) -> Result<u64, mason_store::Error>;

    /// A receiver whose value changes whenever new events may have been written, by this
    /// server or (on PostgreSQL) any other.
    fn changes(&self) -> watch::Receiver<u64>;
}
