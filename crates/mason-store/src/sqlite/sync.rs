//! Config sync and dynamic upkeep on SQLite: load a snapshot, plan with
//! [`crate::rules`], apply the plan with compare-and-set conditions, all in the caller's
//! transaction.

use mason_types::BoskosConfig;
use rusqlite::Transaction;

use super::Ctx;
use crate::{Error, Result, SyncReport};

pub(super) fn sync_config(
    _tx: &Transaction<'_>,
    _ctx: &Ctx,
    _config: &BoskosConfig,
) -> Result<SyncReport> {
    Err(Error::Backend("config sync is being written".into()))
}

pub(super) fn sync_dynamic(_tx: &Transaction<'_>, _ctx: &Ctx) -> Result<SyncReport> {
    Err(Error::Backend("dynamic upkeep is being written".into()))
}
