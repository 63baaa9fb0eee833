//! One build, start to end: a dirty virtual resource just acquired by its pool's
//! recycler goes through recycle → fulfil → construct → free in one task, each stage
//! handing off to the next at once (no queues, no ticks). Any failure garbage-collects:
//! the virtual resource and every physical one still held are released (see
//! [`super::free::collect_garbage`]).
//!
//! Builds of one pool run concurrently (bounded by the pool's in-flight slots) and
//! constructs of all pools share `cleaner_count` slots, so a pool whose needs are not
//! met holds no construct slot and never blocks another pool.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_client::BoskosApi;
use mason_types::{format_go_duration, DynamicResourceLifeCycle, Resource};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::heartbeat::Held;
use super::masonable::{ConstructError, Masonable};
use super::status::StatusBoard;
use super::BuilderOptions;
use super::{construct, free, fulfil, recycle};

/// What every stage needs.
pub(crate) struct Ctx {
    pub(crate) client: Arc<dyn BoskosApi>,
    pub(crate) options: BuilderOptions,
    pub(crate) held: Held,
    pub(crate) status: StatusBoard,
    /// `cleaner_count` permits: constructs running at once, across pools.
    pub(crate) construct_slots: Arc<Semaphore>,
    /// Wakes every idle recycler at once ([`super::Builder::nudge`]).
    pub(crate) nudge: Arc<tokio::sync::Notify>,
}

/// A pool as loaded: its definition and the Masonable its converter made.
pub(crate) struct Pool {
    pub(crate) drlc: DynamicResourceLifeCycle,
    pub(crate) masonable: Arc<dyn Masonable>,
}

/// The current definition of one pool; `None` once it is removed.
pub(crate) type PoolWatch = watch::Receiver<Option<Arc<Pool>>>;

/// What one build holds.
pub(crate) struct Build {
    /// The virtual resource, with the user data the builder wrote merged in.
    pub(crate) virt: Resource,
    /// Physical resources held in `leased`, in the order they were acquired.
    pub(crate) leased: Vec<Resource>,
}

/// Why a build stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StageError {
    #[error("the builder is stopping")]
    Cancelled,
    #[error("{0}")]
    NeedsUnavailable(String),
    #[error("{0}")]
    NeedUnmeetable(String),
    #[error("pool {0} is no longer defined")]
    PoolRemoved(String),
    #[error("{op} failed: {source}")]
    Api {
        op: String,
        #[source]
        source: mason_client::Error,
    },
    #[error("construct of {name} failed: {source}")]
    Construct {
        name: String,
        #[source]
        source: ConstructError,
    },
}

impl StageError {
    /// A failed call; one abandoned at shutdown ([`crate::shutdown`]) is
    /// [`StageError::Cancelled`].
    pub(crate) fn api(op: impl Into<String>, source: mason_client::Error) -> Self {
        if matches!(source, mason_client::Error::Cancelled) {
            return StageError::Cancelled;
        }
        StageError::Api {
            op: op.into(),
            source,
        }
    }

    /// Where held physical resources go: back to `free` when no construct touched them
    /// (a need was not met), to `dirty` otherwise (they must be cleaned).
    pub(crate) fn physical_dest(&self) -> &'static str {
        match self {
            StageError::NeedsUnavailable(_) | StageError::NeedUnmeetable(_) => {
                mason_types::state::FREE
            }
            _ => mason_types::state::DIRTY,
        }
    }

    fn is_unmet_need(&self) -> bool {
        matches!(
            self,
            StageError::NeedsUnavailable(_) | StageError::NeedUnmeetable(_)
        )
    }

    fn is_cancel(&self) -> bool {
        matches!(
            self,
            StageError::Cancelled
                | StageError::Construct {
                    source: ConstructError::Cancelled,
                    ..
                }
        )
    }
}

/// Consecutive failures of one pool, so a pool whose builds keep failing is retried
/// with growing pauses (1 s doubling, capped) instead of churning resources.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    until: Option<Instant>,
    /// Set when a build found a need it can never meet, so the recycler re-checks.
    pub(crate) recheck_needs: bool,
}

impl Backoff {
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.until
            .and_then(|t| t.checked_duration_since(Instant::now()))
    }

    fn failed(&mut self, options: &BuilderOptions) {
        self.failures = self.failures.saturating_add(1);
        let shift = (self.failures - 1).min(16);
        let delay = options
            .failure_backoff
            .saturating_mul(1 << shift)
            .min(options.max_failure_backoff);
        self.until = Some(Instant::now() + delay);
    }

    fn pause(&mut self, delay: Duration) {
        self.until = Some(Instant::now() + delay);
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.until = None;
    }
}

