//! The machine's raw limits, measured with the same tools in the same run so the lease
//! server's figures can be read against them:
//! - `raw-http`: a hello-world axum server answering every request with a fixed resource
//!   body (the cost of HTTP alone, through the same load generator);
//! - `raw-sqlite`: a bare SQLite commit loop on one thread (`BEGIN IMMEDIATE; UPDATE one
//!   row; COMMIT` on a WAL file with `synchronous=NORMAL`, as the store uses) — a lease
//!   cycle is two such commits;
//! - `raw-sqlite-async`: the same commit issued from N Tokio tasks through
//!   `spawn_blocking` and a mutex around the one connection, which is how the SQLite store
//!   bridges to async; the gap to `raw-sqlite` is the cost of that bridge.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, TransactionBehavior};
use tokio_util::sync::CancellationToken;

use crate::histogram::Histogram;
use crate::load::{Kind, Stats};
use crate::{Error, Result};

/// What the hello-world server answers to everything.
const RAW_BODY: &str = r#"{"type":"raw","name":"raw-0","state":"busy","owner":"bench","lastupdate":"2006-01-02T15:04:05Z","userdata":{}}"#;

/// A running hello-world server.
pub(crate) struct RawHttp {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RawHttp {
    /// Start it on 127.0.0.1, a free port.
    pub(crate) async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::io("cannot listen on 127.0.0.1"))?;
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .map_err(Error::io("listener address"))?
        );
        let router = axum::Router::new().fallback(|| async { RAW_BODY });
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        });
        Ok(Self { url, stop, task })
    }

    /// Stop it and wait until it has.
    pub(crate) async fn stop(self) -> Result<()> {
        self.stop.cancel();
        self.task
            .await
            .map_err(Error::task)?
            .map_err(Error::io("the hello-world server failed"))
    }
}

/// Open `path` as the store does and fill a table of `rows` rows.
fn commit_db(path: &Path, rows: usize) -> Result<Connection> {
    fill_commit_db(path, rows).map_err(Error::sqlite(format!(
        "cannot prepare the raw SQLite file {}",
        path.display()
    )))
}

fn fill_commit_db(path: &Path, rows: usize) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS r (name TEXT PRIMARY KEY, owner TEXT NOT NULL, lastupdate INTEGER NOT NULL)",
    )?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT OR IGNORE INTO r VALUES (?1, '', 0)")?;
        for i in 0..rows.max(1) {
            insert.execute([format!("r{i}")])?;
        }
    }
    tx.commit()?;
    Ok(conn)
}

/// One committed single-row update, as a lease transition would do.
fn commit_one(conn: &mut Connection, i: u64, rows: usize) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.prepare_cached("UPDATE r SET owner = ?1, lastupdate = ?2 WHERE name = ?3")?
        .execute(params![
            if i.is_multiple_of(2) { "bench" } else { "" },
            i as i64,
            format!("r{}", i % rows.max(1) as u64)
        ])?;
    tx.commit()
}

/// How long a commit loop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// Commit unmeasured for `warmup`, then measured for `duration` (the benchmark).
    Timed {
        /// Commits before this much time has passed are not measured.
        warmup: Duration,
        /// How long the measured part lasts.
        duration: Duration,
    },
    /// Exactly this many measured commits per loop, without a warm-up: the same work on
    /// any machine, however loaded (for tests, which must not depend on timing).
    #[cfg(test)]
    Commits(u64),
}

impl Span {
    /// The benchmark's span: `warmup`, then `duration`.
    pub(crate) fn timed(warmup: Duration, duration: Duration) -> Self {
        Span::Timed { warmup, duration }
    }

    /// Start the clock of one run.
    fn start(self) -> Run {
        let start = Instant::now();
        match self {
            Span::Timed { warmup, duration } => Run {
                measure_from: start + warmup,
                deadline: Some(start + warmup + duration),
                commits: None,
            },
            #[cfg(test)]
            Span::Commits(n) => Run {
                measure_from: start,
                deadline: None,
                commits: Some(n),
            },
        }
    }
}

/// One started [`Span`].
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Commits started from here on are measured.
    measure_from: Instant,
    /// No commit starts at or after this instant.
    deadline: Option<Instant>,
    /// No more than this many measured commits per loop.
    commits: Option<u64>,
}

impl Run {
    /// Whether a loop that has made `measured` measured commits starts another at `t`.
    fn goes_on(&self, t: Instant, measured: u64) -> bool {
        self.deadline.is_none_or(|d| t < d) && self.commits.is_none_or(|n| measured < n)
    }

    /// The measured time, from the end of the warm-up to now.
    fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.measure_from)
    }
}

