//! Black-box tests of the client subcommands: the built `mason` binary against a real
//! server started in the test process on 127.0.0.1:0.

mod common;
mod heartbeat;
mod ops;
mod run;
mod virtual_resources;
