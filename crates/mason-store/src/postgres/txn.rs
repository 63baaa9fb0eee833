//! The transaction runner: every call runs on a pooled connection, within a deadline
//! (the store's `--store-timeout` for point calls, [`BULK_TIMEOUT`] for config sync,
//! import, reset and migrations), and again after a serialization failure or a deadlock.
//! A call is often one statement (its own transaction); the others open a transaction
//! themselves. A connection whose call missed its deadline is discarded, never reused.

use std::time::Duration;

use deadpool_postgres::Object;
use mason_types::Timestamp;

use super::error::PgError;
use super::PostgresStore;
use crate::Error;

/// How many times a transaction is run again after a serialization failure or deadlock.
const MAX_RETRIES: u32 = 5;

/// How long one attempt of a bulk call (config sync, import, reset, migration: possibly
/// every row in one transaction) may take before it is abandoned as
/// [`Error::Unavailable`]; also the server's `statement_timeout`. Point calls have the
/// store's deadline (`--store-timeout`, 5 s by default).
pub(crate) const BULK_TIMEOUT: Duration = Duration::from_secs(30);

/// Per-attempt context handed to the SQL code.
pub(crate) struct Ctx {
    /// The time of this call; every row it writes gets this `lastupdate`.
    pub(crate) now: Timestamp,
    /// Queue TTL.
    pub(crate) request_ttl: Duration,
}

/// Run `$body` (a future using `$client: &mut Object` and `$ctx: &Ctx`) on a pooled
/// connection, again after serialization failures and deadlocks; evaluates to a
/// [`crate::Result`]. A macro rather than a function taking an async closure, because
/// such a closure's future cannot yet be required to be `Send` for every borrow.
macro_rules! run {
    (bulk: $store:expr, |$client:ident, $ctx:ident| $body:expr) => {
        $crate::postgres::txn::run!(@deadline $store, $crate::postgres::txn::BULK_TIMEOUT, |$client, $ctx| $body)
    };
    ($store:expr, |$client:ident, $ctx:ident| $body:expr) => {
        $crate::postgres::txn::run!(@deadline $store, $store.call_timeout(), |$client, $ctx| $body)
    };
    (@deadline $store:expr, $deadline:expr, |$client:ident, $ctx:ident| $body:expr) => {{
        let store: &$crate::postgres::PostgresStore = $store;
        let deadline: std::time::Duration = $deadline;
        match store.pool.get().await {
            Err(e) => Err($crate::postgres::error::pool_error(e)),
            Ok(mut conn) => {
                let mut attempt = 0u32;
                loop {
                    let $ctx = &store.ctx();
                    let $client = &mut conn;
                    let outcome = tokio::time::timeout(deadline, $body).await;
                    match outcome {
                        Ok(Ok(v)) => {
                            // Events this call wrote get their ids soon (event_feed.rs).
                            store.events.poke();
                            break Ok(v);
                        }
                        Ok(Err(e)) => {
                            // A transaction the attempt opened and left on an error was
                            // dropped, not ended: its ROLLBACK is queued on this connection
                            // but may not have run yet, and until it has, the rows it locked
                            // are passed by other connections' `SKIP LOCKED` picks (an
                            // acquire would take the next resource, or none). Wait for it:
                            // one round trip, on failed calls only.
                            if !e.is_connection_lost() {
                                let _ = tokio::time::timeout(deadline, conn.simple_query("")).await;
                            }
                            if let Some(e) = store.retry_or(e, &mut attempt).await {
                                break Err($crate::postgres::PostgresStore::fail(conn, e));
                            }
                        }
                        Err(_) => {
                            break Err($crate::postgres::PostgresStore::abandon(conn, deadline))
                        }
                    }
                }
            }
        }
    }};
}
pub(super) use run;

impl PostgresStore {
    /// The context of one attempt.
    pub(super) fn ctx(&self) -> Ctx {
        Ctx {
            now: self.clock.now(),
            request_ttl: self.request_ttl,
        }
    }

    /// After a failed attempt: `None` when the transaction should run again (PostgreSQL
    /// aborted it for a serialization failure or a deadlock; this waits a short, jittered
    /// backoff first), otherwise the error to hand back.
    pub(super) async fn retry_or(&self, e: PgError, attempt: &mut u32) -> Option<PgError> {
        if e.is_retryable() && *attempt < MAX_RETRIES {
            *attempt += 1;
            tracing::debug!(attempt = *attempt, error = ?e, "retrying a PostgreSQL transaction");
            tokio::time::sleep(backoff(*attempt)).await;
            return None;
        }
        Some(e)
    }

    /// The caller's error for a final failure; a connection that failed is dropped from
    /// the pool instead of being reused.
    pub(super) fn fail(conn: Object, e: PgError) -> Error {
        if e.is_connection_lost() {
            drop(Object::take(conn));
        }
        let e = e.into_store();
        if let Error::Backend { .. } = &e {
            tracing::error!(
                error = &e as &dyn std::error::Error,
                "PostgreSQL call failed"
            );
        }
        e
    }

    /// The deadline of a point call.
    pub(super) fn call_timeout(&self) -> Duration {
        self.timeout
    }

    /// The caller's error for an attempt that outlived its `deadline`. The connection's
    /// state is unknown: it is never reused.
    pub(super) fn abandon(conn: Object, deadline: Duration) -> Error {
        drop(Object::take(conn));
        Error::Unavailable(format!("PostgreSQL did not answer within {deadline:?}"))
    }
}

/// 2 ms, 4 ms, 8 ms… with up to 50 % jitter, so replicas that collided do not collide
/// again in lockstep.
fn backoff(attempt: u32) -> Duration {
    let base = 2u64 << attempt.min(8);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    Duration::from_millis(base) + Duration::from_micros(nanos % (base * 500))
}
