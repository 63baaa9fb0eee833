//! HTTP response headers `mason serve` adds to upstream's answers. Upstream clients never
//! look at them; Mason's client reads them to say more about what happened.

/// Set (to `true`) on the catch-all's answer to a path the server does not know, which is
/// upstream's 200 with an empty body. A client that expected a route there learns that its
/// server URL has a wrong path, instead of mistaking the empty 200 for success.
pub const UNKNOWN_PATH: &str = "mason-unknown-path";
