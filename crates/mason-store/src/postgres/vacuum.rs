//! Keeping the busiest tables vacuumed: a background task per store, stopped when the
//! store is dropped, that runs `VACUUM` on `resources` and `events` as soon as enough of
//! their rows have died, instead of waiting for autovacuum. It holds one connection of
//! its own (made again after a loss), so a vacuum never takes a pooled connection from
//! the lease calls.
//!
//! Why: no update of a resource row is HOT (every transition changes a column of the
//! acquire's pick index), so each one leaves a dead row version and a dead index entry,
//! and the acquire's walk of the pick index steps over every dead entry of its pool that
//! no vacuum has removed yet. A pool cycled 6,000 times a second gathers hundreds of
//! thousands of them between two autovacuum visits (`autovacuum_naptime`, 1 minute by
//! default). Measured (issue 12's TTL benchmark, 100,000 leases expiring over 60 s while
//! 4 clients cycle a 100-resource pool, idle 2-core machine, PostgreSQL 15): the
//! acquire's mean time rose from 0.17 to 0.92 ms per call as the dead rows grew from
//! 30,000 to 353,000, and fell back at the next autovacuum; the cycles lost 21–30 % of
//! their throughput during the mass expiry. With `resources` vacuumed every 5 s (118 ms
//! each, median), the loss was 5.6 %. The history's numbering pass walks the dead
//! entries of `events_unnumbered` (every event leaves that partial index when it gets
//! its id) in the same way.
//!
//! When: every [`CHECK`], the task reads the tables' dead-row counts from
//! `pg_stat_user_tables` and vacuums a table that has at least [`MIN_DEAD`] of them,
//! but never sooner after its previous vacuum than [`DUTY`] − 1 times that vacuum's
//! duration, so vacuuming takes at most 1/[`DUTY`] of one database core per table and
//! store whatever the table's size (a 100,000-row `resources` takes about 0.1 s here, so
//! at most one vacuum per 2 s). `INDEX_CLEANUP ON`, because the default may skip the
//! index pass when the dead rows sit on few heap pages, which is exactly a hot pool's
//! case; `SKIP_LOCKED`, so replicas do not queue behind each other's vacuum (the one that
//! runs resets the shared count for all); `TRUNCATE OFF`, because giving the empty pages
//! at the end of a table back to the file system takes an exclusive lock on the table
//! (briefly, but every lease call waits behind it), and a hot table grows back at once. A vacuum never blocks reads or writes of the
//! table. A role that may not vacuum the tables (neither their owner's nor the
//! database owner's privileges, not a superuser) would get a warning and no vacuum each
//! time, so the keeper checks that once per connection and, if not, says so and stops.
//! A failure only delays the next attempt; autovacuum does its own work either way.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, NoTls};

/// How often the dead-row counts are read.
const CHECK: Duration = Duration::from_secs(1);
/// Dead rows below which a table is left to autovacuum.
const MIN_DEAD: i64 = 1_000;
/// At most one part in `DUTY` of the time goes to vacuuming one table.
const DUTY: u32 = 20;
/// The tables kept, in the order they are checked.
const TABLES: [&str; 2] = ["resources", "events"];

/// When a table may next be vacuumed.
#[derive(Debug, Clone, Copy)]
struct Pace {
    not_before: Option<Instant>,
}

impl Pace {
    const fn new() -> Self {
        Self { not_before: None }
    }

    /// Whether a table with `dead` dead rows is vacuumed at `now`.
    fn due(&self, now: Instant, dead: i64) -> bool {
        dead >= MIN_DEAD && self.not_before.is_none_or(|t| now >= t)
    }

    /// A vacuum ran from `started` to `ended`: the next waits out `DUTY - 1` times it.
    fn ran(&mut self, started: Instant, ended: Instant) {
        let took = ended.saturating_duration_since(started);
        self.not_before = Some(ended + took * (DUTY - 1));
    }
}

/// The running keeper of one store.
pub(crate) struct VacuumKeeper {
    task: JoinHandle<()>,
}

