//! Figures of the cross-process benchmark: one [`Cell`] per measured run (a line of text
//! or one JSON object), and a [`Summary`] per (variant, pool, connections) over the
//! rounds: median rates, percentiles over every request of every round, the worst stall.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;

use crate::cross::threads::Outcome;
use crate::cross::Variant;
use crate::histogram::Histogram;
use crate::report::human;

/// One measured run.
#[derive(Clone)]
pub(crate) struct Cell {
    /// The server.
    pub(crate) variant: Variant,
    /// Pool size.
    pub(crate) pool: usize,
    /// Connections.
    pub(crate) connections: usize,
    /// Round number (from 1).
    pub(crate) round: usize,
    /// `floor`, `cycle`, `metric` or `scrape`.
    pub(crate) work: &'static str,
    /// The floor measured just before (cycles only; 0 otherwise).
    pub(crate) floor_requests_per_s: f64,
    /// The figures.
    pub(crate) outcome: Outcome,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn us(d: Duration) -> f64 {
    round1(d.as_nanos() as f64 / 1e3)
}

fn ratio(cycles_per_s: f64, floor_per_s: f64) -> f64 {
    if floor_per_s > 0.0 {
        2.0 * cycles_per_s / floor_per_s
    } else {
        0.0
    }
}

fn errors_text(errors: &BTreeMap<u16, u64>) -> String {
    if errors.is_empty() {
        return "none".into();
    }
    errors
        .iter()
        .map(|(s, n)| match s {
            0 => format!("transport {n}"),
            1 => format!("bad body {n}"),
            s => format!("{s} x{n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Cell {
    /// One line for a human watching the run.
    pub(crate) fn text(&self) -> String {
        let o = &self.outcome;
        let h = &o.latency;
        let rate = match self.work {
            "cycle" => format!(
                "{:>9.0} cycles/s  ratio {:.2}",
                o.ops_per_s(),
                ratio(o.ops_per_s(), self.floor_requests_per_s)
            ),
            "scrape" => format!("{:>9.1} scrapes/s  {} bytes", o.ops_per_s(), o.body_bytes),
            _ => format!("{:>9.0} req/s", o.requests_per_s()),
        };
        format!(
            "{:<8} pool={:<7} conns={:<2} round={} {:<6} {rate}  p50 {} p99 {} p99.9 {} max {} stall {}  errors {}",
            self.variant.name(),
            self.pool,
            self.connections,
            self.round,
            self.work,
            human(h.percentile(0.5)),
            human(h.percentile(0.99)),
            human(h.percentile(0.999)),
            human(h.max()),
            human(o.stall),
            errors_text(&o.errors)
        )
    }

    /// One JSON object (latencies in microseconds).
    pub(crate) fn json(&self) -> serde_json::Value {
        let o = &self.outcome;
        let h = &o.latency;
        let mut v = json!({
            "layer": "cross-process",
            "variant": self.variant.name(),
            "server_bin": self.variant.binary.display().to_string(),
            "tls": self.variant.tls,
            "auth": self.variant.auth,
            "history": self.variant.history,
            "pool_size": self.pool,
            "connections": self.connections,
            "round": self.round,
            "work": self.work,
            "elapsed_s": o.elapsed.as_secs_f64(),
            "requests": o.requests,
            "requests_per_s": round1(o.requests_per_s()),
            "ops": o.ops,
            "ops_per_s": round1(o.ops_per_s()),
            "latency": {
                "count": h.count(),
                "mean_us": us(h.mean()),
                "p50_us": us(h.percentile(0.5)),
                "p90_us": us(h.percentile(0.9)),
                "p99_us": us(h.percentile(0.99)),
                "p999_us": us(h.percentile(0.999)),
                "max_us": us(h.max()),
            },
            "stall_us": us(o.stall),
            "errors": o.errors.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "refused_own": o.refused_own,
        });
        if self.work == "cycle" {
            v["floor_requests_per_s"] = json!(round1(self.floor_requests_per_s));
            v["ratio"] =
                json!((ratio(o.ops_per_s(), self.floor_requests_per_s) * 1000.0).round() / 1000.0);
        }
        if self.work == "scrape" {
            v["body_bytes"] = json!(o.body_bytes);
        }
        v
    }
}

/// Figures of one (variant, pool, connections, work) over its rounds.
pub(crate) struct Summary {
    key: (String, usize, usize, &'static str),
    /// Units per second of each round (cycles, or requests for the floor and reads).
    rates: Vec<f64>,
    floors: Vec<f64>,
    latency: Histogram,
    stall: Duration,
    errors: u64,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl Summary {
    /// Group cells by (variant, pool, connections, work), in first-seen order.
    pub(crate) fn of(cells: &[Cell]) -> Vec<Summary> {
        let mut out: Vec<Summary> = Vec::new();
        for c in cells {
            let key = (c.variant.name(), c.pool, c.connections, c.work);
            let i = match out.iter().position(|s| s.key == key) {
                Some(i) => i,
                None => {
                    out.push(Summary {
                        key,
                        rates: Vec::new(),
                        floors: Vec::new(),
                        latency: Histogram::default(),
                        stall: Duration::ZERO,
                        errors: 0,
                    });
                    out.len() - 1
                }
            };
            let s = &mut out[i];
            s.rates.push(match c.work {
                "floor" | "metric" => c.outcome.requests_per_s(),
                _ => c.outcome.ops_per_s(),
            });
            s.floors.push(c.floor_requests_per_s);
            s.latency.merge(&c.outcome.latency);
            s.stall = s.stall.max(c.outcome.stall);
            s.errors += c.outcome.errors.values().sum::<u64>();
        }
        out
    }

    /// The summary table: one row per (variant, pool, connections) with the floor and
    /// the cycles side by side, then the reads.
    pub(crate) fn table(summaries: &[Summary]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "cross-process (median of rounds; latency over all requests of all rounds)"
        );
        let _ = writeln!(
            out,
            "{:<10} {:>7} {:>5} {:>10} {:>10} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "variant",
            "pool",
            "conns",
            "floor/s",
            "cycles/s",
            "ratio",
            "p50",
            "p99",
            "p99.9",
            "max",
            "stall",
            "errors"
        );
        for s in summaries.iter().filter(|s| s.key.3 == "cycle") {
            let (variant, pool, conns, _) = &s.key;
            let floor = median(&s.floors);
            let cycles = median(&s.rates);
            let _ = writeln!(
                out,
                "{:<10} {:>7} {:>5} {:>10.0} {:>10.0} {:>6.2} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
                variant,
                pool,
                conns,
                floor,
                cycles,
                ratio(cycles, floor),
                human(s.latency.percentile(0.5)),
                human(s.latency.percentile(0.99)),
                human(s.latency.percentile(0.999)),
                human(s.latency.max()),
                human(s.stall),
                s.errors
            );
        }
        let reads: Vec<&Summary> = summaries
            .iter()
            .filter(|s| matches!(s.key.3, "metric" | "scrape"))
            .collect();
        if !reads.is_empty() {
            let _ = writeln!(
                out,
                "{:<10} {:>7} {:>8} {:>10} {:>9} {:>9} {:>9}",
                "variant", "pool", "read", "per s", "p50", "p99", "max"
            );
            for s in reads {
                let (variant, pool, _, work) = &s.key;
                let _ = writeln!(
                    out,
                    "{:<10} {:>7} {:>8} {:>10.1} {:>9} {:>9} {:>9}",
                    variant,
                    pool,
                    work,
                    median(&s.rates),
                    human(s.latency.percentile(0.5)),
                    human(s.latency.percentile(0.99)),
                    human(s.latency.max()),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn cell(work: &'static str, round: usize, per_s: u64, floor: f64) -> Cell {
        let mut latency = Histogram::default();
        for _ in 0..per_s {
            latency.record(Duration::from_micros(100));
        }
        Cell {
            variant: Variant {
                label: "A".into(),
                binary: PathBuf::from("/bin/mason"),
                tls: false,
                auth: false,
                history: true,
            },
            pool: 100,
            connections: 1,
            round,
            work,
            floor_requests_per_s: floor,
            outcome: Outcome {
                latency,
                requests: per_s * 2,
                ops: per_s,
                stall: Duration::from_millis(round as u64),
                elapsed: Duration::from_secs(1),
                ..Outcome::default()
            },
        }
    }

    #[test]
    fn cycles_carry_the_ratio_to_their_floor() {
        let c = cell("cycle", 1, 3000, 20_000.0);
        let j = c.json();
        assert_eq!(j["ratio"], 0.3);
        assert_eq!(j["ops_per_s"], 3000.0);
        assert_eq!(j["floor_requests_per_s"], 20_000.0);
        assert!(c.text().contains("ratio 0.30"), "{}", c.text());
        assert!(cell("floor", 1, 10, 0.0).json().get("ratio").is_none());
    }

    #[test]
    fn summaries_take_medians_and_the_worst_stall() {
        let cells = vec![
            cell("cycle", 1, 1000, 10_000.0),
            cell("cycle", 2, 3000, 10_000.0),
            cell("cycle", 3, 2000, 12_000.0),
        ];
        let s = Summary::of(&cells);
        assert_eq!(s.len(), 1);
        assert_eq!(median(&s[0].rates), 2000.0);
        assert_eq!(s[0].stall, Duration::from_millis(3));
        let table = Summary::table(&s);
        assert!(table.contains(" 2000 "), "{table}");
        assert!(table.contains("0.40"), "{table}");
    }
}
