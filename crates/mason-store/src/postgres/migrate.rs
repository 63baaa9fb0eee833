//! Versioned schema migrations for PostgreSQL. Applied migrations are recorded in the
//! `mason_schema` table; each migration runs once, in order, inside one transaction that
//! holds an advisory lock, so replicas starting together never race on the schema.

use deadpool_postgres::{Object, Transaction};

use super::error::PgResult;
use crate::Error;

/// `pg_advisory_xact_lock` key serialising migrations ("mason-mi" in ASCII).
const MIGRATION_LOCK: i64 = 0x6d61_736f_6e2d_6d69;

/// Every migration, in order: (version, name, SQL).
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (
        2,
        "generation",
        include_str!("migrations/0002_generation.sql"),
    ),
    (
        3,
        "queue_sets",
        include_str!("migrations/0003_queue_sets.sql"),
    ),
    (4, "events", include_str!("migrations/0004_events.sql")),
    (5, "counts", include_str!("migrations/0005_counts.sql")),
    (6, "holder", include_str!("migrations/0006_holder.sql")),
    (
        7,
        "statement_counts",
        include_str!("migrations/0007_statement_counts.sql"),
    ),
];

/// The lease-policy table and the deadline index (idempotent; after their columns).
const LEASE_TTL: &str = include_str!("lease_ttl.sql");

/// The schema version this build expects.
pub(crate) fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Bring the database's schema up to date; refuses a database migrated by a newer mason.
pub(crate) async fn migrate(client: &mut Object) -> PgResult<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS mason_schema (
             version     INTEGER PRIMARY KEY,
             name        TEXT NOT NULL,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let current: Option<i32> = tx
        .query_one("SELECT max(version) FROM mason_schema", &[])
        .await?
        .get(0);
    let current = current.unwrap_or(0);
    let latest = latest_version();
    if current > latest {
        return Err(Error::backend(format!(
            "database schema version {current} is newer than this mason ({latest}); upgrade mason"
        ))
        .into());
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        // The history's trigger takes its shared SQL (crate::history::CHANGE_VALUES).
        tx.batch_execute(&crate::history::render_event_sql(sql))
            .await?;
        tx.execute(
            "INSERT INTO mason_schema (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tracing::info!(version, name, "applied PostgreSQL migration");
    }
    // Lease TTLs, added within schema v4 (idempotent, on every start).
    add_column(&tx, "lease_ttl", "BIGINT").await?;
    add_column(&tx, "lease_deadline", "BIGINT").await?;
    add_column(&tx, "lease_expired_state", "TEXT").await?;
    tx.batch_execute(LEASE_TTL).await?;
    // Retry safety (lease/retry.rs), also within schema v4: whose lease the last end of
    // lease ended, and that lease's generation.
    add_column(&tx, "ended_owner", "TEXT").await?;
    add_column(&tx, "ended_generation", "BIGINT").await?;
    tx.commit().await?;
    Ok(())
}

/// Add a column to `resources` unless it is there (a database older than the column).
/// Checked first, so a database that has it takes no table lock.
async fn add_column(tx: &Transaction<'_>, column: &str, definition: &str) -> PgResult<()> {
    let present: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'resources' \
               AND column_name = $1)",
            &[&column],
        )
        .await?
        .get(0);
    if !present {
        tx.batch_execute(&format!(
            "ALTER TABLE resources ADD COLUMN {column} {definition}"
        ))
        .await?;
    }
    Ok(())
}
