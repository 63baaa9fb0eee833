//! The construct stage: run the pool's [`super::Masonable`] on the virtual resource and
//! its leased physical ones, then merge the user data it returns (one `/update`).
//!
//! At most `cleaner_count` constructs run at once across all pools. Each gets a child
//! cancellation token; it is cancelled when the construct exceeds its timeout (the
//! Masonable's own, else the builder's default) or the builder stops. A construct that
//! ignores cancellation is abandoned after a short grace period.

use std::time::Duration;

use mason_types::{state, UserData, LEASED_RESOURCES};
use tokio_util::sync::CancellationToken;

use super::masonable::{ConstructError, TypeToResources};
use super::pipeline::{Build, Ctx, PoolWatch, StageError};

/// How long a cancelled construct may take to wind down.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Run the construct of `build` and merge its user data.
pub(crate) async fn construct(
    ctx: &Ctx,
    build: &mut Build,
    pool: &PoolWatch,
    cancel: &CancellationToken,
) -> Result<(), StageError> {
    let _slot = tokio::select! {
        slot = ctx.construct_slots.acquire() => slot.expect("construct slots are never closed"),
        _ = cancel.cancelled() => return Err(StageError::Cancelled),
    };
    let Some(pool) = pool.borrow().clone() else {
        return Err(StageError::PoolRemoved(build.virt.rtype.clone()));
    };
    let mut leased = TypeToResources::new();
    for r in &build.leased {
        leased.entry(r.rtype.clone()).or_default().push(r.clone());
    }
    let timeout = pool
        .masonable
        .timeout()
        .unwrap_or(ctx.options.construct_timeout);
    let token = cancel.child_token();
    let name = build.virt.name.clone();
    let result = {
        let work = pool
            .masonable
            .construct(&build.virt, &leased, token.clone());
        tokio::pin!(work);
        tokio::select! {
            r = &mut work => r,
            _ = tokio::time::sleep(timeout) => {
                token.cancel();
                let _ = tokio::time::timeout(CANCEL_GRACE, &mut work).await;
                Err(ConstructError::TimedOut(timeout))
            }
            _ = cancel.cancelled() => {
                match tokio::time::timeout(CANCEL_GRACE, &mut work).await {
                    Ok(Ok(_)) | Err(_) => Err(ConstructError::Cancelled),
                    Ok(Err(e)) => Err(e),
                }
            }
        }
    };
    let mut userdata: UserData = result.map_err(|source| StageError::Construct {
        name: name.clone(),
        source,
    })?;
    if userdata.remove(LEASED_RESOURCES).is_some() {
        tracing::warn!(resource = %name, "construct returned {LEASED_RESOURCES}; ignored (the builder owns that key)");
    }
    if !userdata.is_empty() {
        ctx.client
            .update(&name, state::CLEANING, Some(&userdata))
            .await
            .map_err(|e| StageError::api(format!("storing the user data of {name}"), e))?;
        build.virt.userdata.merge(&userdata);
    }
    Ok(())
}
