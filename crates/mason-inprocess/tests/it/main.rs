//! `mason-inprocess` against a real store (an in-memory SQLite behind a `mason serve` on
//! 127.0.0.1:0, so the same calls can also be made over HTTP):
//! - `client`: the in-process client speaks Boskos and refuses exactly as HTTP does;
//! - `sources`: the store-backed pool source and lease inventory.

mod client;
mod sources;
