//! mason-store's integration tests, one binary: the conformance suite and the model
//! property test on every engine (SQLite always; PostgreSQL on a throwaway server, see
//! `mason_store::testsuite::postgres`), plus what only one engine has.
//!
//! Without a PostgreSQL installation (and no `MASON_TEST_POSTGRES_URL`) the PostgreSQL
//! cases skip with a loud message, except under `CI=true`, where they fail: CI must never
//! lose that coverage silently.

mod model;
mod postgres;
mod postgres_counts;
mod postgres_vacuum;
mod sqlite;
