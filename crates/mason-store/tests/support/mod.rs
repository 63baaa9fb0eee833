//! Helpers shared by this crate's integration tests (each test binary uses a part).
#![allow(dead_code)]

/// The throwaway-PostgreSQL harness. It lives in `mason-testkit`; it is compiled in here
/// by path because `mason-testkit` depends on this crate (through `mason-server`), and a
/// dev-dependency cycle would rebuild the whole server for the store's tests.
#[allow(unreachable_pub)]
#[path = "../../../mason-testkit/src/postgres.rs"]
pub(crate) mod pg;
