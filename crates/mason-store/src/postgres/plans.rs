//! Tests of how PostgreSQL plans the statements that run on every request or periodically:
//! on tables large enough for the difference to show, each test asks for a statement's
//! plan, both the custom plan made for the given values and the generic plan PostgreSQL
//! may settle on after five calls on one connection (tokio-postgres prepares every
//! statement once per connection), and asserts that neither reads a whole table where an
//! index leads to the rows.

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::testsuite::postgres as pg;

/// A fresh database with mason's schema (the store that migrated it, kept open for the
/// test) and a plain client of it; `None` when the test is skipped.
async fn database(what: &str) -> Option<(std::sync::Arc<dyn crate::Store>, Client)> {
    let url = pg::fresh_database_or_skip(what).await?;
    let store = crate::open(&url.parse().expect("URL"), Default::default())
        .await
        .expect("open (migrates the schema)");
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    Some((store, client))
}

/// The custom and the generic plan of `sql` for the parameter values `args` (SQL
/// literals, comma-separated), each as one text.
async fn plans(client: &Client, sql: &str, args: &str) -> [String; 2] {
    let mut plans = [String::new(), String::new()];
    for (plan, mode) in plans
        .iter_mut()
        .zip(["force_custom_plan", "force_generic_plan"])
    {
        let messages = client
            .simple_query(&format!(
                "SET plan_cache_mode = {mode}; PREPARE s AS {sql}; \
                 EXPLAIN EXECUTE s({args}); DEALLOCATE s; RESET plan_cache_mode"
            ))
            .await
            .expect("EXPLAIN");
        *plan = messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!plan.is_empty(), "no plan for {sql}");
    }
    plans
}

/// Whether a type has resources is looked up in the index, however rare the type: on
/// 20,000 resources of one type and 5 of another, stored last, neither plan of the miss
/// path's statements reads `resources` from start to end (the generic plan of
/// `EXISTS (SELECT 1 FROM resources WHERE type = $1)` did, until it met a row of the
/// type).
#[tokio::test]
async fn a_type_is_found_without_scanning_the_pool() {
    let Some((store, client)) = database("postgres type lookup plans").await else {
        return;
    };
    client
        .batch_execute(
            "INSERT INTO resources (name, type, state, lastupdate) \
               SELECT 'common-' || g, 'common', 'free', g FROM generate_series(1, 20000) AS g; \
             INSERT INTO resources (name, type, state, owner, lastupdate) \
               SELECT 'rare-' || g, 'rare', 'busy', 'someone', g FROM generate_series(1, 5) AS g; \
             ANALYZE resources",
        )
        .await
        .expect("a large pool");
    for rtype in ["rare", "absent"] {
        let ahead = plans(
            &client,
            super::acquire::AHEAD_AND_TYPE,
            &format!("'{rtype}', 'free', {}, 0, {}", i64::MAX, i32::MIN),
        )
        .await;
        let known = plans(&client, super::multi::TYPE_KNOWN, &format!("'{rtype}'")).await;
        for plan in ahead.iter().chain(&known) {
            assert!(
                !plan.contains("Seq Scan on resources"),
                "looking up type {rtype} reads the whole pool:\n{plan}"
            );
        }
    }
    drop(store);
}

/// A reset walks the index range of its type and state, not the pool: on 20,000 free
/// resources of ten types, idle since long ago, and 10,000 leases of one of them, 5 of
/// them stale, neither plan of [`super::writes::RESET`] scans `resources` (the join of
/// the stale rows back to the table it replaced hashed them against a scan of the whole
/// table).
#[tokio::test]
async fn a_reset_reads_the_leases_of_its_type_not_the_pool() {
    let Some((store, client)) = database("postgres reset plans").await else {
        return;
    };
    client
        .batch_execute(
            "INSERT INTO resources (name, type, state, lastupdate) \
               SELECT 'free-' || g, 't' || (g % 10), 'free', g \
               FROM generate_series(1, 20000) AS g; \
             INSERT INTO resources (name, type, state, owner, lastupdate) \
               SELECT 'held-' || g, 't0', 'busy', 'job-' || g, 1000000 + g \
               FROM generate_series(1, 10000) AS g; \
             ANALYZE resources",
        )
        .await
        .expect("a large pool with leases");
    let plans = plans(
        &client,
        super::writes::RESET,
        "'t0', 'busy', 'dirty', 2000000, 1000005, '{reset,server,NULL}'",
    )
    .await;
    for plan in &plans {
        assert!(
            !plan.contains("Seq Scan on resources"),
            "a reset reads the whole pool:\n{plan}"
        );
    }
    drop(store);
}

/// A numbering pass finds its events through indexes, not by reading the whole history:
/// on 100,000 numbered events and 500 unnumbered ones, neither plan of
/// [`super::events::NUMBER`] for a full batch scans `events` (the join it replaced hashed
/// the batch against a scan of the whole table).
#[tokio::test]
async fn numbering_does_not_read_the_whole_history() {
    let Some((store, client)) = database("postgres numbering plans").await else {
        return;
    };
    client
        .batch_execute(
            "INSERT INTO events (id, at, kind, type, name, actor) \
               SELECT g, g, 'create', 't', 'r' || (g % 1000), 'server' \
               FROM generate_series(1, 100000) AS g; \
             INSERT INTO events (at, kind, type, name, actor) \
               SELECT g, 'create', 't', 'new', 'server' FROM generate_series(1, 500) AS g; \
             ANALYZE events",
        )
        .await
        .expect("a long history");
    let plans = plans(
        &client,
        super::events::NUMBER,
        &format!("100000, {}", super::events::NUMBER_BATCH),
    )
    .await;
    for plan in &plans {
        assert!(
            !plan.contains("Seq Scan on events"),
            "the numbering pass reads the whole history:\n{plan}"
        );
    }
    drop(store);
}
