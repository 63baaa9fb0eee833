//! `mason bench --layer long-poll`: how fast a held-open `POST /api/v2/acquire` is
//! served when its resource frees up, and what idle waiters cost (issue 12).
//!
//! An in-process `mason serve` over `--store` (a temp SQLite file by default, or
//! `postgres://…`) serves two kinds of type:
//!
//! - `idle`: one resource, taken at the start and never given back. `--waiters` clients
//!   (one connection each) wait for it with `"wait":"60s"`, asking again whenever a wait
//!   runs out. Once they are all queued, the process's CPU time is read over an idle
//!   window: what parked waiters cost.
//! - `hot-K` for each of `--clients` pairs: one resource passed back and forth between
//!   two clients. The holder waits until the other is parked (queued and held open: 10 ms,
//!   a look at `/api/v2/queue`, 5 ms), then releases; the latency is from just before the release is sent to the moment the
//!   waiter's 200 arrives — the release, the commit, the availability signal, the wake-up,
//!   the grant and both HTTP exchanges. Then the roles swap.
//!
//! No client ever polls: every wait is held open by the server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_types::{BoskosConfig, ResourceEntry};

use crate::histogram::Histogram;
use crate::http::{HttpConn, HttpTarget};
use crate::load::Target;
use crate::pool::{open_store, BenchServer};
use crate::report::human;
use crate::{Error, Format, Result};

/// What a long-poll run is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The store URL (`None`: a temp SQLite file).
    pub(crate) store: Option<String>,
    /// Idle waiters.
    pub(crate) waiters: usize,
    /// Pairs passing a resource back and forth.
    pub(crate) pairs: usize,
    /// Unmeasured lead-in of the latency phase.
    pub(crate) warmup: Duration,
    /// Measured latency phase (the idle window is as long, at most 10 s).
    pub(crate) duration: Duration,
}

/// What it measured.
pub(crate) struct Figures {
    /// Release sent → waiter's 200 received.
    pub(crate) latency: Histogram,
    /// Process CPU (user + system) per second of the idle window, in percent of one core.
    pub(crate) idle_cpu_percent: f64,
    /// How long the idle window was.
    pub(crate) idle_window: Duration,
    /// Waiters queued during it.
    pub(crate) waiters: usize,
    /// Held-open requests that ended without their resource and were asked again.
    pub(crate) rewaits: u64,
}

fn config(pairs: usize) -> BoskosConfig {
    let entry = |rtype: String| ResourceEntry {
        names: vec![format!("{rtype}-0")],
        rtype,
        state: "free".into(),
        ..ResourceEntry::default()
    };
    let mut resources: Vec<ResourceEntry> = (0..pairs).map(|k| entry(format!("hot-{k}"))).collect();
    resources.push(entry("idle".into()));
    BoskosConfig { resources }
}

/// A held-open set request for one resource of `rtype`.
fn wait_body(owner: &str, rtype: &str) -> String {
    format!(
        r#"{{"owner":"{owner}","request_id":"{owner}","wait":"60s","resources":[{{"type":"{rtype}","state":"free","dest":"busy"}}]}}"#
    )
}

async fn connect(target: &HttpTarget) -> Result<HttpConn> {
    target.connect().await.map_err(Error::Target)
}

/// How many places `GET /api/v2/queue` lists for `rtype`.
async fn queued(conn: &mut HttpConn, rtype: &str) -> Result<usize> {
    let (_, body) = conn.get("api/v2/queue").await.map_err(Error::Target)?;
    let places: Vec<serde_json::Value> =
        serde_json::from_slice(&body).map_err(|e| Error::Target(format!("/api/v2/queue: {e}")))?;
    Ok(places.iter().filter(|p| p["type"] == rtype).count())
}

/// Run the plan and print its figures.
pub(crate) async fn run(plan: &Plan, format: Format) -> Result<()> {
    let store = open_store(plan.store.as_deref(), true).await?;
    let server = BenchServer::start(Arc::clone(&store.store), config(plan.pairs)).await?;
    let outcome = measure(plan, &server.url).await;
    server.stop().await?;
    let figures = outcome?;
    print(plan, &store.url, &figures, format);
    if figures.latency.count() == 0 {
        return Err(Error::NothingSucceeded);
    }
    Ok(())
}

