//! Authentication and authorization (`mason serve --auth-file FILE`).
//!
//! Without an auth file the server is open, as upstream's is (and it says so in a warning
//! when it listens beyond loopback: [`warn_if_open`]). With one, every route but the health
//! checks needs credentials — HTTP Basic (what upstream's client sends with `--username`
//! and `--password-file`) or a Bearer token — and a role that allows it; lease routes also
//! need an owner the identity's patterns allow.
//!
//! Layout:
//! - [`mod@file`]: the auth file format and its strict validation ([`AuthFile`]);
//! - [`secrets`]: argon2id password hashes and SHA-256 token hashes, made and checked;
//! - [`identity`]: [`Identity`], [`Role`], and the [`Caller`] extractor handlers use to get
//!   the actor and lease holder of a request;
//! - [`owners`]: owner glob patterns;
//! - [`access`]: which role each route needs ([`classify`]; unlisted routes need admin);
//! - `credentials`: reading the `Authorization` header;
//! - `policy`: one loaded file and its verdict cache (argon2 runs once per credentials);
//! - `limit`: the per-address failure limit (more than 20 in a minute → 429 for a minute);
//! - [`gate`]: [`AuthGate`], all of the above for one server, reloadable;
//! - `middleware`: the axum layer;
//! - [`watch`]: the reload loop;
//! - [`metrics`]: `mason_auth_failures_total{reason}` and the reload metrics.

pub mod access;
mod credentials;
pub mod file;
pub mod gate;
pub mod identity;
mod limit;
pub mod metrics;
pub(crate) mod middleware;
pub mod owners;
mod policy;
pub mod secrets;
pub mod watch;

use std::net::SocketAddr;

pub use access::{classify, Access};
pub use file::{AuthFile, AuthFileError};
pub use gate::{AuthGate, AuthLoadError, AuthReload};
pub use identity::{Caller, Identity, IdentityKind, Role};
pub use limit::{BLOCK_FOR, MAX_FAILURES, WINDOW};

/// Log a warning when the server is open (no auth file) and `addr` is reachable from
/// other machines. Returns whether it warned.
pub fn warn_if_open(addr: SocketAddr, auth: bool) -> bool {
    let open = !auth && !addr.ip().is_loopback();
    if open {
        tracing::warn!(
            %addr,
            "listening beyond loopback without --auth-file: anyone who can reach this address can acquire, release and reset leases and read user data"
        );
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_when_open_beyond_loopback() {
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8080".parse().unwrap();
        assert!(warn_if_open(any, false));
        assert!(!warn_if_open(any, true));
        assert!(!warn_if_open(lo, false));
        assert!(!warn_if_open(lo6, false));
    }
}
