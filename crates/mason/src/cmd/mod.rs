//! One module per subcommand, each with `Opts` and `run`.

pub(crate) mod bench;
pub(crate) mod check_config;
pub(crate) mod serve;
