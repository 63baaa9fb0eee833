//! The lease extension's metrics, registered in the server's registry:
//! `mason_leases_expired_total{type}` (leases the server ended at their deadline, each
//! counted once, by the replica whose store call ended it) and
//! `mason_lease_expiry_lateness_seconds` (from the deadline to the end of the lease), and
//! `mason_acquires_rolled_back_total{type}` (grants released again because their client
//! went away before the answer, see `rollback`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of `mason_leases_expired_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: String,
}

/// The handles the expiry loop updates.
#[derive(Debug, Clone)]
pub(crate) struct LeaseMetrics {
    expired: Family<TypeLabels, Counter>,
    lateness: Histogram,
    rolled_back: Family<TypeLabels, Counter>,
}

impl LeaseMetrics {
    /// Register the metrics in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let expired = Family::<TypeLabels, Counter>::default();
        // 1 ms … ~16 s, doubling: the promise is "within 1 s".
        let lateness = Histogram::new((0..15).map(|e| 0.001 * 2f64.powi(e)));
        registry.register(
            "mason_leases_expired",
            "Leases the server ended because their TTL deadline passed without a renewal",
            expired.clone(),
        );
        registry.register(
            "mason_lease_expiry_lateness_seconds",
            "Time from a lease's deadline to the server ending it",
            lateness.clone(),
        );
        let rolled_back = Family::<TypeLabels, Counter>::default();
        registry.register(
            "mason_acquires_rolled_back",
            "Grants released again because their client went away before the answer was written",
            rolled_back.clone(),
        );
        Self {
            expired,
            lateness,
            rolled_back,
        }
    }

    /// One lease of `rtype` ended `late_seconds` after its deadline.
    pub(crate) fn lease_expired(&self, rtype: &str, late_seconds: f64) {
        self.expired
            .get_or_create(&TypeLabels {
                r#type: rtype.to_string(),
            })
            .inc();
        self.lateness.observe(late_seconds);
    }

    /// A grant of `rtype` was rolled back: its client went away before the answer.
    pub(crate) fn acquire_rolled_back(&self, rtype: &str) {
        self.rolled_back
            .get_or_create(&TypeLabels {
                r#type: rtype.to_string(),
            })
            .inc();
    }
}
