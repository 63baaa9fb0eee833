//! A store wrapper that fails every call on demand, to test how store faults are
//! answered (500/503, readiness).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mason_store::{
    AcquireByStateRequest, AcquireRequest, Acquired, Availability, Error, EventQuery, ExpireReport,
    ExpireRequest, ImportReport, ImportRequest, LatestEventsQuery, MultiAcquireRequest,
    MultiAcquired, PruneEventsRequest, QueuedRequest, ReleaseRequest, ResetRequest, ResourceFilter,
    Result, Store, SyncReport, UpdateRequest,
};
use mason_types::event::EventPage;
use mason_types::{BoskosConfig, DynamicResourceLifeCycle, Metric, Resource, ResourceV2};

/// Which failure to inject.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    Unavailable,
    Backend,
}

/// Delegates to `inner` unless a fault is set.
pub(crate) struct FailingStore {
    pub(crate) inner: Arc<dyn Store>,
    pub(crate) fault: Mutex<Option<Fault>>,
}

impl FailingStore {
    fn check(&self) -> Result<()> {
        match *self.fault.lock().unwrap() {
            None => Ok(()),
            Some(Fault::Unavailable) => Err(Error::Unavailable("database is locked".into())),
            Some(Fault::Backend) => Err(Error::backend("disk I/O error at /secret/path")),
        }
    }
}

#[async_trait]
impl Store for FailingStore {
    fn backend(&self) -> &'static str {
        "failing"
    }
    async fn acquire(&self, req: &AcquireRequest) -> Result<Acquired> {
        self.check()?;
        self.inner.acquire(req).await
    }
    async fn acquire_by_state_leases(
        &self,
        req: &AcquireByStateRequest,
    ) -> Result<Vec<ResourceV2>> {
        self.check()?;
        self.inner.acquire_by_state_leases(req).await
    }
    async fn acquire_many(&self, req: &MultiAcquireRequest) -> Result<MultiAcquired> {
        self.check()?;
        self.inner.acquire_many(req).await
    }
    fn availability(&self) -> tokio::sync::broadcast::Receiver<Availability> {
        self.inner.availability()
    }
    async fn release(&self, req: &ReleaseRequest) -> Result<Resource> {
        self.check()?;
        self.inner.release(req).await
    }
    async fn update(&self, req: &UpdateRequest) -> Result<Resource> {
        self.check()?;
        self.inner.update(req).await
    }
    async fn expire_leases(&self, req: &ExpireRequest) -> Result<ExpireReport> {
        self.check()?;
        self.inner.expire_leases(req).await
    }
    async fn reset(&self, req: &ResetRequest) -> Result<BTreeMap<String, String>> {
        self.check()?;
        self.inner.reset(req).await
    }
    async fn metric(&self, rtype: &str) -> Result<Metric> {
        self.check()?;
        self.inner.metric(rtype).await
    }
    async fn all_metrics(&self) -> Result<Vec<Metric>> {
        self.check()?;
        self.inner.all_metrics().await
    }
    async fn get(&self, name: &str) -> Result<Resource> {
        self.check()?;
        self.inner.get(name).await
    }
    async fn list(&self, filter: &ResourceFilter) -> Result<Vec<Resource>> {
        self.check()?;
        self.inner.list(filter).await
    }
    async fn get_v2(&self, name: &str) -> Result<ResourceV2> {
        self.check()?;
        self.inner.get_v2(name).await
    }
    async fn list_v2(&self, filter: &ResourceFilter) -> Result<Vec<ResourceV2>> {
        self.check()?;
        self.inner.list_v2(filter).await
    }
    async fn drlcs(&self) -> Result<Vec<DynamicResourceLifeCycle>> {
        self.check()?;
        self.inner.drlcs().await
    }
    async fn sync_config(&self, config: &BoskosConfig) -> Result<SyncReport> {
        self.check()?;
        self.inner.sync_config(config).await
    }
    async fn sync_dynamic(&self) -> Result<SyncReport> {
        self.check()?;
        self.inner.sync_dynamic().await
    }
    async fn import(&self, request: &ImportRequest) -> Result<ImportReport> {
        self.check()?;
        self.inner.import(request).await
    }
    async fn gc_requests(&self) -> Result<u64> {
        self.check()?;
        self.inner.gc_requests().await
    }
    async fn queue(&self) -> Result<Vec<QueuedRequest>> {
        self.check()?;
        self.inner.queue().await
    }
    async fn ping(&self) -> Result<()> {
        self.check()?;
        self.inner.ping().await
    }
    async fn events(&self, query: &EventQuery) -> Result<EventPage> {
        self.check()?;
        self.inner.events(query).await
    }
    async fn latest_events(&self, query: &LatestEventsQuery) -> Result<EventPage> {
        self.check()?;
        self.inner.latest_events(query).await
    }
    async fn event_head(&self) -> Result<u64> {
        self.check()?;
        self.inner.event_head().await
    }
    fn event_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.event_changes()
    }
    async fn prune_events(&self, request: &PruneEventsRequest) -> Result<u64> {
        self.check()?;
        self.inner.prune_events(request).await
    }
}
