//! The cross-process load: one OS thread per connection, each looping one [`Work`] over
//! its own blocking keep-alive [`WireConn`] until the deadline. Floor and lease cycles go
//! through exactly the same code, so their ratio compares the server's two routes and not
//! two clients.
//!
//! Every request is timed into a [`Histogram`]; every completion time is kept as well, so
//! the longest *stall* can be found: the longest stretch of the measured window in which
//! no connection got any answer (with one connection that is the slowest request plus the
//! client's own turn-around; with eight, a pause of the whole server).

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::cross::wire::{Endpoint, Method, WireConn};
use crate::histogram::Histogram;
use crate::{Error, Result};

/// What each connection loops on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Work {
    /// `GET /`, the catch-all no-op route: the floor.
    Floor,
    /// `POST /acquire` (state → dest) then `POST /release` (back to state): one cycle.
    Cycle {
        /// Resource type.
        rtype: String,
        /// State acquired from and released back to.
        state: String,
        /// State held in.
        dest: String,
    },
    /// `GET /metric?type=T`.
    Metric {
        /// Resource type.
        rtype: String,
    },
    /// `GET /metrics`, a Prometheus scrape.
    Scrape,
}

impl Work {
    /// Name in reports.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Work::Floor => "floor",
            Work::Cycle { .. } => "cycle",
            Work::Metric { .. } => "metric",
            Work::Scrape => "scrape",
        }
    }
}

/// One measured run.
#[derive(Clone)]
pub(crate) struct Run {
    /// The server.
    pub(crate) endpoint: Endpoint,
    /// The loop.
    pub(crate) work: Work,
    /// Connections (= threads).
    pub(crate) connections: usize,
    /// Unrecorded lead-in.
    pub(crate) warmup: Duration,
    /// Measured time.
    pub(crate) duration: Duration,
}

/// What a run measured.
#[derive(Clone, Default)]
pub(crate) struct Outcome {
    /// Every request's latency (acquire and release together for cycles).
    pub(crate) latency: Histogram,
    /// Requests answered with any status.
    pub(crate) requests: u64,
    /// Completed units: cycles, or 200 answers for the other kinds.
    pub(crate) ops: u64,
    /// Non-200 answers by status (0 = transport error).
    pub(crate) errors: BTreeMap<u16, u64>,
    /// Releases refused right after the same client's acquire (double-lease suspects).
    pub(crate) refused_own: u64,
    /// The longest stretch without any answer.
    pub(crate) stall: Duration,
    /// Wall time of the measured window.
    pub(crate) elapsed: Duration,
    /// Bytes of the last body of a successful answer (the size of a scrape).
    pub(crate) body_bytes: usize,
}

impl Outcome {
    /// Requests per second.
    pub(crate) fn requests_per_s(&self) -> f64 {
        per_second(self.requests, self.elapsed)
    }

    /// Units per second.
    pub(crate) fn ops_per_s(&self) -> f64 {
        per_second(self.ops, self.elapsed)
    }
}

