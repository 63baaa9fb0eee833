//! The Mason client: lease a *virtual* resource (one built by the Mason builder) together
//! with the *physical* resources it was built from, and give them back together
//! (SPEC §6.4).
//!
//! The builder records a virtual resource's physical resources under its
//! `leasedResources` user data (a YAML list) and parks them, unowned, in a state equal
//! to the virtual resource's name. [`VirtualClient::acquire`] therefore acquires the
//! virtual resource, reads that list and takes the physical ones with one
//! `acquirebystate` (state = the virtual resource's name) into the same destination
//! state.
//!
//! Differences from upstream's Mason client, all invisible on the wire:
//! - no local bookkeeping: [`VirtualClient::release`] reads the list from the resource
//!   value it is given, so a release works from another process or after a restart
//!   (upstream boskos#16);
//! - an empty list is fine (upstream sends an empty `names` and fails, quirk 13);
//! - when taking the physical resources fails, the virtual resource goes back to `dirty`
//!   and every listed name this owner may have been handed by a partial (non-atomic,
//!   upstream) `acquirebystate` is released to `dirty` too, so nothing leaks; against
//!   `mason serve`, whose `acquirebystate` is all-or-nothing, there is nothing to undo;
//! - an unreadable list also sends the virtual resource back to `dirty`, rather than
//!   leaving it leased to the caller.

use std::sync::Arc;

use mason_types::{state, Resource, LEASED_RESOURCES};

use crate::api::{BoskosApi, Error};

/// A leased virtual resource and its physical resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualLease {
    /// The virtual resource, as acquired.
    pub resource: Resource,
    /// Its physical resources, as acquired (same state and owner as the virtual one).
    pub leased: Vec<Resource>,
}

impl VirtualLease {
    /// The virtual resource followed by its physical ones.
    pub fn all(&self) -> impl Iterator<Item = &Resource> {
        std::iter::once(&self.resource).chain(self.leased.iter())
    }

    /// The names of the physical resources.
    pub fn leased_names(&self) -> Vec<String> {
        self.leased.iter().map(|r| r.name.clone()).collect()
    }
}

/// Why a virtual lease could not be taken or given back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VirtualError {
    /// No virtual resource could be acquired.
    #[error("cannot acquire a {rtype} resource: {source}")]
    Acquire {
        /// The requested type.
        rtype: String,
        /// The server's answer.
        #[source]
        source: Error,
    },
    /// The virtual resource's `leasedResources` is not a YAML list of names; it was
    /// released to `dirty`.
    #[error("{name} has an unreadable {LEASED_RESOURCES} ({message}); it was released to dirty")]
    BadLeasedList {
        /// The virtual resource.
        name: String,
        /// The parse error.
        message: String,
    },
    /// The physical resources could not be taken; the virtual resource was released to
    /// `dirty`.
    #[error("cannot acquire {names:?} leased by {name}: {source}; {name} was released to dirty")]
    Leased {
        /// The virtual resource.
        name: String,
        /// Its physical resources.
        names: Vec<String>,
        /// The server's answer.
        #[source]
        source: Error,
    },
    /// Some releases failed (each resource is attempted).
    #[error("cannot release {}", describe(.0))]
    Release(Vec<(String, Error)>),
}

impl VirtualError {
    /// The underlying API error of an acquire, so callers can tell "none free" from
    /// "type missing" or "server unreachable".
    pub fn api_error(&self) -> Option<&Error> {
        match self {
            VirtualError::Acquire { source, .. } | VirtualError::Leased { source, .. } => {
                Some(source)
            }
            VirtualError::Release(errors) => errors.first().map(|(_, e)| e),
            VirtualError::BadLeasedList { .. } => None,
        }
    }
}

