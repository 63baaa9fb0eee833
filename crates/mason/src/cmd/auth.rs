//! `mason auth hash` and `mason auth token`: the secrets of an auth file.
//!
//! - `hash` reads a password on stdin and prints its argon2id PHC string for
//!   `password-hash`. Surrounding whitespace is trimmed, as clients trim their
//!   `--password-file`, so `echo pw | mason auth hash` matches a file holding `pw\n`.
//! - `token` prints a fresh random token (for a client's `--token-file`) and its
//!   `token-hash` value (for the auth file).

use std::io::Read;

use clap::{Args, Subcommand};
use mason_server::auth::secrets::{hash_password, new_token};

use crate::exit::{self, Exit};

/// Typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason auth hash < password.txt           # the password-hash of a user (password on stdin)
mason auth token                         # a token for --token-file, and its token-hash";

/// Options of `auth`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(subcommand)]
    command: AuthCommand,
}

#[derive(Debug, Subcommand)]
enum AuthCommand {
    /// Read a password on stdin; print its argon2id hash for `password-hash`.
    Hash,
    /// Print a fresh random token and its `token-hash` value.
    Token,
}

/// Run the subcommand.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    match opts.command {
        AuthCommand::Hash => {
            let mut input = Vec::new();
            std::io::stdin().read_to_end(&mut input).map_err(|e| {
                Exit::new(
                    exit::FAILURE,
                    format!("mason auth hash: cannot read stdin: {e}"),
                )
            })?;
            let password = password_from(&input)
                .map_err(|m| Exit::new(exit::USAGE, format!("mason auth hash: {m}")))?;
            let hash = hash_password(password)
                .map_err(|e| Exit::new(exit::FAILURE, format!("mason auth hash: {e}")))?;
            println!("{hash}");
        }
        AuthCommand::Token => {
            let (token, hash) = new_token()
                .map_err(|e| Exit::new(exit::FAILURE, format!("mason auth token: {e}")))?;
            println!("token: {token}");
            println!("token-hash: \"{hash}\"");
        }
    }
    Ok(exit::OK)
}

/// The password in `input`: trimmed, not empty, one line.
fn password_from(input: &[u8]) -> Result<&[u8], &'static str> {
    let password = input.trim_ascii();
    if password.is_empty() {
        return Err("no password on stdin");
    }
    if password.contains(&b'\n') || password.contains(&b'\r') {
        return Err("the password spans several lines; give one line");
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_trimmed_like_password_files() {
        assert_eq!(password_from(b"s3cret-pw\n"), Ok(&b"s3cret-pw"[..]));
        assert_eq!(password_from(b"  a b \r\n"), Ok(&b"a b"[..]));
        assert!(password_from(b"\n").is_err());
        assert!(password_from(b"a\nb\n").is_err());
    }
}