fn per_second(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

/// What one thread brings back.
#[derive(Default)]
struct ThreadOutcome {
    latency: Histogram,
    requests: u64,
    ops: u64,
    errors: BTreeMap<u16, u64>,
    refused_own: u64,
    /// Nanoseconds since the start of the measured window, in order.
    completions: Vec<u64>,
    body_bytes: usize,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Run `run` and gather the figures. Fails when a thread cannot connect at all.
pub(crate) fn measure(run: &Run) -> Result<Outcome> {
    // Every connection is open before anyone starts, so the first requests are not
    // queued behind connection set-up.
    let mut conns = Vec::with_capacity(run.connections);
    for _ in 0..run.connections {
        conns.push(
            WireConn::connect(&run.endpoint, CONNECT_TIMEOUT).map_err(|e| Error::Connect {
                target: run.endpoint.url(),
                reason: e.to_string(),
            })?,
        );
    }
    let barrier = Arc::new(Barrier::new(run.connections + 1));
    let mut threads = Vec::with_capacity(run.connections);
    let start = Arc::new(std::sync::OnceLock::<Instant>::new());
    for (i, conn) in conns.into_iter().enumerate() {
        let barrier = Arc::clone(&barrier);
        let start = Arc::clone(&start);
        let run = run.clone();
        let thread = std::thread::Builder::new()
            .name(format!("bench-conn-{i}"))
            .spawn(move || {
                barrier.wait();
                let start = *start.get().expect("set before the barrier opens");
                Looper::new(&run, i, start).run(conn)
            })
            .map_err(Error::io("cannot start a load thread"))?;
        threads.push(thread);
    }
    let started = Instant::now();
    start
        .set(started)
        .expect("the start is set once, before the barrier");
    barrier.wait();
    let mut total = Outcome::default();
    let mut completions = Vec::new();
    for thread in threads {
        let t = thread
            .join()
            .map_err(|_| Error::Target("a load thread panicked".into()))?;
        total.latency.merge(&t.latency);
        total.requests += t.requests;
        total.ops += t.ops;
        for (status, n) in t.errors {
            *total.errors.entry(status).or_default() += n;
        }
        total.refused_own += t.refused_own;
        total.body_bytes = total.body_bytes.max(t.body_bytes);
        completions.extend(t.completions);
    }
    total.elapsed = run.duration;
    total.stall = longest_gap(&mut completions, run.duration);
    Ok(total)
}

/// The longest stretch of `[0, window]` (nanoseconds) that holds no completion.
fn longest_gap(completions: &mut [u64], window: Duration) -> Duration {
    completions.sort_unstable();
    let end = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
    let mut last = 0u64;
    let mut longest = 0u64;
    for &t in completions.iter().filter(|&&t| t <= end) {
        longest = longest.max(t - last);
        last = t;
    }
    longest = longest.max(end.saturating_sub(last));
    Duration::from_nanos(longest)
}

/// One connection's loop.
struct Looper<'a> {
    run: &'a Run,
    measure_from: Instant,
    deadline: Instant,
    /// Pre-built request targets.
    acquire: String,
    release_prefix: String,
    metric: String,
    out: ThreadOutcome,
    body: Vec<u8>,
}

/// Just the field of an acquired resource the loop needs.
#[derive(serde::Deserialize)]
struct Named {
    name: String,
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl<'a> Looper<'a> {
    fn new(run: &'a Run, index: usize, start: Instant) -> Self {
        let measure_from = start + run.warmup;
        let owner = encode(&format!("mason-bench-{index}"));
        let (acquire, release_prefix, metric) = match &run.work {
            Work::Cycle { rtype, state, dest } => (
                format!(
                    "/acquire?type={}&state={}&dest={}&owner={owner}",
                    encode(rtype),
                    encode(state),
                    encode(dest)
                ),
                format!("/release?owner={owner}&dest={}&name=", encode(state)),
                String::new(),
            ),
            Work::Metric { rtype } => (
                String::new(),
                String::new(),
                format!("/metric?type={}", encode(rtype)),
            ),
            Work::Floor | Work::Scrape => Default::default(),
        };
        Self {
            run,
            measure_from,
            deadline: measure_from + run.duration,
            acquire,
            release_prefix,
            metric,
            out: ThreadOutcome::default(),
            body: Vec::with_capacity(4096),
        }
    }

    fn run(mut self, mut conn: WireConn) -> ThreadOutcome {
        let mut held: Option<String> = None;
        while Instant::now() < self.deadline {
            if conn.is_closed() {
                match WireConn::connect(&self.run.endpoint, CONNECT_TIMEOUT) {
                    Ok(c) => conn = c,
                    Err(_) => {
                        self.note(Instant::now(), 0);
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                }
            }
            if self.step(&mut conn, &mut held).is_err() {
                // A transport error: the connection is unusable; open a new one.
                if let Ok(c) = WireConn::connect(&self.run.endpoint, CONNECT_TIMEOUT) {
                    conn = c;
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        // Hand back a lease still held (untimed), so the pool ends as it started.
        if let Some(name) = held {
            let target = format!("{}{}", self.release_prefix, encode(&name));
            if conn.is_closed() {
                if let Ok(c) = WireConn::connect(&self.run.endpoint, CONNECT_TIMEOUT) {
                    conn = c;
                }
            }
            let _ = conn.request(Method::Post, &target, &mut self.body);
        }
        self.out
    }

    /// Record one answer that started at `t` (only inside the measured window).
    fn note(&mut self, t: Instant, status: u16) {
        if t < self.measure_from {
            return;
        }
        let done = Instant::now();
        if t >= self.deadline {
            return;
        }
        self.out.latency.record(done - t);
        self.out.requests += 1;
        let since = done.saturating_duration_since(self.measure_from);
        self.out
            .completions
            .push(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX));
        if status != 200 {
            *self.out.errors.entry(status).or_default() += 1;
        }
    }

    fn counts(&self, t: Instant) -> bool {
        t >= self.measure_from && t < self.deadline
    }

    /// One unit of work; `Err` on a transport error (already recorded).
    fn step(&mut self, conn: &mut WireConn, held: &mut Option<String>) -> std::io::Result<()> {
        let t = Instant::now();
        match &self.run.work {
            Work::Floor | Work::Scrape | Work::Metric { .. } => {
                let target = match &self.run.work {
                    Work::Floor => "/".to_string(),
                    Work::Scrape => "/metrics".to_string(),
                    _ => std::mem::take(&mut self.metric),
                };
                let status = self.timed(conn, Method::Get, &target, t);
                if matches!(self.run.work, Work::Metric { .. }) {
                    self.metric = target;
                }
                let status = status?;
                if status == 200 && self.counts(t) {
                    self.out.ops += 1;
                    self.out.body_bytes = self.body.len();
                }
            }
            Work::Cycle { .. } => {
                let acquire = std::mem::take(&mut self.acquire);
                let status = self.timed(conn, Method::Post, &acquire, t);
                self.acquire = acquire;
                if status? != 200 {
                    return Ok(());
                }
                let name = match serde_json::from_slice::<Named>(&self.body) {
                    Ok(named) => named.name,
                    Err(_) => {
                        // A 200 that is not a resource: count it as a bad answer.
                        *self.out.errors.entry(1).or_default() += 1;
                        return Ok(());
                    }
                };
                *held = Some(name.clone());
                let release = format!("{}{}", self.release_prefix, encode(&name));
                let r = Instant::now();
                let status = self.timed(conn, Method::Post, &release, r)?;
                if status == 200 {
                    *held = None;
                    if self.counts(t) {
                        self.out.ops += 1;
                    }
                } else if status == 401 || status == 409 || status == 404 {
                    // Our own fresh lease was refused: lost or granted twice.
                    *held = None;
                    self.out.refused_own += 1;
                }
            }
        }
        Ok(())
    }

    fn timed(
        &mut self,
        conn: &mut WireConn,
        method: Method,
        target: &str,
        t: Instant,
    ) -> std::io::Result<u16> {
        match conn.request(method, target, &mut self.body) {
            Ok(status) => {
                self.note(t, status);
                Ok(status)
            }
            Err(e) => {
                self.note(t, 0);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_cover_both_edges() {
        let s = Duration::from_millis;
        let ns = |ms: u64| ms * 1_000_000;
        assert_eq!(longest_gap(&mut [], s(10)), s(10));
        assert_eq!(longest_gap(&mut [ns(7), ns(2), ns(3)], s(10)), s(4));
        assert_eq!(longest_gap(&mut [ns(6), ns(9)], s(10)), s(6));
        assert_eq!(longest_gap(&mut [ns(1), ns(2), ns(4)], s(10)), s(6));
        // Completions after the window (a last request finishing late) do not count.
        assert_eq!(longest_gap(&mut [ns(5), ns(30)], s(10)), s(5));
    }
}
