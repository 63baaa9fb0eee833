//! Tests of the controllers against a real `mason serve` (in process, HTTP on
//! 127.0.0.1:0, SQLite in memory):
//! - `builder`: the Mason builder end to end, with the exec converter running real shell
//!   scripts;
//! - `reaper`, `cleaner`, `janitor`: each controller driven tick by tick (the janitor runs
//!   real shell scripts written to a temporary directory);
//! - `support`: clients, store look-ups and executable scripts they share.

mod builder;
mod cleaner;
mod janitor;
mod reaper;
mod support;
