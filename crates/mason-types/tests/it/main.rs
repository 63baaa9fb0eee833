//! Integration tests of `mason-types`:
//! - `config`: bad config files are clear errors; fuzzed config texts never panic.

mod config;
