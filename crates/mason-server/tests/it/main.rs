//! Integration tests of mason-server (one binary, CONVENTIONS "tests"):
//! - `bad_input`: bad requests, bodies, config files and connections change nothing
//!   (SQLite and PostgreSQL);
//! - `golden`: every upstream golden body in `../shared/upstream-testdata/handlers/`;
//! - `errors`: every status code and error text of SPEC §3, content types, catch-all;
//! - `extensions`: health, Prometheus metrics, `/api/v2`, 5xx mapping with a failing store;
//! - `lease_backend`: `/api/v2/acquire`, long polls and lease expiry over a fake
//!   lease backend (issue 12);
//! - `lease_params`: the `lease_ttl=` and `generation=` parameters (issue 12), 400s;
//! - `multi_acquire`: `POST /api/v2/acquire`'s bad-input line (issue 12);
//! - `reload`: config file reload (applied, rejected with the old config kept);
//! - `dashboard_api`: `/ui`, the overview, one resource by name, paged resources;
//! - `status`: `/api/v2/status` with the server's own loops running;
//! - `concurrency`: many HTTP clients racing on a small pool over a SQLite file;
//! - `replacement`: deleted dynamic resources are replaced without waiting for the timer.
//! - `store_faults`: a stalled and a failing SQLite store (issue 17's fault hook): health
//!   keeps answering, 503s with Retry-After, readiness follows, nothing is lost.
//! - `retry_safety`: a release whose answer was lost is done on retry (SQLite and
//!   PostgreSQL); an acquire whose client hung up is rolled back (issue 17).
//! - `served`: the harness of those two, a server on a SQLite file whose fault hook the
//!   test holds.
//! - `auth`: the auth gate (401/403/429, owner patterns, reload, failure limit, bad headers),
//!   and the history's actor (`auth/actor.rs`).

mod auth;
mod bad_input;
mod concurrency;
mod dashboard_api;
mod errors;
mod extensions;
mod failing_store;
mod golden;
mod lease_backend;
mod lease_params;
mod lease_ttl;
mod multi_acquire;
mod reload;
mod replacement;
mod retry_safety;
mod served;
mod status;
mod store_faults;
mod support;
