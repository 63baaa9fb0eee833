//! Keeps one recycler per pool in step with the pool definitions: loads them from the
//! [`PoolSource`] every `pool_reload` (and at once when a converter is registered),
//! starts a recycler for each new pool whose `config.type` has a converter, hands a
//! changed definition to the running recycler (in-flight builds pick it up at their
//! construct), and stops the recycler of a removed pool.
//!
//! A converter that refuses a pool's content is logged and shown as the pool's
//! `blocked` reason; a pool already running keeps its previous definition. A failed load
//! keeps every pool as it was. Each load is one run of the builder's loop status (named
//! `builder`): last run, next run, and a failed load as its last error.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mason_types::DynamicResourceLifeCycle;
use tokio::sync::{watch, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::masonable::ConverterRegistry;
use super::pipeline::{Backoff, Ctx, Pool};
use super::pools::PoolSource;
use super::recycle::Recycler;

struct Managed {
    drlc: DynamicResourceLifeCycle,
    /// `None` when the converter refused the content and no recycler runs.
    tx: Option<watch::Sender<Option<Arc<Pool>>>>,
}

pub(crate) struct PoolManager {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) source: Arc<dyn PoolSource>,
    pub(crate) registry: Arc<Mutex<ConverterRegistry>>,
    pub(crate) registry_changed: Arc<Notify>,
    pub(crate) tracker: TaskTracker,
    pub(crate) cancel: CancellationToken,
    pools: BTreeMap<String, Managed>,
    last_error: Option<String>,
}

impl PoolManager {
    pub(crate) fn new(
        ctx: Arc<Ctx>,
        source: Arc<dyn PoolSource>,
        registry: Arc<Mutex<ConverterRegistry>>,
        registry_changed: Arc<Notify>,
        tracker: TaskTracker,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            ctx,
            source,
            registry,
            registry_changed,
            tracker,
            cancel,
            pools: BTreeMap::new(),
            last_error: None,
        }
    }

    /// Load and reconcile until cancelled.
    pub(crate) async fn run(mut self) {
        tracing::info!(source = %self.source.describe(), "builder reads pool definitions");
        let registry_changed = self.registry_changed.clone();
        self.ctx.status.update_manager(|s| s.running = true);
        loop {
            let mut notified = std::pin::pin!(registry_changed.notified());
            notified.as_mut().enable();
            self.load_once().await;
            let next = crate::runner::wall_clock_in(self.ctx.options.pool_reload);
            self.ctx.status.update_manager(|s| s.next_run = next);
            // Shutdown first: a pending wake-up (a converter registered before the run)
            // must not buy another load.
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break,
                _ = tokio::time::sleep(self.ctx.options.pool_reload) => {}
                _ = notified => {}
            }
        }
        for managed in self.pools.values() {
            if let Some(tx) = &managed.tx {
                let _ = tx.send(None);
            }
        }
        self.ctx.status.update_manager(|s| {
            s.running = false;
            s.next_run = None;
        });
    }

    /// One load + reconcile.
    pub(crate) async fn load_once(&mut self) {
        let loaded = self.source.load().await;
        let outcome = loaded.as_ref().map(|_| ()).map_err(|e| e.to_string());
        self.ctx
            .status
            .update_manager(|s| s.record_run(chrono::Utc::now(), outcome));
        match loaded {
            Ok(drlcs) => {
                if self.last_error.take().is_some() {
                    tracing::info!(source = %self.source.describe(), "pool definitions load again");
                }
                self.ctx.status.update(|s| {
                    s.pool_source_error = None;
                    s.pool_loads += 1;
                });
                self.reconcile(drlcs);
            }
            // Shutdown (a guarded source): the manager stops next.
            Err(super::pools::PoolSourceError::Cancelled) => {}
            Err(e) => {
                let text = e.to_string();
                if self.last_error.as_deref() != Some(&text) {
                    tracing::error!(error = %text, "cannot load pool definitions; keeping the previous ones");
                }
                self.ctx
                    .status
                    .update(|s| s.pool_source_error = Some(text.clone()));
                self.last_error = Some(text);
            }
        }
    }

    fn reconcile(&mut self, drlcs: Vec<DynamicResourceLifeCycle>) {
        let registry = self.registry.lock().expect("registry lock").clone();
        let wanted: BTreeMap<String, DynamicResourceLifeCycle> = drlcs
            .into_iter()
            .filter(|d| registry.contains(&d.config.ctype))
            .map(|d| (d.rtype.clone(), d))
            .collect();

        let removed: Vec<String> = self
            .pools
            .keys()
            .filter(|t| !wanted.contains_key(*t))
            .cloned()
            .collect();
        for rtype in removed {
            if let Some(Managed { tx: Some(tx), .. }) = self.pools.remove(&rtype) {
                let _ = tx.send(None);
            }
            self.ctx.status.remove_pool(&rtype);
            tracing::info!(%rtype, "pool no longer defined; its recycler stops");
        }

        for (rtype, drlc) in wanted {
            // Unchanged definitions need nothing; a refused one is retried when it changes.
            if self.pools.get(&rtype).is_some_and(|m| m.drlc == drlc) {
                continue;
            }
            let ctype = drlc.config.ctype.clone();
            match registry.convert(&ctype, &drlc.config.content) {
                Ok(masonable) => {
                    let pool = Arc::new(Pool {
                        drlc: drlc.clone(),
                        masonable,
                    });
                    self.ctx.status.pool(&rtype, |p| {
                        p.converter = ctype.clone();
                        p.blocked = None;
                    });
                    match self.pools.get_mut(&rtype) {
                        Some(Managed {
                            drlc: d,
                            tx: Some(tx),
                        }) => {
                            *d = drlc;
                            let _ = tx.send(Some(pool));
                            tracing::info!(%rtype, "pool definition changed");
                        }
                        _ => {
                            tracing::info!(%rtype, converter = %ctype, min = drlc.min_count, max = drlc.max_count, needs = ?drlc.needs, "building pool");
                            let tx = self.spawn_recycler(&rtype, pool);
                            self.pools.insert(rtype, Managed { drlc, tx: Some(tx) });
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(%rtype, error = %e, "cannot build this pool with its config");
                    let running = self.pools.get(&rtype).is_some_and(|m| m.tx.is_some());
                    self.ctx.status.pool(&rtype, |p| {
                        p.converter = ctype.clone();
                        if running {
                            p.last_error = Some(e.to_string());
                        } else {
                            p.blocked = Some(e.to_string());
                        }
                    });
                    match self.pools.get_mut(&rtype) {
                        Some(m) => m.drlc = drlc,
                        None => {
                            self.pools.insert(rtype, Managed { drlc, tx: None });
                        }
                    }
                }
            }
        }
    }

    fn spawn_recycler(&self, rtype: &str, pool: Arc<Pool>) -> watch::Sender<Option<Arc<Pool>>> {
        let (tx, rx) = watch::channel(Some(pool));
        let recycler = Recycler {
            ctx: self.ctx.clone(),
            rtype: rtype.to_string(),
            pool: rx,
            slots: Arc::new(Semaphore::new(
                self.ctx.options.max_in_flight_per_pool.max(1),
            )),
            backoff: Arc::new(Mutex::new(Backoff::default())),
            tracker: self.tracker.clone(),
            cancel: self.cancel.clone(),
        };
        self.tracker.spawn(recycler.run());
        tx
    }
}
