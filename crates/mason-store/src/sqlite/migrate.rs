//! The SQLite schema and its version. `schema.sql` is idempotent and brings any older
//! file up to date, with the columns added since version 3 added here; the version lives
//! in `PRAGMA user_version`. `holders.sql` (lease holders' kept counts) is applied on
//! every open, after its column, so a file written by an earlier version-4 build gets it
//! too.

use rusqlite::Connection;

use crate::{Error, Result};

/// The whole schema (`CREATE … IF NOT EXISTS`, plus the drops of older indexes).
const SCHEMA: &str = include_str!("schema.sql");

/// The `holder_counts` table and the triggers that keep it (idempotent).
const HOLDERS: &str = include_str!("holders.sql");
/// The lease-policy table and the deadline index (idempotent; after their columns).
const LEASE_TTL: &str = include_str!("lease_ttl.sql");

/// The schema version this build writes.
pub(super) const SCHEMA_VERSION: i64 = 4;

/// Bring the schema up to date; refuses a file written by a newer mason.
pub(super) fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::backend(format!(
            "database schema version {version} is newer than this mason ({SCHEMA_VERSION}); upgrade mason"
        )));
    }
    if version < SCHEMA_VERSION {
        conn.execute_batch(SCHEMA)?;
        add_column(conn, "generation", "INTEGER NOT NULL DEFAULT 0")?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    // Added within version 4 (a file may already be at 4 without them): the queue's
    // priorities, wanted counts and shared arrival numbers of sets (lease/queue.rs).
    add_column_to(conn, "requests", "priority", "INTEGER NOT NULL DEFAULT 0")?;
    add_column_to(conn, "requests", "wanted", "INTEGER NOT NULL DEFAULT 1")?;
    add_column_to(conn, "requests", "arrival", "INTEGER")?;
    conn.execute_batch("CREATE INDEX IF NOT EXISTS requests_by_id ON requests (request_id)")?;
    // The history (applied at every open, so a file already at version 4 gains it).
    add_column(conn, "last_kind", "TEXT")?;
    add_column(conn, "last_actor", "TEXT")?;
    add_column(conn, "last_request_id", "TEXT")?;
    // The newest event of the resource's name, where its chain of events starts.
    add_column(conn, "last_event", "INTEGER")?;
    super::events::migrate(conn)?;
    // Also within version 4: lease holders and their kept counts (lease/quota.rs).
    add_column(conn, "holder", "TEXT")?;
    conn.execute_batch(HOLDERS)?;
    // Lease TTLs, added within version 4 (applied on every open).
    add_column(conn, "lease_ttl", "INTEGER")?;
    add_column(conn, "lease_deadline", "INTEGER")?;
    add_column(conn, "lease_expired_state", "TEXT")?;
    conn.execute_batch(LEASE_TTL)?;
    // Retry safety (lease/retry.rs), added within version 4: whose lease the last end of
    // lease ended, and that lease's generation.
    add_column(conn, "ended_owner", "TEXT")?;
    add_column(conn, "ended_generation", "INTEGER")?;
    // Room reserved in a new row for its first lease (slack.rs), added within version 4.
    add_column(conn, "slack", "BLOB")?;
    Ok(())
}

/// Add a column to `resources` unless it is there (a file older than the column).
fn add_column(conn: &Connection, column: &str, definition: &str) -> Result<()> {
    add_column_to(conn, "resources", column, definition)
}

/// Add a column to `table` unless it is there.
fn add_column_to(conn: &Connection, table: &str, column: &str, definition: &str) -> Result<()> {
    let present: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        [table, column],
        |r| r.get(0),
    )?;
    if !present {
        conn.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN {column} {definition}"
        ))?;
    }
    Ok(())
}