fn describe(errors: &[(String, Error)]) -> String {
    errors
        .iter()
        .map(|(n, e)| format!("{n}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Leases virtual resources with their physical ones, as `api.owner()`.
#[derive(Clone)]
pub struct VirtualClient {
    api: Arc<dyn BoskosApi>,
}

impl std::fmt::Debug for VirtualClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualClient")
            .field("owner", &self.api.owner())
            .finish()
    }
}

impl VirtualClient {
    /// A Mason client over any [`BoskosApi`].
    pub fn new(api: Arc<dyn BoskosApi>) -> Self {
        Self { api }
    }

    /// Acquire a virtual resource of `rtype` in `state`, moving it and its physical
    /// resources to `dest`.
    pub async fn acquire(
        &self,
        rtype: &str,
        state: &str,
        dest: &str,
        request_id: Option<&str>,
    ) -> Result<VirtualLease, VirtualError> {
        let resource = self
            .api
            .acquire(rtype, state, dest, request_id)
            .await
            .map_err(|source| VirtualError::Acquire {
                rtype: rtype.to_string(),
                source,
            })?;
        self.take_leased(resource, dest).await
    }

    /// Take the physical resources of an already acquired virtual `resource` into
    /// `dest` (what [`VirtualClient::acquire`] does after its acquire; useful after
    /// `acquire_wait`).
    pub async fn take_leased(
        &self,
        resource: Resource,
        dest: &str,
    ) -> Result<VirtualLease, VirtualError> {
        let names = match resource.userdata.leased_resources() {
            Ok(names) => names,
            Err(e) => {
                self.release_quietly(&resource.name).await;
                return Err(VirtualError::BadLeasedList {
                    name: resource.name,
                    message: e.to_string(),
                });
            }
        };
        if names.is_empty() {
            return Ok(VirtualLease {
                resource,
                leased: Vec::new(),
            });
        }
        match self
            .api
            .acquire_by_state(&resource.name, dest, &names)
            .await
        {
            Ok(leased) => Ok(VirtualLease { resource, leased }),
            Err(source) => {
                self.release_quietly(&resource.name).await;
                for name in &names {
                    self.release_quietly(name).await;
                }
                Err(VirtualError::Leased {
                    name: resource.name,
                    names,
                    source,
                })
            }
        }
    }

    /// Release a virtual resource and the physical resources listed in its user data
    /// to `dest`. Every release is attempted; failures are reported together.
    pub async fn release(&self, resource: &Resource, dest: &str) -> Result<(), VirtualError> {
        match resource.userdata.leased_resources() {
            Ok(leased) => self.release_names(&resource.name, &leased, dest).await,
            Err(e) => {
                let mut errors = vec![(
                    resource.name.clone(),
                    Error::Local(format!("unreadable {LEASED_RESOURCES}: {e}")),
                )];
                if let Err(VirtualError::Release(more)) =
                    self.release_names(&resource.name, &[], dest).await
                {
                    errors.extend(more);
                }
                Err(VirtualError::Release(errors))
            }
        }
    }

    /// Release the virtual resource `name`, then each of its physical resources
    /// `leased`, to `dest`: for callers that know the names but hold no resource value
    /// (`mason release --leased`). Every release is attempted; failures are reported
    /// together, in that order.
    pub async fn release_names(
        &self,
        name: &str,
        leased: &[String],
        dest: &str,
    ) -> Result<(), VirtualError> {
        let mut errors = Vec::new();
        for name in std::iter::once(name).chain(leased.iter().map(String::as_str)) {
            if let Err(e) = self.api.release(name, dest).await {
                errors.push((name.to_string(), e));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(VirtualError::Release(errors))
        }
    }

    /// Release a lease taken by [`VirtualClient::acquire`] to `dest`.
    pub async fn release_lease(
        &self,
        lease: &VirtualLease,
        dest: &str,
    ) -> Result<(), VirtualError> {
        self.release(&lease.resource, dest).await
    }

    /// Best effort: send `name` back to dirty (a 401/404 means it was not ours).
    async fn release_quietly(&self, name: &str) {
        if let Err(e) = self.api.release(name, state::DIRTY).await {
            tracing::debug!(resource = %name, error = %e, "not released (probably not held)");
        }
    }
}
