//! The `mason` crate's integration tests, in one binary (one link instead of seven):
//!
//! - [`cli`]: the client subcommands (`acquire`, `release`, `run`, …) as the built binary
//!   against a server started in the test process.
//! - [`controllers_cli`]: `mason reaper`, `cleaner` and `janitor` as real processes.
//! - [`controllers_shutdown`]: the standalone controllers stop promptly on SIGTERM when
//!   their server refuses connections or hangs.
//! - [`builder_cli`]: `mason builder` as a real process, including `kill -9` mid-construct.
//! - [`up_e2e`]: `mason up` through the whole lifecycle, and the shipped quick start.
//! - [`torture`]: `mason serve` on SQLite killed with SIGKILL under load, again and again.
//! - [`replicas`]: several `mason serve` processes on one PostgreSQL database.
//! - [`lease_ttl_replicas`]: lease TTLs on three PostgreSQL replicas: each expiry once,
//!   within 1 s, renewals through any replica, a held-open acquire woken across replicas.
//! - [`quota`]: per-user lease quotas under 16 concurrent clients, on SQLite and on three
//!   PostgreSQL replicas.
//! - [`migrate`]: `mason import` and `mason export` on the upstream acceptance fixture.
//! - [`transport`]: slowloris, oversized heads, a low fd limit against `mason serve`.
//! - [`tls`]: `mason serve` over HTTPS, certificate rotation, bad pairs.
//! - [`dashboard`]: the dashboard in a real headless Chromium against `mason up`.
//! - [`event_stream`]: the history stream of `mason serve`: latency, resume, replicas,
//!   bad input, auth.
//! - [`disconnect`]: an acquire whose client hung up is rolled back by a real
//!   `mason serve` on PostgreSQL (issue 17).
//! - [`history_cli`]: `mason describe` and `mason events` against `mason serve`.
//! - [`history_kill_pg`]: `mason serve` on PostgreSQL killed with SIGKILL under load; the
//!   history still replays to every resource's state and owner.
//! - [`worker_threads`]: `mason serve --worker-threads` and its default.
//!
//! [`serve_process`] is the harness of the tests that run `mason serve` (or `up`) as a
//! child process: start on a free port, wait until ready, kill, read the log.

mod builder_cli;
mod cli;
mod controllers_cli;
mod controllers_shutdown;
mod dashboard;
mod disconnect;
mod event_stream;
mod history_cli;
mod history_kill_pg;
mod lease_ttl_replicas;
mod migrate;
mod quota;
mod replicas;
mod serve_process;
mod tls;
mod torture;
mod transport;
mod up_e2e;
mod worker_threads;
