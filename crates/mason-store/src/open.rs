//! Store URLs and opening a store: the only place that matches on the engine.
//!
//! - `sqlite://PATH` — a file relative to the working directory (`sqlite://mason.db`);
//! - `sqlite:///ABS/PATH` — an absolute path;
//! - `sqlite::memory:` — a private in-memory database (tests);
//! - `postgres://USER@HOST:PORT/DB` (or `postgresql://`) — PostgreSQL.
//!
//! SQLite options go in the query string: `?synchronous=full` makes every commit survive
//! power loss (the default, `normal`, survives any process crash, which is what "no
//! acknowledged lease is lost on kill -9" needs, at a fraction of the cost).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use crate::{Error, Result, Store, DEFAULT_REQUEST_TTL};

/// A parsed `--store` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A SQLite file (or `:memory:`).
    Sqlite {
        /// The database file; `None` = in memory.
        path: Option<PathBuf>,
        /// Commit durability.
        synchronous: Synchronous,
    },
    /// A PostgreSQL connection string, as given.
    Postgres(String),
}

impl FromStr for StoreUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("sqlite:") {
            let (target, query) = match rest.split_once('?') {
                Some((t, q)) => (t, Some(q)),
                None => (rest, None),
            };
            let mut synchronous = Synchronous::Normal;
            if let Some(query) = query {
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    match pair.split_once('=') {
                        Some(("synchronous", v)) => synchronous = v.parse()?,
                        _ => {
                            return Err(Error::InvalidArgument(format!(
                            "unknown sqlite store option {pair:?} (known: synchronous=normal|full)"
                        )))
                        }
                    }
                }
            }
            let path = if target == ":memory:" {
                None
            } else if let Some(p) = target.strip_prefix("//") {
                if p.is_empty() {
                    return Err(Error::InvalidArgument(
                        "sqlite store URL has no path (try sqlite://mason.db)".into(),
                    ));
                }
                Some(PathBuf::from(p))
            } else {
                return Err(Error::InvalidArgument(format!(
                    "bad sqlite store URL {s:?}: use sqlite://RELATIVE/PATH, sqlite:///ABSOLUTE/PATH or sqlite::memory:"
                )));
            };
            return Ok(StoreUrl::Sqlite { path, synchronous });
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(s.to_string()));
        }
        Err(Error::InvalidArgument(format!(
            "unsupported store URL {s:?}: expected sqlite://PATH, sqlite:///ABS/PATH, sqlite::memory: or postgres://USER@HOST:PORT/DB"
        )))
    }
}

impl fmt::Display for StoreUrl {
    /// Prints the URL with any password redacted, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite { path: None, .. } => write!(f, "sqlite::memory:"),
            StoreUrl::Sqlite { path: Some(p), .. } => write!(f, "sqlite://{}", p.display()),
            StoreUrl::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Settings shared by every backend.
#[derive(Clone)]
pub struct StoreOptions {
    /// How long a `request_id` keeps its rank without polling.
    pub request_ttl: Duration,
    /// Time source for stored timestamps.
    pub clock: Arc<dyn Clock>,
    /// SQLite: create a new empty store even where one was created before and is now
    /// missing (`--create`); without it that is an error (a lost store).
    pub create: bool,
    /// The deadline of every store call (`--store-timeout`).
    pub timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            request_ttl: DEFAULT_REQUEST_TTL,
            clock: Arc::new(SystemClock),
            create: false,
            timeout: crate::DEFAULT_STORE_TIMEOUT,
        }
    }
}

/// Open (creating and migrating when needed) the store at `url`.
pub async fn open(url: &StoreUrl, options: StoreOptions) -> Result<Arc<dyn Store>> {
    match url {
        StoreUrl::Sqlite { path, synchronous } => {
            let opts = SqliteOptions {
                path: path.clone(),
                synchronous: *synchronous,
                request_ttl: options.request_ttl,
                clock: options.clock,
                create: options.create,
                timeout: options.timeout,
            };
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(opts))
                .await
                .map_err(|e| Error::backend_from("the SQLite opening task failed", e))??;
            Ok(Arc::new(store))
        }
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres(url) => {
            let store = crate::postgres::PostgresStore::open(crate::postgres::PostgresOptions {
                url: url.clone(),
                pool_size: crate::postgres::DEFAULT_POOL_SIZE,
                request_ttl: options.request_ttl,
                clock: options.clock,
                timeout: options.timeout,
            })
            .await?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "postgres"))]
        StoreUrl::Postgres(_) => Err(Error::InvalidArgument(
            "this build has no PostgreSQL support (build mason-store with the `postgres` feature)"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_urls() {
        assert_eq!(
            "sqlite://mason.db".parse::<StoreUrl>().unwrap(),
            StoreUrl::Sqlite {
                path: Some("mason.db".into()),
                synchronous: Synchronous::Normal
            }
        );
        assert_eq!(
            "sqlite:///var/lib/mason.db?synchronous=full"
                .parse::<StoreUrl>()
                .unwrap(),
            StoreUrl::Sqlite {
                path: Some("/var/lib/mason.db".into()),
                synchronous: Synchronous::Full
            }
        );
        assert_eq!(
            "sqlite::memory:".parse::<StoreUrl>().unwrap(),
            StoreUrl::Sqlite {
                path: None,
                synchronous: Synchronous::Normal
            }
        );
        assert!("sqlite:mason.db".parse::<StoreUrl>().is_err());
        assert!("sqlite://".parse::<StoreUrl>().is_err());
        assert!("sqlite://x.db?fast=1".parse::<StoreUrl>().is_err());
        assert!("mysql://x".parse::<StoreUrl>().is_err());
    }

    #[test]
    fn redacts_passwords() {
        let url: StoreUrl = "postgres://u:secret@h:5432/db".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://u:***@h:5432/db");
    }
}
