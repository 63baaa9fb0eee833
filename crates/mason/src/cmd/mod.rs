//! One module per subcommand, each with `Opts` and `run`.

pub(crate) mod acquire;
pub(crate) mod auth;
pub(crate) mod bench;
pub(crate) mod builder;
pub(crate) mod check_auth;
pub(crate) mod check_config;
pub(crate) mod cleaner;
pub(crate) mod client_opts;
pub(crate) mod controller_opts;
pub(crate) mod credential_opts;
pub(crate) mod export;
pub(crate) mod heartbeat;
pub(crate) mod janitor;
pub(crate) mod leased;
pub(crate) mod metrics;
pub(crate) mod probe;
pub(crate) mod reaper;
pub(crate) mod release;
pub(crate) mod reset;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod status_opts;
pub(crate) mod store_opts;
pub(crate) mod up;
pub(crate) mod update;
