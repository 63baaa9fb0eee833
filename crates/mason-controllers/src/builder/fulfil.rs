//! The fulfil stage: acquire every physical resource the virtual one needs
//! (`free` → `leased`), then record their names under `leasedResources` on the virtual
//! resource (upstream's YAML list) in one `/update`.
//!
//! Unlike upstream, which waits forever and one virtual resource at a time, each build
//! fulfils on its own and gives up after `fulfil_timeout`: what it acquired goes back to
//! `free` (nothing touched it), the virtual resource back to `dirty`, and the pool backs
//! off. A need type the server does not know fails at once. A need of count 0 is simply
//! skipped (upstream quirk 14 broke the pipeline on it). Held resources are heartbeated
//! by the heartbeat loop meanwhile.

use std::collections::BTreeMap;
use std::time::Instant;

use mason_client::{BoskosApi, Error};
use mason_types::{format_go_duration, state, UserData};
use tokio_util::sync::CancellationToken;

use super::pipeline::{Build, Ctx, StageError};

/// Whether every need can ever be met: its type exists on the server and has at least
/// as many resources as one build needs. `Err` says why not.
pub(crate) async fn check_needs(
    client: &dyn BoskosApi,
    needs: &BTreeMap<String, u32>,
) -> Result<(), String> {
    for (ptype, &count) in needs.iter().filter(|(_, c)| **c > 0) {
        match client.metric(ptype).await {
            Ok(metric) => {
                let total: u64 = metric.current.values().sum();
                if total < u64::from(count) {
                    return Err(format!(
                        "each build needs {count} {ptype}, but the server has only {total}"
                    ));
                }
            }
            Err(Error::NotFound(_) | Error::TypeNotFound(_)) => {
                return Err(format!(
                    "needed resource type {ptype} does not exist on the server"
                ));
            }
            // The server could not answer; the acquire path will report real trouble.
            Err(e) => tracing::debug!(rtype = %ptype, error = %e, "cannot check a need"),
        }
    }
    Ok(())
}

/// Acquire the needs of `build`, then write `leasedResources`.
pub(crate) async fn fulfil(
    ctx: &Ctx,
    build: &mut Build,
    needs: &BTreeMap<String, u32>,
    cancel: &CancellationToken,
) -> Result<(), StageError> {
    let deadline = Instant::now() + ctx.options.fulfil_timeout;
    for (ptype, &count) in needs {
        let mut have = build.leased.iter().filter(|r| &r.rtype == ptype).count();
        while have < count as usize {
            if cancel.is_cancelled() {
                return Err(StageError::Cancelled);
            }
            match ctx
                .client
                .acquire(ptype, state::FREE, state::LEASED, None)
                .await
            {
                Ok(mut res) => {
                    if res.rtype.is_empty() {
                        res.rtype = ptype.clone();
                    }
                    ctx.held.hold(&res.name, state::LEASED);
                    tracing::debug!(resource = %res.name, rtype = %ptype, for_ = %build.virt.name, "physical resource leased");
                    build.leased.push(res);
                    have += 1;
                }
                Err(Error::TypeNotFound(_)) => {
                    return Err(StageError::NeedUnmeetable(format!(
                        "needed resource type {ptype} does not exist on the server"
                    )));
                }
                Err(e) if e.is_not_found() => {
                    if Instant::now() >= deadline {
                        return Err(StageError::NeedsUnavailable(format!(
                            "no free {ptype} within {} ({have} of {count} acquired)",
                            format_go_duration(ctx.options.fulfil_timeout)
                        )));
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return Err(StageError::Cancelled),
                        _ = tokio::time::sleep(ctx.options.need_poll) => {}
                    }
                }
                Err(e) => return Err(StageError::api(format!("acquiring a free {ptype}"), e)),
            }
        }
    }
    let names: Vec<String> = build.leased.iter().map(|r| r.name.clone()).collect();
    let mut update = UserData::new();
    update.set_leased_resources(&names);
    ctx.client
        .update(&build.virt.name, state::CLEANING, Some(&update))
        .await
        .map_err(|e| {
            StageError::api(
                format!("recording leasedResources on {}", build.virt.name),
                e,
            )
        })?;
    build.virt.userdata.merge(&update);
    Ok(())
}
