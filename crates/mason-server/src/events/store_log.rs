//! [`StoreLog`]: the store's `events` table as the [`EventLog`] the hub and the routes
//! read. One call per method; the store checks the query (bad values are its
//! `InvalidArgument`, a 400), decides a read's `next`, and on PostgreSQL hears the other
//! replicas' events (its LISTEN connection), so every replica streams every event.

use std::sync::Arc;

use async_trait::async_trait;
use mason_store::{EventQuery, LatestEventsQuery, Store};
use mason_types::event::EventPage;
use tokio::sync::watch;

use super::{EventFilter, EventLog};

/// The events of a [`Store`].
pub struct StoreLog {
    store: Arc<dyn Store>,
}

impl StoreLog {
    /// The log of `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl EventLog for StoreLog {
    async fn read(
        &self,
        after: u64,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<EventPage, mason_store::Error> {
        self.store
            .events(&EventQuery {
                after,
                filter: filter.clone(),
                limit,
            })
            .await
    }

    async fn latest(
        &self,
        before: Option<u64>,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<EventPage, mason_store::Error> {
        self.store
            .latest_events(&LatestEventsQuery {
                before,
                filter: filter.clone(),
                limit,
            })
            .await
    }

    async fn head(&self) -> Result<u64, mason_store::Error> {
        self.store.event_head().await
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.store.event_changes()
    }
}
