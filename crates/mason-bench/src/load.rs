//! The load generator of `mason bench`: N client tasks, each with its own connection to a
//! [`Target`], looping one [`Mode`] until the deadline, timing every request into a
//! per-kind [`Histogram`], counting non-200 answers by status, and probing for double
//! leases (a release or heartbeat refused right after the client's own acquire).
//!
//! A warm-up period runs the same loop without recording, so connection set-up, page
//! cache and statement cache misses stay out of the figures.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ValueEnum;

use crate::histogram::Histogram;
use crate::{Error, Result};

/// What each client does in its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    /// Acquire one resource, release it back to its state; one op = both requests.
    Cycle,
    /// Acquire repeatedly and hold; when the pool runs dry, release everything held and
    /// go on. One op = one successful acquire (the releases are timed but not counted).
    AcquireOnly,
    /// Acquire one resource, then send `/update` heartbeats on it; one op = one heartbeat.
    Heartbeat,
}

impl Mode {
    /// The name as typed on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Cycle => "cycle",
            Mode::AcquireOnly => "acquire-only",
            Mode::Heartbeat => "heartbeat",
        }
    }
}

/// A request kind, timed separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    /// `/acquire`.
    Acquire,
    /// `/release`.
    Release,
    /// `/update`.
    Update,
    /// A bare database commit (the raw SQLite baselines).
    Commit,
}

impl Kind {
    /// Lower-case name, as in the route.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Acquire => "acquire",
            Kind::Release => "release",
            Kind::Update => "update",
            Kind::Commit => "commit",
        }
    }
}

/// A target's answer: the HTTP status (or its equivalent for the store layer) and, for a
/// successful acquire, the resource name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// 200 on success; the Boskos status otherwise.
    pub(crate) status: u16,
    /// The acquired resource's name (acquire, status 200 only).
    pub(crate) name: Option<String>,
}

/// Something the load generator can talk to: an HTTP server or a store.
pub(crate) trait Target: Send + Sync + 'static {
    /// One client's private connection.
    type Conn: Conn;
    /// Open a connection (a TCP connection for HTTP).
    fn connect(&self) -> impl Future<Output = Result<Self::Conn, String>> + Send;
    /// What to call it in an error message.
    fn name(&self) -> String;
}

/// One client's connection. A transport error (`Err`) makes the client reconnect.
pub(crate) trait Conn: Send + 'static {
    /// `POST /acquire?type&state&dest&owner`.
    fn acquire(
        &mut self,
        rtype: &str,
        state: &str,
        dest: &str,
        owner: &str,
    ) -> impl Future<Output = Result<Reply, String>> + Send;
    /// `POST /release?name&dest&owner`.
    fn release(
        &mut self,
        name: &str,
        dest: &str,
        owner: &str,
    ) -> impl Future<Output = Result<Reply, String>> + Send;
    /// `POST /update?name&owner&state`, no body.
    fn update(
        &mut self,
        name: &str,
        owner: &str,
        state: &str,
    ) -> impl Future<Output = Result<Reply, String>> + Send;
}

/// The load to generate.
#[derive(Debug, Clone)]
pub(crate) struct Load {
    /// Resource type to acquire.
    pub(crate) rtype: String,
    /// State acquired from (and released back to).
    pub(crate) state: String,
    /// State held in.
    pub(crate) dest: String,
    /// Client loop.
    pub(crate) mode: Mode,
    /// Concurrent clients, one connection each.
    pub(crate) clients: usize,
    /// Unrecorded lead-in.
    pub(crate) warmup: Duration,
    /// Measured run time.
    pub(crate) duration: Duration,
    /// Owners are `<prefix>-<client index>`, so every client is a distinct owner.
    pub(crate) owner_prefix: String,
}

/// Everything one run measured.
#[derive(Clone, Default)]
pub(crate) struct Stats {
    /// Latency per request kind.
    pub(crate) latency: BTreeMap<Kind, Histogram>,
    /// Non-200 answers by (kind, status); status 0 = transport error.
    pub(crate) errors: BTreeMap<(Kind, u16), u64>,
    /// Completed units of work (see [`Mode`]).
    pub(crate) ops: u64,
    /// Releases or heartbeats refused on a resource the client had just been granted.
    pub(crate) refused_own: u64,
    /// Wall time of the measured part.
    pub(crate) elapsed: Duration,
}

impl Stats {
    fn merge(&mut self, other: &Stats) {
        for (k, h) in &other.latency {
            self.latency.entry(*k).or_default().merge(h);
        }
        for (k, n) in &other.errors {
            *self.errors.entry(*k).or_default() += n;
        }
        self.ops += other.ops;
        self.refused_own += other.refused_own;
    }

    /// Requests answered (any status) in the measured part.
    pub(crate) fn requests(&self) -> u64 {
        self.latency.values().map(Histogram::count).sum()
    }
}

