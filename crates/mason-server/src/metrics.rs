//! Prometheus metrics, served as OpenMetrics text on `/metrics`.
//!
//! Upstream names and labels (SPEC §7.5): `boskos_resources{type,state}` (computed from the
//! store at each scrape: every known state per type, 0 when none, other states summed into
//! `other`), `boskos_acquire_duration_seconds{type,state,dest,has_request_id}`,
//! `boskos_http_request_duration_seconds` and `boskos_http_response_size_bytes`
//! `{path,method,status,user_agent}`. Mason extras: `mason_config_reload_errors_total`,
//! `mason_config_last_reload_success_timestamp_seconds`, `mason_config_sync_errors_total`,
//! `mason_config_last_sync_success_timestamp_seconds`, and the lease extension's
//! (`crate::lease`): `mason_leases_expired_total{type}`,
//! `mason_lease_expiry_lateness_seconds`.
//!
//! `user_agent` is the product token of the header (`Go-http-client`, `curl`, …, at most
//! 64 characters) so that version strings or hostile headers cannot explode the number of
//! series.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use mason_types::state::{is_known, KNOWN_STATES, OTHER};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::lease::metrics::LeaseMetrics;

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Buckets of `boskos_acquire_duration_seconds`.
const ACQUIRE_BUCKETS: [f64; 7] = [1.0, 10.0, 100.0, 500.0, 1000.0, 1500.0, 2000.0];

/// Labels of `boskos_acquire_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AcquireLabels {
    r#type: String,
    state: String,
    dest: String,
    has_request_id: String,
}

/// Labels of the HTTP histograms.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    path: String,
    method: String,
    status: String,
    user_agent: String,
}

/// Labels of `boskos_resources`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    r#type: String,
    state: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The registry and the handles that routes and tasks update.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    acquire_duration: HistogramFamily<AcquireLabels>,
    http_duration: HistogramFamily<HttpLabels>,
    http_size: HistogramFamily<HttpLabels>,
    reload_errors: Counter,
    last_reload_success: Gauge<f64, AtomicU64>,
    sync_errors: Counter,
    last_sync_success: Gauge<f64, AtomicU64>,
    lease: LeaseMetrics,
}

fn acquire_histogram() -> Histogram {
    Histogram::new(ACQUIRE_BUCKETS)
}

/// 0.005, then 2^-7 … 2^10, then 1200 (upstream's request-duration buckets).
fn http_duration_histogram() -> Histogram {
    let powers = (-7..=10).map(|e| 2f64.powi(e));
    Histogram::new(
        std::iter::once(0.005)
            .chain(powers)
            .chain(std::iter::once(1200.0)),
    )
}

