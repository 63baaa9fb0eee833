//! The store's event feed on PostgreSQL: [`EventFeed`] keeps two small background tasks
//! per store, stopped when the store is dropped.
//!
//! - The numberer runs a numbering pass (`events.rs`) shortly after this store's calls
//!   (they poke it; passes are at most one per [`DEBOUNCE`]) and once per [`FALLBACK`]
//!   whatever happens, so the events of a replica that died right after a commit get
//!   their ids too. Numbering happens on a pooled connection, never inside a lease call.
//! - The listener holds one dedicated connection that `LISTEN`s on `mason_events`, which
//!   every numbering pass notifies (by any replica) with the new head, and moves the
//!   store's watch ([`crate::Store::event_changes`]). After a lost connection it
//!   reconnects and re-reads the head (notifications sent meanwhile are lost with it).

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Config, NoTls};

use super::events;

/// The shortest time between two numbering passes started by pokes.
const DEBOUNCE: Duration = Duration::from_millis(10);
/// A numbering pass at least this often.
const FALLBACK: Duration = Duration::from_secs(1);
/// Pause before reconnecting the listener or after a failed pass.
const RETRY: Duration = Duration::from_secs(1);

/// The background side of a store's history.
pub(crate) struct EventFeed {
    head: Arc<watch::Sender<u64>>,
    poke: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl EventFeed {
    /// Start numbering on `pool` and listening with a connection of its own to `config`.
    pub(super) fn start(pool: Pool, config: Config) -> Self {
        let head = Arc::new(watch::Sender::new(0));
        let poke = Arc::new(Notify::new());
        let tasks = vec![
            tokio::spawn(numberer(pool.clone(), Arc::clone(&poke), Arc::clone(&head))),
            tokio::spawn(listener(config, pool, Arc::clone(&head))),
        ];
        Self { head, poke, tasks }
    }

    /// This store called the database: events may wait for an id.
    pub(super) fn poke(&self) {
        self.poke.notify_one();
    }

    /// A follower's receiver.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// A head this store read or numbered itself.
    pub(super) fn saw(&self, head: u64) {
        raise(&self.head, head);
    }
}

impl Drop for EventFeed {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Move the watch forward (never back: a late notification carries an older head).
fn raise(watch: &watch::Sender<u64>, head: u64) {
    watch.send_if_modified(|seen| {
        let moved = head > *seen;
        if moved {
            *seen = head;
        }
        moved
    });
}

async fn numberer(pool: Pool, poke: Arc<Notify>, head: Arc<watch::Sender<u64>>) {
    loop {
        let _ = tokio::time::timeout(FALLBACK, poke.notified()).await;
        let pass = async {
            let mut client = pool.get().await.map_err(super::error::pool_error)?;
            events::number(&mut client)
                .await
                .map_err(super::error::PgError::into_store)
        };
        match pass.await {
            Ok(numbered) => raise(&head, numbered),
            Err(e) => {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "numbering events failed; will retry"
                );
                tokio::time::sleep(RETRY).await;
            }
        }
        tokio::time::sleep(DEBOUNCE).await;
    }
}

async fn listener(config: Config, pool: Pool, head: Arc<watch::Sender<u64>>) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, connection)) => {
                // The connection runs (and relays notifications) in its own task, so the
                // client can send the LISTEN.
                let relay = tokio::spawn(relay(connection, Arc::clone(&head)));
                match client.batch_execute("LISTEN mason_events").await {
                    Ok(()) => {
                        // Whatever was numbered before the LISTEN took effect.
                        if let Ok(c) = pool.get().await {
                            if let Ok(h) = events::head(&c).await {
                                raise(&head, h);
                            }
                        }
                        let _ = relay.await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN for events failed");
                        relay.abort();
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect the event listener"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Drive the listener's connection, raising the watch at each notification, until the
/// connection ends.
async fn relay<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    head: Arc<watch::Sender<u64>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
        match message {
            Ok(AsyncMessage::Notification(n)) => {
                if let Ok(id) = n.payload().parse::<u64>() {
                    raise(&head, id);
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the event listener's connection failed");
                return;
            }
        }
    }
}
