//! The store conformance suite on SQLite (in memory).

use std::sync::Arc;

use mason_store::{conformance::Harness, sqlite::SqliteStore, ManualClock};

mason_store::store_conformance_suite!(async {
    let clock = Arc::new(ManualClock::at_upstream_epoch());
    let store = SqliteStore::in_memory(clock.clone()).expect("open sqlite");
    Harness {
        store: Arc::new(store),
        clock,
    }
});
