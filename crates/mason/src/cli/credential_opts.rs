//! The credential and TLS flags shared by every command that talks to a server over HTTP
//! (client commands, controllers, the builder): HTTP Basic (`--username` with
//! `--password-file`, upstream's flags), a bearer token (`--token-file`), and a CA bundle
//! for `https://` servers (`--ca-file`). Each can also come from a `MASON_*` variable.

use std::path::PathBuf;

use clap::Args;
use mason_client::HttpClientBuilder;

/// Credential and TLS flags.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct CredentialOpts {
    /// User name for HTTP Basic auth (with --password-file).
    #[arg(long, env = "MASON_USERNAME", value_name = "USER")]
    pub(crate) username: Option<String>,
    /// File holding the Basic-auth password; re-read when it changes, whitespace trimmed.
    #[arg(long, env = "MASON_PASSWORD_FILE", value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// File holding a bearer token (instead of --username and --password-file); re-read
    /// when it changes, whitespace trimmed.
    #[arg(long, env = "MASON_TOKEN_FILE", value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// PEM bundle of CA certificates to trust for an https:// server (besides the public
    /// roots).
    #[arg(long, env = "MASON_CA_FILE", value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
}

impl CredentialOpts {
    /// `builder` with these credentials and CA.
    pub(crate) fn apply(&self, builder: HttpClientBuilder) -> HttpClientBuilder {
        let mut builder = builder.credentials(self.username.clone(), self.password_file.clone());
        if let Some(path) = &self.token_file {
            builder = builder.token_file(path);
        }
        if let Some(path) = &self.ca_file {
            builder = builder.ca_file(path);
        }
        builder
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        credentials: CredentialOpts,
    }

    #[test]
    fn flags_reach_the_client() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t0k\n").unwrap();
        let w = Wrapper::try_parse_from(["x", "--token-file", token.to_str().unwrap()]).unwrap();
        let client = w
            .credentials
            .apply(mason_client::HttpClient::builder(
                "http://127.0.0.1:1",
                "me",
            ))
            .build()
            .unwrap();
        assert!(format!("{client:?}").contains("(token)"), "{client:?}");
        let w = Wrapper::try_parse_from([
            "x",
            "--token-file",
            token.to_str().unwrap(),
            "--username",
            "u",
            "--password-file",
            token.to_str().unwrap(),
        ])
        .unwrap();
        let err = w
            .credentials
            .apply(mason_client::HttpClient::builder(
                "http://127.0.0.1:1",
                "me",
            ))
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), mason_client::ONE_KIND_OF_CREDENTIALS);
    }
}