/// 128 … 65536 bytes in powers of two.
fn http_size_histogram() -> Histogram {
    Histogram::new((7..=16).map(|e| 2f64.powi(e)))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let acquire_duration: HistogramFamily<AcquireLabels> =
            Family::new_with_constructor(acquire_histogram);
        let http_duration: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(http_duration_histogram);
        let http_size: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(http_size_histogram);
        let reload_errors = Counter::default();
        let last_reload_success = Gauge::<f64, AtomicU64>::default();
        let sync_errors = Counter::default();
        let last_sync_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "boskos_acquire_duration_seconds",
            "Time from a request's first acquire attempt to the successful acquire",
            acquire_duration.clone(),
        );
        registry.register(
            "boskos_http_request_duration_seconds",
            "Time spent answering HTTP requests",
            http_duration.clone(),
        );
        registry.register(
            "boskos_http_response_size_bytes",
            "Size of HTTP response bodies",
            http_size.clone(),
        );
        registry.register(
            "mason_config_reload_errors",
            "Config file changes that were rejected (unreadable or invalid); the previous config stayed in force",
            reload_errors.clone(),
        );
        registry.register(
            "mason_config_last_reload_success_timestamp_seconds",
            "Unix time at which a valid config was last loaded",
            last_reload_success.clone(),
        );
        registry.register(
            "mason_config_sync_errors",
            "Config syncs the store failed (retried)",
            sync_errors.clone(),
        );
        registry.register(
            "mason_config_last_sync_success_timestamp_seconds",
            "Unix time of the last successful config sync",
            last_sync_success.clone(),
        );
        let lease = LeaseMetrics::register(&mut registry);
        Self {
            registry,
            acquire_duration,
            http_duration,
            http_size,
            reload_errors,
            last_reload_success,
            sync_errors,
            last_sync_success,
            lease,
        }
    }

    /// The lease extension's metrics.
    pub(crate) fn lease(&self) -> &LeaseMetrics {
        &self.lease
    }

    /// Add the auth gate's metrics to the exposition.
    pub fn register_auth(&mut self, auth: &crate::auth::metrics::AuthMetrics) {
        auth.register(&mut self.registry);
    }

    /// A successful acquire that waited `seconds` since its first attempt.
    pub fn observe_acquire(
        &self,
        rtype: &str,
        state: &str,
        dest: &str,
        has_request_id: bool,
        seconds: f64,
    ) {
        self.acquire_duration
            .get_or_create(&AcquireLabels {
                r#type: rtype.to_string(),
                state: state.to_string(),
                dest: dest.to_string(),
                has_request_id: has_request_id.to_string(),
            })
            .observe(seconds.max(0.0));
    }

    /// One answered HTTP request.
    pub fn observe_http(
        &self,
        path: &str,
        method: &str,
        status: u16,
        user_agent: &str,
        seconds: f64,
        size: u64,
    ) {
        let labels = HttpLabels {
            path: path.to_string(),
            method: method.to_string(),
            status: status.to_string(),
            user_agent: user_agent.to_string(),
        };
        self.http_duration.get_or_create(&labels).observe(seconds);
        self.http_size.get_or_create(&labels).observe(size as f64);
    }

    /// A valid config was loaded.
    pub fn config_reloaded(&self) {
        self.last_reload_success.set(unix_now());
    }

    /// A changed config was rejected.
    pub fn config_reload_failed(&self) {
        self.reload_errors.inc();
    }

    /// The store applied the config.
    pub fn config_synced(&self) {
        self.last_sync_success.set(unix_now());
    }

    /// The store failed to apply the config.
    pub fn config_sync_failed(&self) {
        self.sync_errors.inc();
    }

    /// How many config changes were rejected so far.
    pub fn config_reload_errors(&self) -> u64 {
        self.reload_errors.get()
    }

    /// The whole exposition, with `boskos_resources` computed from `counts`
    /// (the store's `all_metrics`).
    pub fn encode(&self, counts: &[mason_types::Metric]) -> String {
        let mut scrape = Registry::default();
        let resources = Family::<ResourceLabels, Gauge>::default();
        for metric in counts {
            let mut by_state: BTreeMap<&str, u64> = KNOWN_STATES
                .iter()
                .map(|s| (*s, 0))
                .chain([(OTHER, 0)])
                .collect();
            for (state, n) in &metric.current {
                let key = if is_known(state) {
                    state.as_str()
                } else {
                    OTHER
                };
                *by_state.entry(key).or_default() += n;
            }
            for (state, n) in by_state {
                resources
                    .get_or_create(&ResourceLabels {
                        r#type: metric.rtype.clone(),
                        state: state.to_string(),
                    })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        scrape.register(
            "boskos_resources",
            "Number of resources by type and state",
            resources,
        );
        let mut text = String::new();
        encode_registry(&mut text, &scrape).expect("writing to a String cannot fail");
        encode_registry(&mut text, &self.registry).expect("writing to a String cannot fail");
        encode_eof(&mut text).expect("writing to a String cannot fail");
        text
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The `path` label: upstream's route list, our own fixed routes, else `unmatched`.
pub fn simplify_path(path: &str) -> &'static str {
    const KNOWN: [&str; 12] = [
        "/acquire",
        "/acquirebystate",
        "/release",
        "/reset",
        "/update",
        "/metric",
        "/metrics",
        "/healthz",
        "/healthz/ready",
        "/api/v2/resources",
        "/api/v2/drlcs",
        "/api/v2/queue",
    ];
    KNOWN
        .iter()
        .find(|k| **k == path)
        .copied()
        .unwrap_or("unmatched")
}

/// The `user_agent` label: the product token, at most 64 characters.
pub fn simplify_user_agent(header: Option<&str>) -> String {
    let token = header.unwrap_or("").split(['/', ' ']).next().unwrap_or("");
    token.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mason_types::Metric;

    #[test]
    fn resources_gauge_emits_every_known_state_and_other() {
        let m = Metrics::new();
        let mut metric = Metric {
            rtype: "t1".into(),
            ..Default::default()
        };
        metric.current.insert("free".into(), 3);
        metric.current.insert("noSchedule".into(), 2);
        metric.current.insert("weird".into(), 1);
        let text = m.encode(&[metric]);
        assert!(
            text.contains("boskos_resources{type=\"t1\",state=\"free\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("boskos_resources{type=\"t1\",state=\"other\"} 3"),
            "{text}"
        );
        for state in KNOWN_STATES.iter().filter(|s| **s != "free") {
            assert!(
                text.contains(&format!(
                    "boskos_resources{{type=\"t1\",state=\"{state}\"}} 0"
                )),
                "{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.matches("# EOF").count(), 1);
    }

    #[test]
    fn help_texts_are_sentences_with_one_full_stop() {
        // prometheus-client ends every HELP text with a full stop itself.
        let text = Metrics::new().encode(&[Metric {
            rtype: "t".into(),
            ..Default::default()
        }]);
        let helps: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP ")).collect();
        // 8 of the server, 3 of the lease extension.
        assert_eq!(helps.len(), 11, "{text}");
        assert!(
            text.contains("# HELP mason_leases_expired Leases the server ended"),
            "{text}"
        );
        for help in helps {
            assert!(help.ends_with('.') && !help.ends_with(".."), "{help}");
        }
    }

    #[test]
    fn histograms_have_upstream_names_and_buckets() {
        let m = Metrics::new();
        m.observe_acquire("t", "free", "busy", false, 0.5);
        m.observe_http("/acquire", "POST", 200, "Go-http-client", 0.001, 131);
        let text = m.encode(&[]);
        assert!(text.contains("boskos_acquire_duration_seconds_bucket{le=\"1.0\",type=\"t\",state=\"free\",dest=\"busy\",has_request_id=\"false\"} 1"), "{text}");
        assert!(text.contains("le=\"2000.0\""));
        assert!(text.contains("boskos_http_request_duration_seconds_bucket{le=\"0.005\",path=\"/acquire\",method=\"POST\",status=\"200\",user_agent=\"Go-http-client\"} 1"), "{text}");
        assert!(text.contains("le=\"0.0078125\""));
        assert!(text.contains("le=\"1024.0\""));
        assert!(text.contains("le=\"1200.0\""));
        assert!(text.contains("boskos_http_response_size_bytes_bucket{le=\"256.0\""));
        assert!(text.contains("le=\"65536.0\""));
        assert!(text.contains("mason_config_reload_errors_total 0"));
    }

    #[test]
    fn label_simplification() {
        assert_eq!(simplify_path("/acquire"), "/acquire");
        assert_eq!(simplify_path("/acquire/"), "unmatched");
        assert_eq!(simplify_path("/foo"), "unmatched");
        assert_eq!(
            simplify_user_agent(Some("Go-http-client/1.1")),
            "Go-http-client"
        );
        assert_eq!(simplify_user_agent(Some("curl/7.88.1")), "curl");
        assert_eq!(simplify_user_agent(None), "");
        assert_eq!(simplify_user_agent(Some(&"x".repeat(500))).len(), 64);
    }
}
