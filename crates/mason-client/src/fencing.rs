//! Fencing: the client remembers the generation the server granted for each resource it
//! acquired and sends it as `generation=N` on every `/update` and `/release` of that
//! resource, so a holder whose lease has moved on (expired, reset, re-granted) gets a 409
//! instead of acting on someone else's lease.
//!
//! `mason serve` tells the generation in the `Mason-Lease-Generation` response header of
//! `/acquire` and `/acquirebystate` (one number per resource, in body order) and in the
//! `"generation"` key of `/api/v2` objects. An upstream Boskos sends neither: nothing is
//! remembered and every call goes out exactly as upstream's client sends it (and an
//! upstream server ignores the extra parameter anyway).
//!
//! The memory is per client (clones share it) and only holds resources that client
//! acquired: a release by name from another process still works, unfenced, as upstream
//! (boskos#16). A generation is forgotten when its resource is released or the server
//! says the lease is gone.

use std::collections::HashMap;
use std::sync::Mutex;

use mason_types::resource_v2::parse_generation_header;
use reqwest::header::HeaderMap;

use crate::api::Error;
use crate::http::HttpClient;

/// Generation by resource name.
#[derive(Debug, Default)]
pub(crate) struct Fences(Mutex<HashMap<String, u64>>);

impl Fences {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl HttpClient {
    /// The generation this client was granted for `name`, if the server told one.
    pub fn generation(&self, name: &str) -> Option<u64> {
        self.inner.fences.map().get(name).copied()
    }

    /// Fence later updates and releases of `name` with `generation` (for a resource
    /// acquired elsewhere, e.g. by another process that printed its generation).
    pub fn set_generation(&self, name: &str, generation: u64) {
        self.inner.fences.map().insert(name.to_string(), generation);
    }

    /// Stop fencing `name`.
    pub fn forget_generation(&self, name: &str) {
        self.inner.fences.map().remove(name);
    }

    /// Remember the generations of a grant: `names` in body order, the header as sent.
    /// A missing or malformed header (an upstream server) remembers nothing.
    pub(crate) fn remember_granted<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        headers: &HeaderMap,
    ) {
        let Some(generations) = headers
            .get(mason_types::GENERATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_generation_header)
        else {
            return;
        };
        let names: Vec<&str> = names.into_iter().collect();
        if names.len() != generations.len() {
            tracing::warn!(
                resources = names.len(),
                generations = generations.len(),
                "the server's generation header does not match the resources granted; not fencing them"
            );
            return;
        }
        let mut map = self.inner.fences.map();
        for (name, generation) in names.into_iter().zip(generations) {
            map.insert(name.to_string(), generation);
        }
    }

    /// After an update or release of `name`: forget its generation once the lease is
    /// over — released, or the server says it is no longer ours. A transport failure
    /// keeps it (the call may be retried).
    pub(crate) fn settle_fence(&self, name: &str, releasing: bool, outcome: &Result<(), Error>) {
        let over = match outcome {
            Ok(()) => releasing,
            Err(e) => e.is_lease_lost(),
        };
        if over {
            self.forget_generation(name);
        }
    }
}
