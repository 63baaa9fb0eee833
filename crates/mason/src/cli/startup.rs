//! The start of the two server commands (`serve`, `up`), in the order that makes a failed
//! start change nothing anywhere: the caller first reads and validates the config
//! (`config_check::preload`) and binds every listener ([`listen`]); only then does
//! [`open_and_sync`] open the store and write the config into it. [`listen`] also binds
//! the standalone controllers' `--status-port`: every listener of the binary has the
//! same accept backlog.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mason_server::auth::AuthGate;
use mason_server::lease::StoreBackend;
use mason_server::{AppState, ConfigSource, Error as ServerError};
use mason_store::open::StoreOptions;
use mason_store::{Store, StoreUrl, SystemClock};
use tokio::net::{TcpListener, TcpSocket};

use crate::cli::store_opts::ServeStoreOpts;
use crate::exit::{self, Exit};

/// Pending connections the kernel queues for `accept` (capped by `net.core.somaxconn`).
/// mio's (and std's) 128 overflows when hundreds of clients connect at once while the
/// server is busy: the kernel then drops handshakes, falls back to SYN cookies and resets
/// connections the clients already count as open.
const BACKLOG: u32 = 4096;

/// Bind `addr` with address reuse (as `TcpListener::bind` does) and a [`BACKLOG`] queue:
/// every listener of the binary (`serve`, `up`, and the controllers' status port).
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Open the store at `url` (as `flags` say) and sync the config file at `config` into it (the initial
/// sync: any failure is fatal, as upstream); the server state to serve, checking
/// credentials with `auth` when given.
pub(crate) async fn open_and_sync(
    url: &StoreUrl,
    flags: &ServeStoreOpts,
    request_ttl: Duration,
    config: &Path,
    auth: Option<AuthGate>,
    command: &str,
) -> anyhow::Result<(Arc<dyn Store>, AppState)> {
    if flags.store_timeout.is_zero() {
        return Err(Exit::new(
            exit::USAGE,
            format!("{command}: --store-timeout must be more than 0"),
        )
        .into());
    }
    let options = StoreOptions {
        request_ttl,
        clock: Arc::new(SystemClock),
        create: flags.create,
        timeout: flags.store_timeout,
    };
    let store = mason_store::open(url, options)
        .await
        .with_context(|| format!("cannot open store {url}"))?;
    tracing::info!(
        store = %url,
        backend = store.backend(),
        worker_threads = tokio::runtime::Handle::current().metrics().num_workers(),
        "store opened"
    );
    let mut state = AppState::new(
        store.clone(),
        Arc::new(SystemClock),
        ConfigSource::File(config.to_path_buf()),
    );
    if let Some(gate) = auth {
        state = state.with_auth(gate);
    }
    state
        .lease()
        .set_backend(Arc::new(StoreBackend::new(store.clone())));
    match state.initial_sync().await {
        Ok(report) => tracing::info!(
            config = %config.display(),
            types = ?state.config().current().map(|c| c.types()).unwrap_or_default(),
            created = report.created.len(),
            deleted = report.deleted.len(),
            marked_for_deletion = report.marked_for_deletion.len(),
            "config loaded and synced"
        ),
        Err(e @ (ServerError::ConfigRead { .. } | ServerError::ConfigInvalid { .. })) => {
            return Err(Exit::new(exit::USAGE, format!("{command}: {e}")).into());
        }
        Err(e) => return Err(anyhow::Error::new(e).context("initial config sync failed")),
    }
    Ok((store, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listens_on_a_free_port_and_refuses_one_in_use() {
        let first = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let taken = first.local_addr().unwrap();
        assert_ne!(taken.port(), 0);
        let second = listen(taken).unwrap_err();
        assert_eq!(second.kind(), std::io::ErrorKind::AddrInUse);
    }
}