/// Commit in a loop on one thread for `span`.
pub(crate) async fn sqlite_commits(path: &Path, rows: usize, span: Span) -> Result<Stats> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut conn = commit_db(&path, rows)?;
        let run = span.start();
        let mut hist = Histogram::default();
        let mut stats = Stats::default();
        let mut i = 0u64;
        loop {
            let t = Instant::now();
            if !run.goes_on(t, stats.ops) {
                break;
            }
            commit_one(&mut conn, i, rows).map_err(Error::sqlite("raw SQLite commit"))?;
            i += 1;
            if t >= run.measure_from {
                hist.record(t.elapsed());
                stats.ops += 1;
            }
        }
        stats.latency.insert(Kind::Commit, hist);
        stats.elapsed = run.elapsed();
        Ok(stats)
    })
    .await
    .map_err(Error::task)?
}

/// The same commits from `clients` tasks through `spawn_blocking` + a mutex, each for
/// `span`.
pub(crate) async fn sqlite_commits_async(
    path: &Path,
    rows: usize,
    clients: usize,
    span: Span,
) -> Result<Stats> {
    let conn = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || commit_db(&path, rows))
            .await
            .map_err(Error::task)??
    };
    let conn = Arc::new(Mutex::new(conn));
    let run = span.start();
    let mut tasks = Vec::new();
    for c in 0..clients.max(1) {
        let conn = Arc::clone(&conn);
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::default();
            let mut ops = 0u64;
            let mut i = c as u64 * 1_000_000_007;
            loop {
                let t = Instant::now();
                if !run.goes_on(t, ops) {
                    break;
                }
                let conn = Arc::clone(&conn);
                tokio::task::spawn_blocking(move || {
                    let mut conn = conn
                        .lock()
                        .map_err(|_| Error::Target("raw SQLite: lock poisoned".into()))?;
                    commit_one(&mut conn, i, rows).map_err(Error::sqlite("raw SQLite commit"))
                })
                .await
                .map_err(Error::task)??;
                i += 1;
                if t >= run.measure_from {
                    hist.record(t.elapsed());
                    ops += 1;
                }
            }
            Ok::<_, Error>((hist, ops))
        }));
    }
    let mut stats = Stats::default();
    let mut hist = Histogram::default();
    for task in tasks {
        let (h, ops) = task.await.map_err(Error::task)??;
        hist.merge(&h);
        stats.ops += ops;
    }
    stats.latency.insert(Kind::Commit, hist);
    stats.elapsed = run.elapsed();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Count-based, so the same work is checked on any machine: each loop makes exactly
    /// the commits asked for, measures each one, and every one reaches the file (a
    /// trigger the test adds logs each committed update).
    #[tokio::test]
    async fn commit_loops_commit_what_they_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.db");
        let conn = commit_db(&path, 10).unwrap();
        conn.execute_batch(
            "CREATE TABLE log (n INTEGER NOT NULL);
             CREATE TRIGGER logged AFTER UPDATE ON r BEGIN INSERT INTO log VALUES (1); END;",
        )
        .unwrap();
        let committed = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM log", [], |r| r.get(0))
                .unwrap()
        };

        let direct = sqlite_commits(&path, 10, Span::Commits(25)).await.unwrap();
        assert_eq!(direct.ops, 25);
        assert_eq!(direct.latency[&Kind::Commit].count(), 25);
        assert_eq!(committed(&conn), 25);

        let bridged = sqlite_commits_async(&path, 10, 2, Span::Commits(25))
            .await
            .unwrap();
        assert_eq!(bridged.ops, 50);
        assert_eq!(bridged.latency[&Kind::Commit].count(), 50);
        assert_eq!(committed(&conn), 75);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM r", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 10, "the loops update rows, never add any");
    }

    #[test]
    fn a_timed_span_stops_at_its_deadline_and_a_counted_one_at_its_count() {
        let timed = Span::timed(Duration::ZERO, Duration::from_secs(3600)).start();
        let now = Instant::now();
        assert!(timed.goes_on(now, u64::MAX));
        assert!(!timed.goes_on(now + Duration::from_secs(7200), 0));
        let counted = Span::Commits(3).start();
        assert!(counted.goes_on(now + Duration::from_secs(7200), 2));
        assert!(!counted.goes_on(now, 3));
    }

    #[tokio::test]
    async fn raw_http_answers_anything_with_a_resource() {
        use crate::http::HttpTarget;
        use crate::load::{Conn, Target};
        let raw = RawHttp::start().await.unwrap();
        let target = HttpTarget::new(&raw.url).unwrap();
        let mut conn = target.connect().await.unwrap();
        let reply = conn.acquire("t", "free", "busy", "me").await.unwrap();
        assert_eq!((reply.status, reply.name.as_deref()), (200, Some("raw-0")));
        assert_eq!(
            conn.release("raw-0", "free", "me").await.unwrap().status,
            200
        );
        raw.stop().await.unwrap();
    }
}
