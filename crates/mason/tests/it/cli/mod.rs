//! Black-box tests of the client subcommands: the built `mason` binary against a real
//! server started in the test process on 127.0.0.1:0 (`auth` and `auth_replay` run
//! `mason serve` and `mason up` as processes, with `--auth-file`).

mod auth;
mod auth_replay;
mod common;
mod heartbeat;
mod ops;
mod run;
mod virtual_resources;
