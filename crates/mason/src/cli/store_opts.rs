//! The `--store` flag of the commands that work on a store directly (`import`,
//! `export`), and opening it: a SQLite file that must already hold data is never created
//! by accident (a typo would otherwise export an empty store).

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use mason_store::open::StoreOptions;
use mason_store::{Store, StoreUrl};

use crate::exit::{self, Exit};

/// The store flag (same name, env and default as `mason serve`).
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreOpts {
    /// The store: sqlite://RELATIVE/PATH, sqlite:///ABSOLUTE/PATH or postgres://….
    #[arg(
        long,
        env = "MASON_STORE",
        value_name = "URL",
        default_value = "sqlite://mason.db"
    )]
    pub(crate) store: StoreUrl,
}

impl StoreOpts {
    /// Open the store, creating a SQLite file when missing.
    pub(crate) async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        mason_store::open(&self.store, StoreOptions::default())
            .await
            .with_context(|| format!("cannot open store {}", self.store))
    }

    /// Open a store that must exist already (a missing SQLite file is a usage error).
    pub(crate) async fn open_existing(&self) -> anyhow::Result<Arc<dyn Store>> {
        if let StoreUrl::Sqlite {
            path: Some(path), ..
        } = &self.store
        {
            if !path.exists() {
                return Err(Exit::new(
                    exit::USAGE,
                    format!("mason: store {} does not exist", self.store),
                )
                .into());
            }
        }
        self.open().await
    }
}

/// How `serve` and `up` open their store, beyond `--store`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServeStoreOpts {
    /// Start a new empty SQLite store even though one was created at this path before
    /// and its file is now missing (its PATH.lock is there). Without it that is an error:
    /// a lost store is never silently replaced by an empty one.
    #[arg(long)]
    pub(crate) create: bool,
    /// The deadline of every store call (Go duration): a call the store has not answered
    /// by then (a stalled disk, an unreachable database) is answered 503 with
    /// Retry-After, and a call still waiting for the store then is never run.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::cli::client_opts::go_duration)]
    pub(crate) store_timeout: std::time::Duration,
}