/// Run `load` against `target` and gather the figures.
pub(crate) async fn run<T: Target>(target: Arc<T>, load: &Load) -> Result<Stats> {
    // Fail fast on an unreachable target instead of spinning N clients on it.
    drop(target.connect().await.map_err(|reason| Error::Connect {
        target: target.name(),
        reason,
    })?);
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let deadline = measure_from + load.duration;
    let mut tasks = Vec::with_capacity(load.clients);
    for i in 0..load.clients {
        let target = Arc::clone(&target);
        let mut client = Client {
            load: load.clone(),
            owner: format!("{}-{i}", load.owner_prefix),
            measure_from,
            deadline,
            stats: Stats::default(),
        };
        tasks.push(tokio::spawn(async move {
            client.run(&*target).await;
            client.stats
        }));
    }
    let mut total = Stats::default();
    for task in tasks {
        total.merge(&task.await.map_err(Error::task)?);
    }
    total.elapsed = Instant::now().saturating_duration_since(measure_from);
    Ok(total)
}

/// One client task.
struct Client {
    load: Load,
    /// This client's owner name.
    owner: String,
    /// Start recording here.
    measure_from: Instant,
    /// Stop here.
    deadline: Instant,
    stats: Stats,
}

impl Client {
    async fn run<T: Target>(&mut self, target: &T) {
        let mut held: Vec<String> = Vec::new();
        while Instant::now() < self.deadline {
            let Ok(mut conn) = target.connect().await else {
                self.note(Kind::Acquire, Instant::now(), 0);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let outcome = match self.load.mode {
                Mode::Cycle => self.cycle(&mut conn).await,
                Mode::AcquireOnly => self.acquire_only(&mut conn, &mut held).await,
                Mode::Heartbeat => self.heartbeat(&mut conn, &mut held).await,
            };
            if outcome.is_ok() {
                // Hand back what is still held, untimed, on the same connection.
                self.release_all(&mut conn, &mut held, false).await;
                return;
            }
        }
        if let Ok(mut conn) = target.connect().await {
            self.release_all(&mut conn, &mut held, false).await;
        }
    }

    /// Record one answer (only in the measured window).
    fn note(&mut self, kind: Kind, started: Instant, status: u16) {
        if started < self.measure_from {
            return;
        }
        self.stats
            .latency
            .entry(kind)
            .or_default()
            .record(started.elapsed());
        if status != 200 {
            *self.stats.errors.entry((kind, status)).or_default() += 1;
        }
    }

    fn count_op(&mut self, started: Instant) {
        if started >= self.measure_from {
            self.stats.ops += 1;
        }
    }

    /// Acquire, timed; `Ok(None)` when nothing was granted.
    async fn acquire<C: Conn>(&mut self, conn: &mut C) -> Result<Option<String>, ()> {
        let t = Instant::now();
        let l = &self.load;
        match conn.acquire(&l.rtype, &l.state, &l.dest, &self.owner).await {
            Ok(reply) => {
                self.note(Kind::Acquire, t, reply.status);
                Ok(reply.name.filter(|_| reply.status == 200))
            }
            Err(_) => {
                self.note(Kind::Acquire, t, 0);
                Err(())
            }
        }
    }

    /// Release `name` back to the load's state, timed when `timed`; `Ok(false)` when the
    /// server refused.
    async fn release<C: Conn>(
        &mut self,
        conn: &mut C,
        name: &str,
        timed: bool,
    ) -> Result<bool, ()> {
        let t = Instant::now();
        let reply = conn.release(name, &self.load.state, &self.owner).await;
        let status = reply.as_ref().map_or(0, |r| r.status);
        if timed {
            self.note(Kind::Release, t, status);
        }
        match reply {
            Ok(r) => Ok(r.status == 200),
            Err(_) => Err(()),
        }
    }

    async fn cycle<C: Conn>(&mut self, conn: &mut C) -> Result<(), ()> {
        while Instant::now() < self.deadline {
            let t = Instant::now();
            let Some(name) = self.acquire(conn).await? else {
                tokio::task::yield_now().await;
                continue;
            };
            if self.release(conn, &name, true).await? {
                self.count_op(t);
            } else {
                self.stats.refused_own += 1;
            }
        }
        Ok(())
    }

    async fn acquire_only<C: Conn>(
        &mut self,
        conn: &mut C,
        held: &mut Vec<String>,
    ) -> Result<(), ()> {
        while Instant::now() < self.deadline {
            let t = Instant::now();
            match self.acquire(conn).await? {
                Some(name) => {
                    held.push(name);
                    self.count_op(t);
                }
                None => self.release_all(conn, held, true).await,
            }
        }
        Ok(())
    }

    async fn heartbeat<C: Conn>(&mut self, conn: &mut C, held: &mut Vec<String>) -> Result<(), ()> {
        while Instant::now() < self.deadline {
            let name = match held.first() {
                Some(name) => name.clone(),
                None => match self.acquire(conn).await? {
                    Some(name) => {
                        held.push(name.clone());
                        name
                    }
                    None => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                },
            };
            let t = Instant::now();
            let reply = conn.update(&name, &self.owner, &self.load.dest).await;
            let status = reply.as_ref().map_or(0, |r| r.status);
            self.note(Kind::Update, t, status);
            match status {
                200 => self.count_op(t),
                0 => return Err(()),
                _ => {
                    // Our own lease was refused: lost or granted twice. Take another.
                    self.stats.refused_own += 1;
                    held.clear();
                }
            }
        }
        Ok(())
    }

    /// Release everything in `held`; refusals count as double-lease suspects.
    async fn release_all<C: Conn>(&mut self, conn: &mut C, held: &mut Vec<String>, timed: bool) {
        for name in std::mem::take(held) {
            match self.release(conn, &name, timed).await {
                Ok(true) => {}
                Ok(false) => self.stats.refused_own += 1,
                Err(()) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// A pool in memory that grants each name once; `double` makes it hand out a
    /// resource another client already holds, to prove the probe catches it.
    #[derive(Default)]
    struct FakePool {
        owners: Mutex<HashMap<String, String>>,
        size: usize,
        double: bool,
    }

    struct FakeConn(Arc<FakePool>);

    impl Target for Arc<FakePool> {
        type Conn = FakeConn;
        async fn connect(&self) -> Result<FakeConn, String> {
            Ok(FakeConn(Arc::clone(self)))
        }
        fn name(&self) -> String {
            "a fake pool".into()
        }
    }

    impl Conn for FakeConn {
        async fn acquire(
            &mut self,
            _: &str,
            _: &str,
            _: &str,
            owner: &str,
        ) -> Result<Reply, String> {
            tokio::task::yield_now().await;
            let mut owners = self.0.owners.lock().unwrap();
            let free = (0..self.0.size)
                .map(|i| format!("r{i}"))
                .find(|n| !owners.contains_key(n));
            let name = match (free, self.0.double) {
                (Some(n), _) => n,
                (None, true) => "r0".to_string(),
                (None, false) => {
                    return Ok(Reply {
                        status: 404,
                        name: None,
                    })
                }
            };
            owners.insert(name.clone(), owner.to_string());
            Ok(Reply {
                status: 200,
                name: Some(name),
            })
        }
        async fn release(&mut self, name: &str, _: &str, owner: &str) -> Result<Reply, String> {
            tokio::task::yield_now().await;
            let mut owners = self.0.owners.lock().unwrap();
            if owners.get(name).map(String::as_str) != Some(owner) {
                return Ok(Reply {
                    status: 401,
                    name: None,
                });
            }
            owners.remove(name);
            Ok(Reply {
                status: 200,
                name: None,
            })
        }
        async fn update(&mut self, name: &str, owner: &str, _: &str) -> Result<Reply, String> {
            let owners = self.0.owners.lock().unwrap();
            let ok = owners.get(name).map(String::as_str) == Some(owner);
            Ok(Reply {
                status: if ok { 200 } else { 401 },
                name: None,
            })
        }
    }

    fn load(mode: Mode, clients: usize) -> Load {
        Load {
            rtype: "t".into(),
            state: "free".into(),
            dest: "busy".into(),
            mode,
            clients,
            warmup: Duration::ZERO,
            duration: Duration::from_millis(50),
            owner_prefix: "bench".into(),
        }
    }

    #[tokio::test]
    async fn an_honest_pool_has_no_refusals_and_ends_empty() {
        for mode in [Mode::Cycle, Mode::AcquireOnly, Mode::Heartbeat] {
            let pool = Arc::new(FakePool {
                size: 3,
                ..FakePool::default()
            });
            let stats = run(Arc::new(Arc::clone(&pool)), &load(mode, 2))
                .await
                .unwrap();
            assert!(stats.ops > 0, "{mode:?} did no work");
            assert_eq!(stats.refused_own, 0, "{mode:?}");
            assert!(
                pool.owners.lock().unwrap().is_empty(),
                "{mode:?} left leases behind"
            );
        }
    }

    #[tokio::test]
    async fn the_probe_catches_a_double_lease() {
        let pool = Arc::new(FakePool {
            size: 1,
            double: true,
            ..FakePool::default()
        });
        let stats = run(Arc::new(pool), &load(Mode::Cycle, 4)).await.unwrap();
        assert!(stats.refused_own > 0);
    }

    #[tokio::test]
    async fn an_exhausted_pool_is_counted_as_404s() {
        let pool = Arc::new(FakePool {
            size: 1,
            ..FakePool::default()
        });
        let stats = run(Arc::new(pool), &load(Mode::Cycle, 3)).await.unwrap();
        assert!(
            stats
                .errors
                .get(&(Kind::Acquire, 404))
                .copied()
                .unwrap_or(0)
                > 0
        );
        assert_eq!(stats.refused_own, 0);
        assert!(stats.ops > 0);
    }
}
