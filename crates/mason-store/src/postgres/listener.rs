//! "Resources may be available" across replicas: the database notifies channel
//! `mason_availability` on commit (a trigger on unowned resources, the queue's garbage
//! collection; see migration 3), and one connection per store `LISTEN`s and forwards
//! every notification into the store's [`Signals`]. It starts with the first receiver
//! ([`crate::Store::availability`]), reconnects after any failure (with a short
//! backoff) and, whenever it (re)connects, sends [`Availability::Unknown`]: what was
//! notified while it was away is lost. It stops when the store is dropped.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::availability::{Signals, CHANNEL};
use crate::Availability;

/// The wait before reconnecting after a failure, doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The listening task; aborted on drop.
pub(super) struct Listener(JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Listener {
    /// Start listening with `config`, forwarding into `signals`. Must be called within a
    /// Tokio runtime.
    pub(super) fn start(config: tokio_postgres::Config, signals: Signals) -> Self {
        Self(tokio::spawn(listen_forever(config, signals)))
    }
}

async fn listen_forever(config: tokio_postgres::Config, signals: Signals) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match listen_once(&config, &signals).await {
            Ok(()) => {
                tracing::warn!(
                    "the PostgreSQL availability listener's connection closed; reconnecting"
                );
                backoff = FIRST_BACKOFF;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the PostgreSQL availability listener failed; reconnecting");
            }
        }
        signals.send(Availability::Unknown);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connect, `LISTEN`, and forward notifications until the connection ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    signals: &Signals,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    // The connection must be polled for the LISTEN to complete: both run here at once.
    let forward = async {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) if n.channel() == CHANNEL => {
                    signals.send(Availability::from_payload(n.payload()));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    };
    let subscribe = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        // Anything notified before this point may have been missed.
        signals.send(Availability::Unknown);
        std::future::pending::<Result<(), tokio_postgres::Error>>().await
    };
    tokio::select! {
        outcome = forward => outcome,
        outcome = subscribe => outcome,
    }
}