/// Run one build of `virt` (just acquired dirty → cleaning) to its end.
pub(crate) async fn run_build(
    ctx: Arc<Ctx>,
    mut pool: PoolWatch,
    virt: Resource,
    backoff: Arc<Mutex<Backoff>>,
    _slot: OwnedSemaphorePermit,
    cancel: CancellationToken,
) {
    let rtype = virt.rtype.clone();
    let name = virt.name.clone();
    let started = Instant::now();
    ctx.held.hold(&name, mason_types::state::CLEANING);
    let mut build = Build {
        virt,
        leased: Vec::new(),
    };
    let result = async {
        recycle::release_previous(&ctx, &mut build.virt).await?;
        let needs: BTreeMap<String, u32> = match pool.borrow_and_update().as_ref() {
            Some(p) => p.drlc.needs.clone(),
            None => return Err(StageError::PoolRemoved(rtype.clone())),
        };
        fulfil::fulfil(&ctx, &mut build, &needs, &cancel).await?;
        construct::construct(&ctx, &mut build, &pool, &cancel).await?;
        free::free(&ctx, &mut build).await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(resource = %name, rtype = %rtype, took = %format_go_duration(started.elapsed()), "virtual resource built and free");
            backoff.lock().expect("backoff lock").succeeded();
            ctx.status.pool(&rtype, |p| {
                p.built += 1;
                p.in_flight = p.in_flight.saturating_sub(1);
            });
        }
        Err(e) => {
            if e.is_cancel() {
                tracing::info!(resource = %name, "build interrupted by shutdown; releasing its resources to dirty");
            } else {
                tracing::warn!(resource = %name, rtype = %rtype, error = %e, "build failed; releasing its resources");
            }
            free::collect_garbage(&ctx, &mut build, e.physical_dest()).await;
            {
                let mut b = backoff.lock().expect("backoff lock");
                match &e {
                    _ if e.is_cancel() => {}
                    // The build already waited `fulfil_timeout`: no churn to damp, and a
                    // growing pause would delay the build once resources free up.
                    StageError::NeedsUnavailable(_) => b.pause(ctx.options.failure_backoff),
                    _ => b.failed(&ctx.options),
                }
                b.recheck_needs |= matches!(e, StageError::NeedUnmeetable(_));
            }
            let unmet = e.is_unmet_need();
            let cancelled = e.is_cancel();
            ctx.status.pool(&rtype, |p| {
                p.in_flight = p.in_flight.saturating_sub(1);
                if !cancelled {
                    p.failed += 1;
                    p.last_error = Some(e.to_string());
                }
                if unmet {
                    p.unmet_needs += 1;
                }
            });
        }
    }
    ctx.status.update(|s| s.held = ctx.held.len() as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remaining_secs(b: &Backoff) -> u64 {
        // Rounded up: the pause started a moment ago.
        b.remaining()
            .map_or(0, |d| (d.as_millis() as u64).div_ceil(1000))
    }

    #[test]
    fn failures_double_the_pause_up_to_the_cap_and_success_resets() {
        let options = BuilderOptions::default();
        let mut b = Backoff::default();
        assert_eq!(b.remaining(), None);
        let mut seen = Vec::new();
        for _ in 0..8 {
            b.failed(&options);
            seen.push(remaining_secs(&b));
        }
        assert_eq!(seen, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        b.succeeded();
        assert_eq!(b.remaining(), None);
        b.failed(&options);
        assert_eq!(remaining_secs(&b), 1);
    }

    #[test]
    fn a_pause_does_not_grow_the_backoff() {
        let options = BuilderOptions::default();
        let mut b = Backoff::default();
        b.pause(Duration::from_secs(1));
        b.pause(Duration::from_secs(1));
        assert_eq!(remaining_secs(&b), 1);
        b.failed(&options);
        assert_eq!(remaining_secs(&b), 1);
    }

    #[test]
    fn where_physical_resources_go_after_a_failure() {
        assert_eq!(
            StageError::NeedsUnavailable("x".into()).physical_dest(),
            "free"
        );
        assert_eq!(
            StageError::NeedUnmeetable("x".into()).physical_dest(),
            "free"
        );
        assert_eq!(StageError::Cancelled.physical_dest(), "dirty");
        let construct = StageError::Construct {
            name: "v".into(),
            source: ConstructError::failed("boom"),
        };
        assert_eq!(construct.physical_dest(), "dirty");
        assert_eq!(construct.to_string(), "construct of v failed: boom");
    }
}
