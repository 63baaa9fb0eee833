//! `mason bench --layer ttl-expiry`: the server ending many leases at their deadlines
//! (issue 12's scale line) while acquire/release cycles run, and what that costs them.
//!
//! An in-process `mason serve` over `--store` (a temp SQLite file by default, or
//! `postgres://…`) serves two types: `ttl`, with `--pool-size` resources (default
//! 100,000), and `bench`, with 100, which `--clients` clients cycle on (acquire +
//! release over HTTP, as `--layer http`).
//!
//! 1. **Grant.** Every `ttl` resource is leased through the store (`acquirebystate`,
//!    100 names per call, 4 calls at a time, in deadline order) with a TTL chosen so the
//!    deadlines are spread evenly over `--spread` (default 60 s), the first one
//!    [`LEAD`] after the grants start. Each grant's exact deadline is what the store
//!    answered.
//! 2. **Before**: cycles are measured in what remains of the lead (at least 3 s), while
//!    the deadlines are pending but none is due.
//! 3. **During**: cycles are measured from the first deadline to the last, while the
//!    server's expiry loop ends the leases.
//! 4. **After**: cycles are measured for `--duration` once every lease has ended.
//!
//! **Lateness** of a lease is its resource's `lastupdate` after the expiry (the time the
//! expiring store call was made) minus its deadline, both exact to the microsecond from the
//! store. The number of distinct `lastupdate`s is the number of expiry calls that ended
//! leases. **Throughput loss** is `1 − during ÷ mean(before, after)` in cycles/s.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_store::{AcquireByStateRequest, ResourceFilter, Store};
use mason_types::{BoskosConfig, ResourceEntry, Timestamp};

use crate::histogram::Histogram;
use crate::http::HttpTarget;
use crate::load::{self, Load, Mode, Stats};
use crate::pool::{open_store, BenchServer};
use crate::report::human;
use crate::{Error, Format, Result};

/// From the start of the grants to the first deadline.
pub(crate) const LEAD: Duration = Duration::from_secs(30);
/// Names per grant call.
const PER_CALL: usize = 100;
/// Grant calls in flight.
const GRANTERS: usize = 4;
/// Resources of the cycled type.
const CYCLED: usize = 100;
/// How long after the last deadline every lease must have ended.
const SETTLE: Duration = Duration::from_secs(30);

/// What a ttl-expiry run is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The store URL (`None`: a temp SQLite file).
    pub(crate) store: Option<String>,
    /// Leases that expire.
    pub(crate) leases: usize,
    /// Their deadlines are spread evenly over this.
    pub(crate) spread: Duration,
    /// Cycling clients.
    pub(crate) clients: usize,
    /// The "after" measurement.
    pub(crate) duration: Duration,
}

/// Cycles measured in one phase.
struct Phase {
    ops: u64,
    elapsed: Duration,
    acquire_p99: Duration,
    errors: u64,
}

