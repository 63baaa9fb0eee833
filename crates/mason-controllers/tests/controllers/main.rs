//! Tests of the reaper, cleaner and janitor against a real `mason serve` (in process,
//! HTTP on 127.0.0.1:0, SQLite in memory), each controller driven tick by tick. The
//! janitor runs real shell scripts written to a temporary directory.

mod cleaner;
mod janitor;
mod reaper;
mod support;
