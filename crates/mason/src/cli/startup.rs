//! The start of the two server commands (`serve`, `up`), in the order that makes a failed
//! start change nothing anywhere: the caller first reads and validates the config
//! (`config_check::preload`) and binds every listener; only then does
//! [`open_and_sync`] open the store and write the config into it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mason_server::auth::AuthGate;
use mason_server::lease::StoreBackend;
use mason_server::{AppState, ConfigSource, Error as ServerError};
use mason_store::open::StoreOptions;
use mason_store::{Store, StoreUrl, SystemClock};

use crate::cli::store_opts::ServeStoreOpts;
use crate::exit::{self, Exit};

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
    tracing::info!(store = %url, backend = store.backend(), "store opened");
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
