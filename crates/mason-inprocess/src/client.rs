//! [`InProcessClient`]: the Boskos API straight over a store, for controllers running
//! inside the server process (`mason up`), so they do not loop back over HTTP. Errors map
//! to the same [`mason_client::Error`] variants the HTTP client produces for the matching
//! statuses ([`client_error`]), and parameters are checked as the server's routes check
//! them (a missing one is a [`mason_client::Error::BadRequest`]).
//!
//! Like the HTTP client, it remembers the fencing generation of each resource it
//! acquired and sends it with every update and release of that resource (so a lease that
//! ended — expired, reset — is a 409, never someone else's lease acted on), and it can
//! ask for a lease TTL on every acquire ([`InProcessClient::with_lease_ttl`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mason_client::{BoskosApi, Error as ClientError, Result};
use mason_store::{
    AcquireByStateRequest, AcquireRequest, Error as StoreError, ReleaseRequest, ResetRequest,
    Store, UpdateRequest,
};
use mason_types::{Metric, Resource, UserData};

/// A Boskos client acting as one owner directly on a store.
#[derive(Clone)]
pub struct InProcessClient {
    store: Arc<dyn Store>,
    owner: String,
    /// The TTL asked for on every acquire.
    lease_ttl: Option<Duration>,
    /// The generation granted per resource this client acquired (clones share it).
    fences: Arc<Mutex<HashMap<String, u64>>>,
}

impl InProcessClient {
    /// A client for `owner` over `store`.
    pub fn new(store: Arc<dyn Store>, owner: impl Into<String>) -> Self {
        Self {
            store,
            owner: owner.into(),
            lease_ttl: None,
            fences: Arc::default(),
        }
    }

    /// Ask for this lease TTL on every acquire (overriding the types' `lease-ttl`).
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = Some(ttl);
        self
    }

    /// The generation this client was granted for `name`, if it acquired it.
    pub fn generation(&self, name: &str) -> Option<u64> {
        self.fences().get(name).copied()
    }

    fn fences(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.fences.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a call on `name`: a lease that ended (released, or refused as gone) is no
    /// longer fenced.
    fn settle<T>(&self, name: &str, result: &std::result::Result<T, StoreError>, ended: bool) {
        let gone = matches!(
            result,
            Err(StoreError::GenerationMismatch { .. }
                | StoreError::LeaseExpired { .. }
                | StoreError::OwnerNotMatch { .. }
                | StoreError::ResourceNotFound(_))
        );
        if gone || (ended && result.is_ok()) {
            self.fences().remove(name);
        }
    }
}

impl std::fmt::Debug for InProcessClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessClient")
            .field("backend", &self.store.backend())
            .field("owner", &self.owner)
            .field("lease_ttl", &self.lease_ttl)
            .finish()
    }
}

/// Map a store error as the HTTP client maps the status the server would answer
/// ([`StoreError::status`], the one store → HTTP mapping, then
/// [`ClientError::from_status`], the one status → client error mapping); a server fault
/// keeps the store's error as its source.
pub fn client_error(err: StoreError) -> ClientError {
    ClientError::from_status(err.status(), err.to_string()).caused_by(err)
}

fn require(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(ClientError::BadRequest(format!("{what} must be set")));
    }
    Ok(())
}

#[async_trait]
impl BoskosApi for InProcessClient {
    fn owner(&self) -> &str {
        &self.owner
    }

    async fn acquire(
        &self,
        rtype: &str,
        state: &str,
        dest: &str,
        request_id: Option<&str>,
    ) -> Result<Resource> {
        for (what, v) in [
            ("type", rtype),
            ("state", state),
            ("dest", dest),
            ("owner", &self.owner),
        ] {
            require(what, v)?;
        }
        let req = AcquireRequest {
            actor: None,
            rtype: rtype.to_string(),
            state: state.to_string(),
            dest: dest.to_string(),
            owner: self.owner.clone(),
            request_id: request_id.filter(|id| !id.is_empty()).map(str::to_string),
            lease_ttl: self.lease_ttl,
            ..Default::default()
        };
        let acquired = self.store.acquire(&req).await.map_err(client_error)?;
        self.fences()
            .insert(acquired.resource.name.clone(), acquired.lease.generation);
        Ok(acquired.resource)
    }

    async fn acquire_by_state(
        &self,
        state: &str,
        dest: &str,
        names: &[String],
    ) -> Result<Vec<Resource>> {
        for (what, v) in [("state", state), ("dest", dest), ("owner", &self.owner)] {
            require(what, v)?;
        }
        if names.is_empty() {
            return Err(ClientError::BadRequest("names must be set".into()));
        }
        let req = AcquireByStateRequest {
            actor: None,
            state: state.to_string(),
            dest: dest.to_string(),
            owner: self.owner.clone(),
            names: names.to_vec(),
            lease_ttl: self.lease_ttl,
            ..Default::default()
        };
        self.store
            .acquire_by_state(&req)
            .await
            .map_err(client_error)
    }

    async fn release(&self, name: &str, dest: &str) -> Result<()> {
        for (what, v) in [("name", name), ("dest", dest), ("owner", &self.owner)] {
            require(what, v)?;
        }
        let req = ReleaseRequest {
            name: name.to_string(),
            dest: dest.to_string(),
            owner: self.owner.clone(),
            generation: self.generation(name),
            ..Default::default()
        };
        let released = self.store.release(&req).await;
        self.settle(name, &released, true);
        released.map(drop).map_err(client_error)
    }

