//! Black-box tests of the `mason` binary: the client subcommands against a real server
//! started in the test process on 127.0.0.1:0, and `serve`/`up` as real processes (issue
//! 18: messages, logs, signals, start-up, config checking, help; `auth`, `auth_matrix`,
//! `auth_bench`, `auth_replay` and `auth_tls`: `--auth-file`, also over HTTPS).

mod auth;
mod auth_bench;
mod auth_matrix;
mod auth_replay;
mod auth_tls;
mod common;
mod config_check;
mod daemon;
mod failed_start;
mod heartbeat;
mod help;
mod lease;
mod lease_ttl_e2e;
mod logs;
mod messages;
mod ops;
mod quick_start;
mod run;
mod sets_e2e;
mod signals;
mod store_identity;
mod store_paths;
mod virtual_resources;
