//! Connecting: the connection string, the settings mason insists on, and the pool.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;
use tokio_postgres::NoTls;

use super::PostgresOptions;
use crate::{Error, Result};

/// How long a call waits for a connection (from the pool or a new one) before answering
/// [`Error::Unavailable`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool for `options` (connections are made on demand; nothing is dialled yet).
pub(super) fn pool(options: &PostgresOptions) -> Result<Pool> {
    pool_for(options, config(options)?)
}

/// The connection settings of `options`, with the ones mason insists on.
pub(super) fn config(options: &PostgresOptions) -> Result<tokio_postgres::Config> {
    let mut config = tokio_postgres::Config::from_str(&options.url)
        .map_err(|e| Error::InvalidArgument(format!("bad PostgreSQL connection string: {e}")))?;
    if config.get_ssl_mode() == SslMode::Require {
        return Err(Error::InvalidArgument(
            "TLS connections to PostgreSQL are not supported yet (sslmode=require); \
             use sslmode=disable or prefer"
                .into(),
        ));
    }
    if config.get_application_name().is_none() {
        config.application_name("mason");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config)
}

/// The pool of connections made with `config`.
fn pool_for(options: &PostgresOptions, config: tokio_postgres::Config) -> Result<Pool> {
    if options.pool_size == 0 {
        return Err(Error::InvalidArgument(
            "PostgreSQL pool size must be at least 1".into(),
        ));
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| Error::backend_from("cannot build the PostgreSQL pool", e))
}