impl VacuumKeeper {
    /// Start keeping the tables of the database `config` connects to.
    pub(super) fn start(config: tokio_postgres::Config) -> Self {
        Self {
            task: tokio::spawn(keep(config)),
        }
    }
}

impl Drop for VacuumKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The dead-row counts of [`TABLES`], in that order (0 for a table with no statistics).
async fn dead_rows(client: &Client) -> Result<[i64; 2], tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT relname::text, n_dead_tup FROM pg_stat_user_tables \
             WHERE relid IN ('resources'::regclass, 'events'::regclass)",
            &[],
        )
        .await?;
    let mut dead = [0; 2];
    for row in rows {
        let name: String = row.get(0);
        if let Some(i) = TABLES.iter().position(|t| *t == name) {
            dead[i] = row.get(1);
        }
    }
    Ok(dead)
}

/// Whether this connection's role may vacuum both [`TABLES`]: it has the privileges of
/// their owner (a superuser has every role's) or of the database's owner, the rules of
/// PostgreSQL 15. (PostgreSQL 17's `MAINTAIN` privilege is not looked at: a role that has
/// only that is told it may not, and autovacuum does the work.)
pub(super) async fn may_vacuum(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT bool_and(pg_has_role(c.relowner, 'USAGE')) \
                    OR (SELECT pg_has_role(d.datdba, 'USAGE') FROM pg_database d \
                        WHERE d.datname = current_database()) \
             FROM pg_class c WHERE c.oid IN ('resources'::regclass, 'events'::regclass)",
            &[],
        )
        .await?;
    Ok(row.get::<_, Option<bool>>(0).unwrap_or(false))
}