impl Phase {
    fn of(stats: &Stats) -> Self {
        Self {
            ops: stats.ops,
            elapsed: stats.elapsed,
            acquire_p99: stats
                .latency
                .get(&load::Kind::Acquire)
                .map_or(Duration::ZERO, |h| h.percentile(0.99)),
            errors: stats.errors.values().sum(),
        }
    }

    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What it measured.
struct Figures {
    granted_in: Duration,
    late_grants: u64,
    lateness: Histogram,
    early: u64,
    expiry_calls: usize,
    all_ended_after_last: Duration,
    before: Phase,
    during: Phase,
    after: Phase,
}

impl Figures {
    fn loss(&self) -> f64 {
        let base = (self.before.rate() + self.after.rate()) / 2.0;
        if base <= 0.0 {
            return 0.0;
        }
        1.0 - self.during.rate() / base
    }
}

fn config(leases: usize) -> BoskosConfig {
    let names = |rtype: &str, n: usize| -> Vec<String> {
        let width = n.saturating_sub(1).to_string().len();
        (0..n).map(|i| format!("{rtype}-{i:0width$}")).collect()
    };
    BoskosConfig {
        resources: vec![
            ResourceEntry {
                rtype: "ttl".into(),
                state: "free".into(),
                names: names("ttl", leases),
                ..ResourceEntry::default()
            },
            ResourceEntry {
                rtype: "bench".into(),
                state: "free".into(),
                names: names("bench", CYCLED),
                ..ResourceEntry::default()
            },
        ],
    }
}

fn cycles(clients: usize, warmup: Duration, duration: Duration) -> Load {
    Load {
        rtype: "bench".into(),
        state: "free".into(),
        dest: "busy".into(),
        mode: Mode::Cycle,
        clients,
        warmup,
        duration,
        owner_prefix: "cycler".into(),
    }
}

fn at(t: Timestamp, d: Duration) -> Timestamp {
    t + chrono::Duration::from_std(d).unwrap_or_default()
}

fn since(later: Timestamp, earlier: Timestamp) -> Option<Duration> {
    (later - earlier).to_std().ok()
}

/// Run the plan and print its figures.
pub(crate) async fn run(plan: &Plan, format: Format) -> Result<()> {
    let store = open_store(plan.store.as_deref(), true).await?;
    let loading = Instant::now();
    let server = BenchServer::start(Arc::clone(&store.store), config(plan.leases)).await?;
    tracing::info!(
        took_ms = loading.elapsed().as_millis() as u64,
        "pool loaded"
    );
    let outcome = measure(plan, &store.store, &server.url).await;
    server.stop().await?;
    let figures = outcome?;
    print(plan, &store.url, &figures, format);
    if figures.lateness.count() as usize != plan.leases {
        return Err(Error::Target(format!(
            "only {} of {} leases ended",
            figures.lateness.count(),
            plan.leases
        )));
    }
    Ok(())
}

/// Grant every `ttl` lease with its deadline; returns deadline by name, and how many
/// grants came too late for their planned deadline (given a 1 ms TTL instead).
async fn grant(
    store: &Arc<dyn Store>,
    plan: &Plan,
    first: Timestamp,
) -> Result<(HashMap<String, Timestamp>, u64)> {
    let names = config(plan.leases).resources[0].names.clone();
    let chunks: Arc<Vec<Vec<String>>> =
        Arc::new(names.chunks(PER_CALL).map(<[String]>::to_vec).collect());
    let calls = chunks.len();
    let next = Arc::new(AtomicUsize::new(0));
    let late = Arc::new(AtomicU64::new(0));
    let deadlines = Arc::new(Mutex::new(HashMap::with_capacity(plan.leases)));
    let mut tasks = Vec::new();
    for _ in 0..GRANTERS {
        let (store, chunks, next, late, deadlines) = (
            Arc::clone(store),
            Arc::clone(&chunks),
            Arc::clone(&next),
            Arc::clone(&late),
            Arc::clone(&deadlines),
        );
        let spread = plan.spread;
        tasks.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(chunk) = chunks.get(k) else {
                    return Ok::<(), Error>(());
                };
                let planned = at(first, spread.mul_f64(k as f64 / calls as f64));
                let ttl = match since(planned, chrono::Utc::now()) {
                    Some(ttl) if ttl >= Duration::from_millis(1) => ttl,
                    _ => {
                        late.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        Duration::from_millis(1)
                    }
                };
                let granted = store
                    .acquire_by_state_leases(&AcquireByStateRequest {
                        state: "free".into(),
                        dest: "busy".into(),
                        owner: format!("holder-{k}"),
                        names: chunk.clone(),
                        lease_ttl: Some(ttl),
                        ..AcquireByStateRequest::default()
                    })
                    .await
                    .map_err(|source| Error::Store {
                        what: format!("granting leases {k}"),
                        source,
                    })?;
                let mut d = deadlines.lock().expect("deadlines lock");
                for r in granted {
                    let deadline = r.lease.lease_deadline.ok_or_else(|| {
                        Error::Target(format!(
                            "{} was granted without a deadline",
                            r.resource.name
                        ))
                    })?;
                    d.insert(r.resource.name, deadline);
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(Error::task)??;
    }
    let deadlines = std::mem::take(&mut *deadlines.lock().expect("deadlines lock"));
    Ok((deadlines, late.load(Ordering::Relaxed)))
}

async fn measure(plan: &Plan, store: &Arc<dyn Store>, url: &str) -> Result<Figures> {
    let target = Arc::new(HttpTarget::new(url)?);
    let started = Instant::now();
    let first = at(chrono::Utc::now(), LEAD);
    let first_at = started + LEAD;
    let (deadlines, late_grants) = grant(store, plan, first).await?;
    let granted_in = started.elapsed();
    let last = deadlines.values().max().copied().unwrap_or(first);

    // Before: what remains of the lead, 0.5 s short of the first deadline.
    let left = first_at
        .saturating_duration_since(Instant::now())
        .saturating_sub(Duration::from_millis(500));
    if left < Duration::from_secs(3) {
        tracing::warn!(
            granted_in_s = granted_in.as_secs_f64(),
            "the grants left less than 3 s of the lead: the 'before' run overlaps the first expiries"
        );
    }
    let before = load::run(
        Arc::clone(&target),
        &cycles(
            plan.clients,
            Duration::from_millis(500),
            left.max(Duration::from_secs(3)),
        ),
    )
    .await?;

    // During: from the first deadline to the last.
    tokio::time::sleep_until(first_at.into()).await;
    let during = load::run(
        Arc::clone(&target),
        &cycles(plan.clients, Duration::ZERO, plan.spread),
    )
    .await?;

    // Every lease ended?
    let filter = ResourceFilter {
        rtype: Some("ttl".into()),
        ..ResourceFilter::default()
    };
    let settle_until = Instant::now() + SETTLE;
    let ended = loop {
        let all = store
            .list_v2(&filter)
            .await
            .map_err(|source| Error::Store {
                what: "listing the leases".into(),
                source,
            })?;
        let held = all.iter().filter(|r| !r.resource.owner.is_empty()).count();
        if held == 0 || Instant::now() >= settle_until {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut lateness = Histogram::default();
    let mut early = 0;
    let mut calls = BTreeSet::new();
    let mut latest = None::<Timestamp>;
    for r in &ended {
        if !r.resource.owner.is_empty() {
            continue;
        }
        let Some(deadline) = deadlines.get(&r.resource.name) else {
            continue;
        };
        let ended_at = r.resource.lastupdate;
        calls.insert(ended_at);
        latest = latest.max(Some(ended_at));
        match since(ended_at, *deadline) {
            Some(late) => lateness.record(late),
            None => {
                early += 1;
                lateness.record(Duration::ZERO);
            }
        }
    }
    let all_ended_after_last = latest.and_then(|t| since(t, last)).unwrap_or_default();

    // After: once they all ended.
    let after = load::run(
        Arc::clone(&target),
        &cycles(plan.clients, Duration::from_secs(1), plan.duration),
    )
    .await?;
    for stats in [&before, &during, &after] {
        crate::verdict(stats)?;
    }
    Ok(Figures {
        granted_in,
        late_grants,
        lateness,
        early,
        expiry_calls: calls.len(),
        all_ended_after_last,
        before: Phase::of(&before),
        during: Phase::of(&during),
        after: Phase::of(&after),
    })
}

fn print(plan: &Plan, store: &str, f: &Figures, format: Format) {
    let p = |q: f64| f.lateness.percentile(q);
    match format {
        Format::Text => {
            println!(
                "ttl-expiry on {store}: {} leases, deadlines over {:.0}s, {} cycling client(s)",
                plan.leases,
                plan.spread.as_secs_f64(),
                plan.clients
            );
            println!(
                "  grants: {:.1}s ({} too late for their planned deadline)",
                f.granted_in.as_secs_f64(),
                f.late_grants
            );
            println!(
                "  lateness: n={} p50={} p90={} p99={} max={} ({} before the deadline); {} expiry calls ({:.0} leases per call); last ended {} after the last deadline",
                f.lateness.count(),
                human(p(0.50)),
                human(p(0.90)),
                human(p(0.99)),
                human(f.lateness.max()),
                f.early,
                f.expiry_calls,
                f.lateness.count() as f64 / f.expiry_calls.max(1) as f64,
                human(f.all_ended_after_last)
            );
            for (name, phase) in [
                ("before", &f.before),
                ("during", &f.during),
                ("after", &f.after),
            ] {
                println!(
                    "  cycles {name:>6}: {:>8.0}/s over {:.1}s, acquire p99 {}, {} non-200",
                    phase.rate(),
                    phase.elapsed.as_secs_f64(),
                    human(phase.acquire_p99),
                    phase.errors
                );
            }
            println!(
                "  throughput loss during expiry: {:.1}% (during / mean(before, after))",
                100.0 * f.loss()
            );
        }
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "layer": "ttl-expiry",
                "store": store,
                "leases": plan.leases,
                "spread_s": plan.spread.as_secs_f64(),
                "clients": plan.clients,
                "granted_in_s": f.granted_in.as_secs_f64(),
                "late_grants": f.late_grants,
                "ended": f.lateness.count(),
                "lateness_p50_us": p(0.50).as_micros() as u64,
                "lateness_p90_us": p(0.90).as_micros() as u64,
                "lateness_p99_us": p(0.99).as_micros() as u64,
                "lateness_max_us": f.lateness.max().as_micros() as u64,
                "early": f.early,
                "expiry_calls": f.expiry_calls,
                "cycles_before_per_s": f.before.rate(),
                "cycles_during_per_s": f.during.rate(),
                "cycles_after_per_s": f.after.rate(),
                "loss": f.loss(),
            })
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_compares_during_with_the_mean_of_before_and_after() {
        let phase = |ops| Phase {
            ops,
            elapsed: Duration::from_secs(1),
            acquire_p99: Duration::ZERO,
            errors: 0,
        };
        let f = Figures {
            granted_in: Duration::ZERO,
            late_grants: 0,
            lateness: Histogram::default(),
            early: 0,
            expiry_calls: 0,
            all_ended_after_last: Duration::ZERO,
            before: phase(1000),
            during: phase(900),
            after: phase(1000),
        };
        assert!((f.loss() - 0.1).abs() < 1e-9);
        let names = &config(1000).resources[0].names;
        assert_eq!((names[0].as_str(), names.len()), ("ttl-000", 1000));
    }
}