async fn measure(plan: &Plan, url: &str) -> Result<Figures> {
    let target = Arc::new(HttpTarget::new(url)?);
    let mut control = connect(&target).await?;
    let (status, body) = control
        .post(
            "acquire",
            &[
                ("type", "idle"),
                ("state", "free"),
                ("dest", "busy"),
                ("owner", "keeper"),
            ],
        )
        .await
        .map_err(Error::Target)?;
    if status != 200 {
        return Err(Error::Target(format!(
            "taking the idle resource: {status} {}",
            String::from_utf8_lossy(&body)
        )));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let rewaits = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut idle = Vec::with_capacity(plan.waiters);
    for i in 0..plan.waiters {
        let mut conn = connect(&target).await?;
        let (stop, rewaits) = (Arc::clone(&stop), Arc::clone(&rewaits));
        idle.push(tokio::spawn(async move {
            let body = wait_body(&format!("idle-{i}"), "idle");
            while !stop.load(Ordering::Relaxed) {
                match conn.post_json("api/v2/acquire", body.clone()).await {
                    Ok(_) => {
                        rewaits.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while queued(&mut control, "idle").await? < plan.waiters {
        if Instant::now() > deadline {
            return Err(Error::Target(
                "the idle waiters did not all queue within 120 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_window = plan
        .duration
        .clamp(Duration::from_secs(1), Duration::from_secs(10));
    let cpu_before = process_cpu()?;
    let window_start = Instant::now();
    tokio::time::sleep(idle_window).await;
    let cpu = process_cpu()?.saturating_sub(cpu_before);
    let idle_window = window_start.elapsed();
    let idle_cpu_percent = 100.0 * cpu.as_secs_f64() / idle_window.as_secs_f64();

    let latency = Arc::new(Mutex::new(Histogram::default()));
    let mut pairs = Vec::new();
    for k in 0..plan.pairs {
        let (a, b, probe) = (
            connect(&target).await?,
            connect(&target).await?,
            connect(&target).await?,
        );
        pairs.push(tokio::spawn(pass_back_and_forth(
            k,
            [a, b],
            probe,
            Instant::now() + plan.warmup,
            Instant::now() + plan.warmup + plan.duration,
            Arc::clone(&latency),
        )));
    }
    let mut failure = None;
    for pair in pairs {
        if let Err(e) = pair.await.map_err(Error::task)? {
            failure.get_or_insert(e);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for waiter in idle {
        waiter.abort();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let latency = std::mem::take(&mut *latency.lock().expect("histogram lock"));
    Ok(Figures {
        latency,
        idle_cpu_percent,
        idle_window,
        waiters: plan.waiters,
        rewaits: rewaits.load(Ordering::Relaxed),
    })
}

/// One pair on `hot-K`: the holder waits until the other client's request is queued
/// (held open), releases, and the other's answer closes the measurement; then they swap.
async fn pass_back_and_forth(
    k: usize,
    conns: [HttpConn; 2],
    mut probe: HttpConn,
    measure_from: Instant,
    end: Instant,
    latency: Arc<Mutex<Histogram>>,
) -> Result<()> {
    let rtype = format!("hot-{k}");
    let owners = [format!("hot-{k}-a"), format!("hot-{k}-b")];
    let [mut first, second] = conns;
    let (status, body) = first
        .post_json("api/v2/acquire", wait_body(&owners[0], &rtype))
        .await
        .map_err(Error::Target)?;
    if status != 200 {
        return Err(Error::Target(format!(
            "{rtype}: first grant: {status} {}",
            String::from_utf8_lossy(&body)
        )));
    }
    let name = format!("{rtype}-0");
    let mut conns = [Some(first), Some(second)];
    let mut holder = 0;
    while Instant::now() < end {
        let waiter = 1 - holder;
        let mut waiting = conns[waiter].take().expect("the waiter's connection");
        let body = wait_body(&owners[waiter], &rtype);
        let answer = tokio::spawn(async move {
            let reply = waiting.post_json("api/v2/acquire", body).await;
            (reply, Instant::now(), waiting)
        });
        // Let the waiter's first attempt end (it is then parked), then make sure it is
        // queued; the queue listing is read rarely, so it hardly loads the server.
        tokio::time::sleep(Duration::from_millis(10)).await;
        while queued(&mut probe, &rtype).await? == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let released_at = Instant::now();
        let conn = conns[holder].as_mut().expect("the holder's connection");
        let (status, body) = conn
            .post(
                "release",
                &[
                    ("name", &name),
                    ("dest", "free"),
                    ("owner", &owners[holder]),
                ],
            )
            .await
            .map_err(Error::Target)?;
        if status != 200 {
            return Err(Error::Target(format!(
                "{name}: release: {status} {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let (reply, answered_at, conn) = answer.await.map_err(Error::task)?;
        let (status, body) = reply.map_err(Error::Target)?;
        if status != 200 {
            return Err(Error::Target(format!(
                "{rtype}: the waiter got {status} {}",
                String::from_utf8_lossy(&body)
            )));
        }
        if released_at >= measure_from {
            latency
                .lock()
                .expect("histogram lock")
                .record(answered_at - released_at);
        }
        conns[waiter] = Some(conn);
        holder = waiter;
    }
    Ok(())
}

/// This process's CPU time so far (user + system), from `/proc/self/stat` (Linux).
fn process_cpu() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .map_err(Error::io("cannot read /proc/self/stat"))?;
    // Fields after the command name (which may hold spaces) start at state, field 3;
    // utime and stime are fields 14 and 15, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Ok(Duration::from_millis((user + system) * 10)),
        _ => Err(Error::Target("unexpected /proc/self/stat".into())),
    }
}

fn print(plan: &Plan, store: &str, f: &Figures, format: Format) {
    let p = |q: f64| f.latency.percentile(q);
    match format {
        Format::Text => {
            println!(
                "long-poll on {store}: {} pair(s), {} idle waiter(s)",
                plan.pairs, f.waiters
            );
            println!(
                "  release -> waiter's answer: n={} p50={} p90={} p99={} max={}",
                f.latency.count(),
                human(p(0.50)),
                human(p(0.90)),
                human(p(0.99)),
                human(f.latency.max())
            );
            println!(
                "  idle: {:.2}% of one core over {:.1}s with {} waiters held open ({} waits ran out and were asked again)",
                f.idle_cpu_percent,
                f.idle_window.as_secs_f64(),
                f.waiters,
                f.rewaits
            );
        }
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "layer": "long-poll",
                "store": store,
                "pairs": plan.pairs,
                "waiters": f.waiters,
                "samples": f.latency.count(),
                "p50_us": p(0.50).as_micros() as u64,
                "p90_us": p(0.90).as_micros() as u64,
                "p99_us": p(0.99).as_micros() as u64,
                "max_us": f.latency.max().as_micros() as u64,
                "idle_cpu_percent": f.idle_cpu_percent,
                "idle_window_s": f.idle_window.as_secs_f64(),
                "rewaits": f.rewaits,
            })
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_run_measures_wake_ups_and_idle_waiters() {
        let plan = Plan {
            store: None,
            waiters: 5,
            pairs: 1,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(1),
        };
        let store = open_store(None, true).await.unwrap();
        let server = BenchServer::start(Arc::clone(&store.store), config(plan.pairs))
            .await
            .unwrap();
        let figures = measure(&plan, &server.url).await.unwrap();
        server.stop().await.unwrap();
        assert!(figures.latency.count() > 0, "the pair passed its resource");
        assert!(figures.latency.max() > Duration::ZERO);
        assert_eq!(figures.waiters, 5);
        assert!(figures.idle_window >= Duration::from_secs(1));
        assert!(figures.idle_cpu_percent >= 0.0);
    }
}
