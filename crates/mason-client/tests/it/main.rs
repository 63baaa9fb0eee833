//! Client tests: the real `HttpClient` against a real `mason serve` on 127.0.0.1:0
//! (`mason-testkit`), and against small hand-made servers where a test needs an answer
//! the real server never gives (5xx, empty 200) or must see the exact bytes sent.

mod common;
mod drlcs;
mod errors;
mod fake_lease;
mod fencing;
mod inventory;
mod lease;
mod multi;
mod ops;
mod retry;
mod wait;
mod wire;