    async fn update(&self, name: &str, state: &str, userdata: Option<&UserData>) -> Result<()> {
        for (what, v) in [("name", name), ("state", state), ("owner", &self.owner)] {
            require(what, v)?;
        }
        let req = UpdateRequest {
            name: name.to_string(),
            owner: self.owner.clone(),
            state: state.to_string(),
            userdata: userdata.cloned(),
            generation: self.generation(name),
            ..Default::default()
        };
        let updated = self.store.update(&req).await;
        self.settle(name, &updated, false);
        updated.map(drop).map_err(client_error)
    }

    async fn reset(
        &self,
        rtype: &str,
        state: &str,
        expire: Duration,
        dest: &str,
    ) -> Result<BTreeMap<String, String>> {
        for (what, v) in [("type", rtype), ("state", state), ("dest", dest)] {
            require(what, v)?;
        }
        let req = ResetRequest {
            actor: None,
            rtype: rtype.to_string(),
            state: state.to_string(),
            expire,
            dest: dest.to_string(),
        };
        self.store.reset(&req).await.map_err(client_error)
    }

    async fn metric(&self, rtype: &str) -> Result<Metric> {
        require("type", rtype)?;
        self.store.metric(rtype).await.map_err(client_error)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// Whether a client error is the expected one.
    type Expected = fn(&ClientError) -> bool;

    #[test]
    fn store_errors_become_the_client_errors_of_their_status() {
        let cases: [(StoreError, Expected); 6] = [
            (StoreError::ResourceNotFound("t".into()), |e| {
                matches!(e, ClientError::NotFound(_))
            }),
            (StoreError::ResourceTypeNotFound("t".into()), |e| {
                matches!(e, ClientError::TypeNotFound(_))
            }),
            (
                StoreError::OwnerNotMatch {
                    request: "a".into(),
                    owner: "b".into(),
                },
                |e| matches!(e, ClientError::OwnerMismatch(_)),
            ),
            (
                StoreError::StateNotMatch {
                    expect: "a".into(),
                    current: "b".into(),
                },
                |e| matches!(e, ClientError::StateMismatch(_)),
            ),
            (StoreError::InvalidArgument("x".into()), |e| {
                matches!(e, ClientError::BadRequest(_))
            }),
            (StoreError::Unavailable("locked".into()), |e| {
                matches!(e, ClientError::Status { status: 503, .. })
            }),
        ];
        for (err, expected) in cases {
            let text = err.to_string();
            let mapped = client_error(err);
            assert!(expected(&mapped), "{text} -> {mapped:?}");
            assert!(mapped.to_string().contains(&text), "{mapped}");
        }
    }

    #[test]
    fn a_backend_fault_keeps_its_whole_cause_chain() {
        let err =
            StoreError::backend_from("writing the WAL", std::io::Error::other("disk on fire"));
        let mapped = client_error(err);
        assert!(
            matches!(&mapped, ClientError::Status { status: 500, .. }),
            "{mapped:?}"
        );
        let store = mapped.source().expect("the store error");
        assert_eq!(store.to_string(), "database error: writing the WAL");
        let io = store.source().expect("the store error's cause");
        assert_eq!(io.to_string(), "disk on fire");
    }

    #[tokio::test]
    async fn acquires_ask_for_the_ttl_and_later_calls_are_fenced() {
        let clock = Arc::new(mason_store::ManualClock::at_upstream_epoch());
        let store: Arc<dyn Store> =
            Arc::new(mason_store::sqlite::SqliteStore::in_memory(clock.clone()).unwrap());
        let config =
            mason_types::BoskosConfig::parse_and_validate("resources:\n- type: t\n  names: [r1]\n")
                .unwrap();
        store.sync_config(&config).await.unwrap();
        let client =
            InProcessClient::new(store.clone(), "me").with_lease_ttl(Duration::from_secs(5));
        let got = client.acquire("t", "free", "busy", None).await.unwrap();
        let granted = store.get_v2(&got.name).await.unwrap().lease;
        assert_eq!(granted.lease_ttl, Some(Duration::from_secs(5)));
        assert_eq!(client.generation(&got.name), Some(granted.generation));

        // The lease ends behind the client's back and is granted to "me" again elsewhere.
        clock.advance(Duration::from_secs(6));
        let now = clock.peek();
        store
            .expire_leases(&mason_store::ExpireRequest { now, limit: 10 })
            .await
            .unwrap();
        let other = InProcessClient::new(store.clone(), "me");
        other.acquire("t", "dirty", "busy", None).await.unwrap();
        let before = store.get_v2("r1").await.unwrap();
        let refused = client.release("r1", "free").await.unwrap_err();
        assert!(refused.to_string().contains("is stale"), "{refused}");
        assert_eq!(store.get_v2("r1").await.unwrap(), before, "nothing changed");
        assert_eq!(client.generation("r1"), None, "forgotten once refused");
        other.update("r1", "busy", None).await.unwrap();
        other.release("r1", "free").await.unwrap();
        assert_eq!(other.generation("r1"), None);
    }
}
