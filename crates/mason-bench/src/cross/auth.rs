//! The credentials of `--auth on|both`: an auth file with one admin user (admin, so that
//! the floor route `GET /` and the reads pass the gate too) whose password is random, and
//! the `Authorization` header the clients send. The hash has the default argon2 cost, as a
//! deployment would; the server checks it once and then answers from its verdict cache,
//! which is exactly the cost the benchmark is there to show.

use std::path::PathBuf;

use mason_server::auth::secrets::{hash_password, new_token};

use crate::{Error, Result};

/// The user name of the benchmark's clients.
const USER: &str = "mason-bench";

/// An auth file and the header that passes it.
pub(crate) struct BenchAuth {
    /// The file, for the server's `--auth-file`.
    pub(crate) file: PathBuf,
    /// `Basic …` for the clients.
    pub(crate) header: String,
    _dir: tempfile::TempDir,
}

impl BenchAuth {
    /// A fresh user with a random password.
    pub(crate) fn generate() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mason-bench-auth-")
            .tempdir()
            .map_err(Error::io("cannot create a temp directory"))?;
        let (password, _) = new_token().map_err(|e| Error::Target(e.to_string()))?;
        let hash = hash_password(password.as_bytes()).map_err(|e| Error::Target(e.to_string()))?;
        let file = dir.path().join("auth.yaml");
        let text = format!("users:\n- name: {USER}\n  password-hash: \"{hash}\"\n  role: admin\n");
        std::fs::write(&file, text).map_err(Error::io("cannot write the auth file"))?;
        Ok(Self {
            file,
            header: basic_header(USER, &password),
            _dir: dir,
        })
    }
}

/// The `Authorization` value of HTTP Basic.
pub(crate) fn basic_header(user: &str, password: &str) -> String {
    use base64::Engine;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_what_upstreams_client_sends() {
        // From the upstream wire log: alice / s3cret-pw.
        assert_eq!(
            basic_header("alice", "s3cret-pw"),
            "Basic YWxpY2U6czNjcmV0LXB3"
        );
    }

    #[test]
    fn the_generated_file_is_a_valid_auth_file() {
        let auth = BenchAuth::generate().unwrap();
        let text = std::fs::read_to_string(&auth.file).unwrap();
        let file = mason_server::auth::AuthFile::parse(&text).unwrap();
        assert_eq!(file.counts(), (1, 0));
        assert!(auth.header.starts_with("Basic "));
    }
}
