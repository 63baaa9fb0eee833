//! Connecting: the connection string, the settings mason insists on, and the pool.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;
use tokio_postgres::NoTls;

use super::PostgresOptions;
use crate::{Error, Result};

/// The longest a call waits for a connection (from the pool or a new one) before
/// answering [`Error::Unavailable`]; shorter when the store's deadline is.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a call may wait for a pooled or new connection: the store's deadline, at
/// most [`CONNECT_TIMEOUT`].
fn wait_limit(options: &PostgresOptions) -> Duration {
    options.timeout.min(CONNECT_TIMEOUT)
}

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
        config.connect_timeout(wait_limit(options));
    }
    // The server gives up on a statement stuck behind a lock after the store's deadline
    // and on any statement after the bulk deadline, so work the client abandoned does
    // not linger. Later `-c` settings win: the URL's own `options` come last.
    let ms = |d: Duration| d.as_millis().max(1);
    let mine = format!(
        "-c lock_timeout={} -c statement_timeout={}",
        ms(options.timeout),
        ms(super::txn::BULK_TIMEOUT.max(options.timeout))
    );
    let options_param = match config.get_options() {
        Some(theirs) if !theirs.is_empty() => format!("{mine} {theirs}"),
        _ => mine,
    };
    config.options(options_param);
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
        .wait_timeout(Some(wait_limit(options)))
        .create_timeout(Some(wait_limit(options)))
        .recycle_timeout(Some(wait_limit(options)))
        .build()
        .map_err(|e| Error::backend_from("cannot build the PostgreSQL pool", e))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn options(url: &str, timeout: Duration) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            pool_size: 4,
            request_ttl: crate::DEFAULT_REQUEST_TTL,
            clock: Arc::new(crate::SystemClock),
            timeout,
        }
    }

    #[test]
    fn the_server_gets_lock_and_statement_timeouts_and_the_url_options_win() {
        let config = config(&options("postgres://u@h/db", Duration::from_secs(2))).unwrap();
        assert_eq!(
            config.get_options(),
            Some("-c lock_timeout=2000 -c statement_timeout=30000")
        );
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(2)));
        let url = "postgres://u@h/db?options=-c%20lock_timeout%3D9";
        let config = config_of(url);
        assert_eq!(
            config.get_options(),
            Some("-c lock_timeout=5000 -c statement_timeout=30000 -c lock_timeout=9")
        );
        let long = config_long();
        assert_eq!(long.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
    }

    fn config_of(url: &str) -> tokio_postgres::Config {
        config(&options(url, Duration::from_secs(5))).unwrap()
    }

    fn config_long() -> tokio_postgres::Config {
        config(&options("postgres://u@h/db", Duration::from_secs(60))).unwrap()
    }
}
