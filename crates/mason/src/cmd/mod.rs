//! One module per subcommand, each with `Opts` and `run`.

pub(crate) mod check_config;
