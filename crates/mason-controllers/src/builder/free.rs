//! The free stage and garbage collection.
//!
//! Free parks each physical resource, unowned, in a state equal to the virtual
//! resource's name, then releases the virtual resource to `free`. Upstream does it the
//! other way round, which leaves a window where a user can acquire the virtual resource
//! before its physical ones are parked (the Mason client then fails); parking first
//! closes it. If releasing the virtual resource fails after the physical ones are
//! parked, it is garbage-collected to `dirty` and its recycle takes them back.
//!
//! Garbage collection releases the virtual resource to `dirty` and every physical one
//! still held to the given state; errors are logged (a resource we cannot release has
//! been taken from us already, or the reaper will get it).

use mason_types::{state, UserData, LEASED_RESOURCES};

use super::pipeline::{Build, Ctx, StageError};

/// Park the physical resources under the virtual one's name and release it free.
pub(crate) async fn free(ctx: &Ctx, build: &mut Build) -> Result<(), StageError> {
    let vname = build.virt.name.clone();
    while let Some(p) = build.leased.last() {
        let pname = p.name.clone();
        ctx.held.forget(&pname);
        if let Err(e) = ctx.client.release(&pname, &vname).await {
            ctx.held.hold(&pname, state::LEASED);
            return Err(StageError::api(format!("parking {pname} under {vname}"), e));
        }
        build.leased.pop();
    }
    ctx.held.forget(&vname);
    if let Err(e) = ctx.client.release(&vname, state::FREE).await {
        ctx.held.hold(&vname, state::CLEANING);
        return Err(StageError::api(format!("releasing {vname} to free"), e));
    }
    Ok(())
}

/// Release everything `build` holds: the virtual resource to `dirty`, the physical ones
/// to `physical_dest`.
pub(crate) async fn collect_garbage(ctx: &Ctx, build: &mut Build, physical_dest: &str) {
    // When every recorded name is released right here, forget them on the virtual
    // resource too; when some are parked under its name, keep the record so its next
    // recycle takes them back.
    let recorded = build.virt.userdata.leased_resources().unwrap_or_default();
    if !recorded.is_empty()
        && recorded
            .iter()
            .all(|n| build.leased.iter().any(|p| &p.name == n))
    {
        let clear: UserData = [(LEASED_RESOURCES, "")].into_iter().collect();
        if let Err(e) = ctx
            .client
            .update(&build.virt.name, state::CLEANING, Some(&clear))
            .await
        {
            tracing::debug!(resource = %build.virt.name, error = %e, "cannot clear leasedResources");
        }
    }
    for p in build.leased.drain(..) {
        ctx.held.forget(&p.name);
        match ctx.client.release(&p.name, physical_dest).await {
            Ok(()) => {
                tracing::debug!(resource = %p.name, dest = %physical_dest, "physical resource released")
            }
            Err(e) => {
                tracing::warn!(resource = %p.name, dest = %physical_dest, error = %e, "cannot release a physical resource")
            }
        }
    }
    let vname = &build.virt.name;
    ctx.held.forget(vname);
    match ctx.client.release(vname, state::DIRTY).await {
        Ok(()) => tracing::debug!(resource = %vname, "virtual resource released to dirty"),
        Err(e) => {
            tracing::warn!(resource = %vname, error = %e, "cannot release a virtual resource to dirty")
        }
    }
}
