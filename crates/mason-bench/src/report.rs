//! How `mason bench` prints its figures: a short human table, or one JSON object per run
//! (`--format json`) for scripts that collect figures into docs/benchmarks.md.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;

use crate::load::{Mode, Stats};

/// What was measured, for the heading.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// `http`, `store`, `raw-http`, `raw-sqlite`, `raw-sqlite-async`.
    pub(crate) layer: String,
    /// Server URL or store URL.
    pub(crate) target: String,
    /// Resource type.
    pub(crate) rtype: String,
    /// Self-hosted pool size, when known.
    pub(crate) pool_size: Option<usize>,
    /// The server runs inside the bench's own process (self-hosted `http` layer), so its
    /// figures are not those a client in another process sees.
    pub(crate) in_process: bool,
    /// Client loop.
    pub(crate) mode: Mode,
    /// Concurrent clients.
    pub(crate) clients: usize,
}

/// What one op is called in this mode.
fn op_name(setup: &Setup) -> &'static str {
    if setup.layer.starts_with("raw-sqlite") {
        return "commits";
    }
    match setup.mode {
        Mode::Cycle => "cycles",
        Mode::AcquireOnly => "acquires",
        Mode::Heartbeat => "heartbeats",
    }
}

/// A latency, human-sized.
pub(crate) fn human(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000_000 {
        format!("{:.1}µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", ns as f64 / 1e6)
    } else {
        format!("{:.2}s", ns as f64 / 1e9)
    }
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// The human table.
pub(crate) fn text(setup: &Setup, stats: &Stats) -> String {
    let mut out = String::new();
    let pool = setup
        .pool_size
        .map(|n| format!(" pool={n}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "mason bench: layer={}{} target={} type={}{pool} mode={} clients={} measured={:.1}s",
        setup.layer,
        if setup.in_process {
            " (in-process server)"
        } else {
            ""
        },
        setup.target,
        setup.rtype,
        setup.mode.name(),
        setup.clients,
        stats.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>10}  {:>10.1}/s",
        op_name(setup),
        stats.ops,
        per_second(stats.ops, stats.elapsed)
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>10}  {:>10.1}/s",
        "requests",
        stats.requests(),
        per_second(stats.requests(), stats.elapsed)
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "latency", "count", "mean", "p50", "p90", "p99", "max"
    );
    for (kind, h) in &stats.latency {
        let _ = writeln!(
            out,
            "  {:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            kind.name(),
            h.count(),
            human(h.mean()),
            human(h.percentile(0.5)),
            human(h.percentile(0.9)),
            human(h.percentile(0.99)),
            human(h.max())
        );
    }
    let errors = if stats.errors.is_empty() {
        "none".to_string()
    } else {
        stats
            .errors
            .iter()
            .map(|((kind, status), n)| match status {
                0 => format!("{} transport: {n}", kind.name()),
                s => format!("{} {s}: {n}", kind.name()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "  errors     {errors}");
    if !setup.layer.starts_with("raw") {
        let _ = writeln!(
            out,
            "  double-lease probe: {} of the client's own leases refused",
            stats.refused_own
        );
    }
    out
}

/// One JSON object (latencies in microseconds).
pub(crate) fn json(setup: &Setup, stats: &Stats) -> serde_json::Value {
    let us = |d: Duration| (d.as_nanos() as f64 / 1e3 * 10.0).round() / 10.0;
    let latency: serde_json::Map<String, serde_json::Value> = stats
        .latency
        .iter()
        .map(|(kind, h)| {
            (
                kind.name().to_string(),
                json!({
                    "count": h.count(),
                    "mean_us": us(h.mean()),
                    "p50_us": us(h.percentile(0.5)),
                    "p90_us": us(h.percentile(0.9)),
                    "p99_us": us(h.percentile(0.99)),
                    "max_us": us(h.max()),
                }),
            )
        })
        .collect();
    let errors: serde_json::Map<String, serde_json::Value> = stats
        .errors
        .iter()
        .map(|((kind, status), n)| (format!("{} {status}", kind.name()), json!(n)))
        .collect();
    json!({
        "layer": setup.layer,
        "in_process": setup.in_process,
        "target": setup.target,
        "type": setup.rtype,
        "pool_size": setup.pool_size,
        "mode": setup.mode,
        "clients": setup.clients,
        "elapsed_s": stats.elapsed.as_secs_f64(),
        "ops": stats.ops,
        "ops_per_s": (per_second(stats.ops, stats.elapsed) * 10.0).round() / 10.0,
        "requests": stats.requests(),
        "requests_per_s": (per_second(stats.requests(), stats.elapsed) * 10.0).round() / 10.0,
        "latency": latency,
        "errors": errors,
        "refused_own": stats.refused_own,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Histogram;
    use crate::load::Kind;

    fn sample() -> (Setup, Stats) {
        let setup = Setup {
            layer: "http".into(),
            target: "http://127.0.0.1:1".into(),
            rtype: "bench".into(),
            pool_size: Some(100),
            in_process: true,
            mode: Mode::Cycle,
            clients: 2,
        };
        let mut stats = Stats {
            ops: 50,
            elapsed: Duration::from_secs(2),
            ..Stats::default()
        };
        let mut h = Histogram::default();
        for _ in 0..100 {
            h.record(Duration::from_micros(250));
        }
        stats.latency.insert(Kind::Acquire, h);
        stats.errors.insert((Kind::Acquire, 404), 3);
        stats.errors.insert((Kind::Release, 0), 1);
        (setup, stats)
    }

    #[test]
    fn text_shows_rates_latencies_and_errors() {
        let (setup, stats) = sample();
        let t = text(&setup, &stats);
        assert!(t.contains("cycles"), "{t}");
        assert!(t.contains("layer=http (in-process server)"), "{t}");
        assert!(t.contains("25.0/s"), "{t}");
        assert!(t.contains("50.0/s"), "requests per second: {t}");
        assert!(t.contains("acquire 404: 3, release transport: 1"), "{t}");
        assert!(t.contains("0 of the client's own leases refused"), "{t}");
    }

    #[test]
    fn json_carries_the_same_figures() {
        let (setup, stats) = sample();
        let j = json(&setup, &stats);
        assert_eq!(j["ops_per_s"], 25.0);
        assert_eq!(j["requests"], 100);
        assert_eq!(j["mode"], "cycle");
        assert_eq!(j["errors"]["acquire 404"], 3);
        let p50 = j["latency"]["acquire"]["p50_us"].as_f64().unwrap();
        assert!((250.0..=254.0).contains(&p50), "{p50}");
    }

    #[test]
    fn human_picks_a_unit() {
        assert_eq!(human(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(human(Duration::from_micros(2500)), "2.50ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.50s");
    }
}