/// Drive the keeper's connection until it ends, keeping the server's notices (such as
/// "skipping vacuum of \"events\" --- lock not available" while autovacuum or another
/// replica is at it) out of the log at its usual levels: they are expected, at debug.
async fn relay_notices<S, T>(mut connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
        match message {
            Ok(AsyncMessage::Notice(notice)) => {
                tracing::debug!(notice = %notice.message(), "PostgreSQL notice to the vacuum keeper");
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

/// The keeper's loop: check, vacuum what is due, wait; connect again after a failure.
async fn keep(config: tokio_postgres::Config) {
    let mut paces = [Pace::new(); 2];
    let mut client: Option<Client> = None;
    let mut failing = false;
    loop {
        tokio::time::sleep(CHECK).await;
        if client.as_ref().is_none_or(Client::is_closed) {
            client = match config.connect(NoTls).await {
                Ok((c, connection)) => {
                    // Ends by itself when the client is dropped or the server goes away.
                    tokio::spawn(relay_notices(connection));
                    // A vacuum of a large table may outlast the bulk statement limit
                    // the connection string sets; it blocks nobody, so it has none.
                    if let Err(e) = c.batch_execute("SET statement_timeout = 0").await {
                        warn_once(&mut failing, &format!("setting up: {e}"));
                        continue;
                    }
                    match may_vacuum(&c).await {
                        Ok(true) => {}
                        Ok(false) => {
                            // PostgreSQL would skip each VACUUM with a warning in its own
                            // log, every second: say it once here and stop instead.
                            tracing::info!(
                                "not vacuuming resources and events: this role neither owns \
                                 them nor the database and is not a superuser; autovacuum \
                                 alone keeps them"
                            );
                            return;
                        }
                        Err(e) => {
                            warn_once(&mut failing, &format!("checking privileges: {e}"));
                            continue;
                        }
                    }
                    Some(c)
                }
                Err(e) => {
                    warn_once(&mut failing, &format!("connecting: {e}"));
                    continue;
                }
            };
        }
        let Some(c) = client.as_ref() else { continue };
        match vacuum_due(c, &mut paces).await {
            Ok(()) => failing = false,
            Err(e) => warn_once(&mut failing, &e),
        }
    }
}

/// One check: vacuum every table that is due.
async fn vacuum_due(client: &Client, paces: &mut [Pace; 2]) -> Result<(), String> {
    let dead = dead_rows(client).await.map_err(|e| e.to_string())?;
    for (i, table) in TABLES.iter().enumerate() {
        if !paces[i].due(Instant::now(), dead[i]) {
            continue;
        }
        let started = Instant::now();
        let result = client
            .batch_execute(&format!(
                "VACUUM (INDEX_CLEANUP ON, SKIP_LOCKED, TRUNCATE OFF) {table}"
            ))
            .await;
        let ended = Instant::now();
        paces[i].ran(started, ended);
        result.map_err(|e| format!("VACUUM {table}: {e}"))?;
        tracing::debug!(
            table,
            dead = dead[i],
            took_ms = ended.duration_since(started).as_millis() as u64,
            "vacuumed"
        );
    }
    Ok(())
}

/// Warn about `error` only at the start of a streak of failures.
fn warn_once(failing: &mut bool, error: &str) {
    if !*failing {
        tracing::warn!(
            error,
            "keeping the PostgreSQL tables vacuumed failed; retrying"
        );
    }
    *failing = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client of `url` connecting as `user` (the server must trust it, as the test
    /// suite's own server does).
    #[cfg(feature = "testsuite")]
    async fn connect_as(url: &str, user: Option<&str>) -> Client {
        let mut config: tokio_postgres::Config = url.parse().expect("URL");
        if let Some(user) = user {
            config.user(user);
        }
        let (client, connection) = config.connect(NoTls).await.expect("connect");
        tokio::spawn(connection);
        client
    }

    #[cfg(feature = "testsuite")]
    #[tokio::test]
    async fn only_the_owners_of_the_tables_or_the_database_may_vacuum() {
        use crate::testsuite::postgres as pg;
        let Some(url) = pg::fresh_database_or_skip("postgres vacuum privileges").await else {
            return;
        };
        let owner = connect_as(&url, None).await;
        owner
            .batch_execute("CREATE TABLE resources (x int); CREATE TABLE events (x int)")
            .await
            .expect("two tables of those names");
        assert!(
            may_vacuum(&owner).await.expect("owner's check"),
            "the owner"
        );

        let guest = format!("mason_vacuum_guest_{}", std::process::id());
        let db: String = owner
            .query_one("SELECT current_database()", &[])
            .await
            .expect("database")
            .get(0);
        owner
            .batch_execute(&format!(
                "DROP ROLE IF EXISTS {guest}; CREATE ROLE {guest} LOGIN"
            ))
            .await
            .expect("a role that owns nothing");
        let outcome = async {
            let as_guest = connect_as(&url, Some(&guest)).await;
            let plain = may_vacuum(&as_guest).await.expect("guest's check");
            owner
                .batch_execute(&format!("ALTER DATABASE {db} OWNER TO {guest}"))
                .await
                .expect("the guest owns the database");
            let db_owner = may_vacuum(&as_guest).await.expect("database owner's check");
            (plain, db_owner)
        }
        .await;
        owner
            .batch_execute(&format!(
                "ALTER DATABASE {db} OWNER TO CURRENT_USER; DROP ROLE {guest}"
            ))
            .await
            .expect("clean up the role");
        assert_eq!(outcome, (false, true), "(plain role, database owner)");
    }

    #[test]
    fn a_table_is_due_only_with_enough_dead_rows_and_after_its_pause() {
        let t0 = Instant::now();
        let mut pace = Pace::new();
        assert!(!pace.due(t0, MIN_DEAD - 1), "too few dead rows");
        assert!(pace.due(t0, MIN_DEAD), "never vacuumed, enough dead rows");
        pace.ran(t0, t0 + Duration::from_millis(100));
        let end = t0 + Duration::from_millis(100);
        let pause = Duration::from_millis(100) * (DUTY - 1);
        assert!(!pace.due(end, 1_000_000), "right after a vacuum");
        assert!(!pace.due(end + pause - Duration::from_millis(1), 1_000_000));
        assert!(
            pace.due(end + pause, MIN_DEAD),
            "after DUTY - 1 times its duration"
        );
        assert!(!pace.due(end + pause, MIN_DEAD - 1));
    }
}
