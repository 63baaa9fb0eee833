//! Step 1 of `mason run`: waiting for what the command needs — one resource (the plain
//! Boskos acquire, polling with one request ID and showing progress) or a set (all or
//! nothing; the server holds the request until the set is free) — and taking the
//! physical resources of any virtual resource. A signal meanwhile stops the wait (exit
//! 130/143), running out of `--timeout` exits 3; either way nothing runs.

use std::io::IsTerminal;
use std::time::Duration;

use mason_client::{Error, HttpClient, VirtualLease, Wait};
use mason_types::{format_go_duration, ResourceV2};

use super::{progress, Opts, COMMAND};
use crate::cli::diagnose;
use crate::cli::leased;
use crate::cli::signals::Signals;
use crate::cli::translate::{self, fail, Asked};
use crate::cmd::resource_set;
use crate::exit::{self, Exit};

/// Step 1 for one resource: wait for it (with progress), then take a virtual
/// resource's physical ones.
pub(super) async fn one(
    client: &HttpClient,
    opts: &Opts,
    rtype: &str,
    signals: &mut Signals,
) -> anyhow::Result<VirtualLease> {
    let what = format!("a {rtype:?} resource in state {:?}", opts.state);
    let display = progress::Progress::start(what.clone(), std::io::stderr().is_terminal());
    let wait = Wait::new()
        .timeout(opts.timeout)
        .on_progress(display.hook());
    let asked = (rtype, opts.state.as_str(), opts.target_state.as_str());
    let acquired = tokio::select! {
        outcome = diagnose::acquire(client, asked, Some(&wait), COMMAND) => outcome,
        sig = signals.next() => {
            display.finish();
            let msg = format!("{COMMAND}: interrupted while waiting for a resource ({})", sig.name());
            return Err(Exit::new(sig.exit_code(), msg).into());
        }
    };
    display.finish();
    let resource = match acquired {
        Ok(resource) => resource,
        Err(diagnose::Failed {
            error: Error::Timeout { waited, .. },
            ..
        }) => {
            let waited = format_go_duration(Duration::from_secs(waited.as_secs()));
            let msg =
                format!("{COMMAND}: no resource became available: waited {waited} for {what}");
            return Err(Exit::new(exit::NO_RESOURCE, msg).into());
        }
        Err(failed) => {
            let asked = Asked::Acquire {
                rtype,
                state: &opts.state,
            };
            let context = format!("{COMMAND}: failed to acquire a resource");
            return Err(fail(context, &failed.error, asked).into());
        }
    };
    leased::take_leased(client, resource, &opts.target_state)
        .await
        .map_err(|e| {
            let msg = format!("{COMMAND}: failed to acquire a resource: {e}");
            Exit::new(leased::exit_code(&e), msg).into()
        })
}

/// Step 1 for a set: wait for all of it (the server holds the request), then take the
/// virtual resources' physical ones.
pub(super) async fn set(
    client: &HttpClient,
    opts: &Opts,
    signals: &mut Signals,
) -> anyhow::Result<(Vec<ResourceV2>, Vec<VirtualLease>)> {
    let items = resource_set::items(&opts.types, &opts.state, &opts.target_state)
        .map_err(|e| Exit::new(exit::USAGE, format!("{COMMAND}: {e}")))?;
    let what = items
        .iter()
        .map(|i| format!("{} {:?}", i.count, i.rtype))
        .collect::<Vec<_>>()
        .join(" + ");
    let what = format!("{what} in state {:?}", opts.state);
    let display = progress::Progress::start(what.clone(), std::io::stderr().is_terminal());
    let wait = Wait::new()
        .timeout(opts.timeout)
        .on_progress(display.hook());
    let acquired = tokio::select! {
        outcome = resource_set::acquire(client, items, opts.priority, Some(&wait)) => outcome,
        sig = signals.next() => {
            display.finish();
            let msg = format!("{COMMAND}: interrupted while waiting for the resources ({})", sig.name());
            return Err(Exit::new(sig.exit_code(), msg).into());
        }
    };
    display.finish();
    let granted = match acquired {
        Ok(granted) => granted,
        Err(Error::Timeout { waited, .. }) => {
            let waited = format_go_duration(Duration::from_secs(waited.as_secs()));
            let msg = format!(
                "{COMMAND}: the resources did not become available: waited {waited} for {what}"
            );
            return Err(Exit::new(exit::NO_RESOURCE, msg).into());
        }
        Err(e) => {
            let msg = format!("{COMMAND}: failed to acquire the resources: {e}");
            return Err(Exit::new(translate::exit_code(&e, true), msg).into());
        }
    };
    let leases = resource_set::take_leased(client, &granted, &opts.target_state, &opts.state)
        .await
        .map_err(|e| {
            let msg = format!("{COMMAND}: failed to acquire the resources: {e}");
            Exit::new(leased::exit_code(&e), msg)
        })?;
    Ok((granted, leases))
}
