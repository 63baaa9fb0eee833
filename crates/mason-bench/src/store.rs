//! The store-layer [`Target`] of `mason bench --layer store`: the same client loop, calling
//! [`Store`] methods directly (no HTTP, no JSON), so the cost of the store alone is visible
//! next to the full HTTP path. Store errors become the status codes the server would send
//! ([`mason_store::Error::status`], the server's own mapping).

use std::sync::Arc;

use mason_store::{AcquireRequest, ReleaseRequest, Store, UpdateRequest};

use crate::load::{Conn, Reply, Target};

/// A store shared by every client task.
pub(crate) struct StoreTarget(pub(crate) Arc<dyn Store>);

impl Target for StoreTarget {
    type Conn = StoreConn;

    async fn connect(&self) -> Result<StoreConn, String> {
        Ok(StoreConn(Arc::clone(&self.0)))
    }

    fn name(&self) -> String {
        format!("the {} store", self.0.backend())
    }
}

/// A client's handle on the store.
pub(crate) struct StoreConn(Arc<dyn Store>);

fn reply<T>(result: mason_store::Result<T>, name: impl FnOnce(T) -> Option<String>) -> Reply {
    match result {
        Ok(v) => Reply {
            status: 200,
            name: name(v),
        },
        Err(e) => Reply {
            status: e.status(),
            name: None,
        },
    }
}

impl Conn for StoreConn {
    async fn acquire(
        &mut self,
        rtype: &str,
        state: &str,
        dest: &str,
        owner: &str,
    ) -> Result<Reply, String> {
        let req = AcquireRequest {
            actor: None,
            rtype: rtype.to_string(),
            state: state.to_string(),
            dest: dest.to_string(),
            owner: owner.to_string(),
            ..Default::default()
        };
        Ok(reply(self.0.acquire(&req).await, |a| Some(a.resource.name)))
    }

    async fn release(&mut self, name: &str, dest: &str, owner: &str) -> Result<Reply, String> {
        let req = ReleaseRequest {
            name: name.to_string(),
            dest: dest.to_string(),
            owner: owner.to_string(),
            ..Default::default()
        };
        Ok(reply(self.0.release(&req).await, |_| None))
    }

    async fn update(&mut self, name: &str, owner: &str, state: &str) -> Result<Reply, String> {
        let req = UpdateRequest {
            name: name.to_string(),
            owner: owner.to_string(),
            state: state.to_string(),
            userdata: None,
            ..Default::default()
        };
        Ok(reply(self.0.update(&req).await, |_| None))
    }
}
