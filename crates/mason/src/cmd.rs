//! One module per subcommand, each with `Opts`, `EXAMPLES` (for `--help`) and `run`.
//! What they share lives in `cli`.

pub(crate) mod acquire;
pub(crate) mod auth;
pub(crate) mod bench;
pub(crate) mod builder;
pub(crate) mod check_auth;
pub(crate) mod check_config;
pub(crate) mod cleaner;
pub(crate) mod describe;
pub(crate) mod events;
pub(crate) mod export;
pub(crate) mod heartbeat;
pub(crate) mod import;
pub(crate) mod janitor;
pub(crate) mod metrics;
pub(crate) mod probe;
pub(crate) mod reaper;
pub(crate) mod release;
pub(crate) mod reset;
pub(crate) mod resource_set;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod up;
pub(crate) mod update;
