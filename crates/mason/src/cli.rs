//! What the subcommands share; none of it is a subcommand itself (those are in `cmd`).
//!
//! - [`client_opts`]: the connection flags of the client commands, the server URL check,
//!   retry progress.
//! - [`controller_opts`]: the connection and type flags of reaper, cleaner and janitor,
//!   and running one controller loop until a signal.
//! - [`credential_opts`]: `--username`/`--password-file`, `--token-file` and `--ca-file`,
//!   shared by every command that talks to a server.
//! - [`signals`]: SIGINT/SIGTERM for every command (repeats within a second are one).
//! - [`console`]: the CLI's own messages, in the `--log-format` in force.
//! - [`translate`]: client errors told as what happened, and their exit codes.
//! - [`diagnose`]: why nothing can be acquired, when the server can tell.
//! - [`event_table`]: events as a kubectl-style table (events, describe).
//! - [`leased`]: virtual resources and their physical ones (acquire, release, run).
//! - [`config_check`]: the strict config check (check-config, serve, up, builder).
//! - [`program`]: finding a program the way a shell would.
//! - [`status_opts`]: the `--status-port` flag of the standalone controllers.
//! - [`store_opts`]: the `--store` flag of the commands that work on a store directly.
//! - [`startup`]: every listener of the binary (one accept backlog), then opening the
//!   store and the initial sync of serve and up, after everything that can fail without
//!   side effects.
//! - [`help`]: the examples and exit codes at the end of every `--help`.
//! - [`history_opts`]: the history retention flags of serve and up, and the pruner.
//! - [`lease_opts`]: the lease flags of serve and up (`--max-lease-ttl`,
//!   `--disconnect-grace`).
//! - [`transport_opts`]: TLS, connection cap and timeouts of serve and up.
//! - [`runtime_opts`]: the request threads of serve and up (`--worker-threads`).

pub(crate) mod client_opts;
pub(crate) mod config_check;
pub(crate) mod console;
pub(crate) mod controller_opts;
pub(crate) mod credential_opts;
pub(crate) mod diagnose;
pub(crate) mod event_table;
pub(crate) mod help;
pub(crate) mod history_opts;
pub(crate) mod lease_opts;
pub(crate) mod leased;
pub(crate) mod program;
pub(crate) mod runtime_opts;
pub(crate) mod signals;
pub(crate) mod startup;
pub(crate) mod status_opts;
pub(crate) mod store_opts;
pub(crate) mod translate;
pub(crate) mod transport_opts;
