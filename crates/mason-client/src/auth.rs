//! Credentials: HTTP Basic (a user name and a password file: what upstream's client sends,
//! checked by `mason serve --auth-file` or a fronting proxy) or a bearer token read from a
//! file (`Authorization: Bearer`, a `mason serve` extension).
//!
//! Secrets live in files (a mounted Kubernetes secret, typically). Like upstream's secret
//! agent, a file is re-read when it changes, so a rotated secret is picked up without a
//! restart; instead of polling every second we compare the file's modification time and
//! length before each request, which costs one `stat`. The content is whitespace-trimmed,
//! so a trailing newline written by `echo` or an editor is not part of the secret (the
//! upstream wire log shows the same: a file `s3cret-pw\n` is sent as `s3cret-pw`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::api::{Error, Result};

/// Upstream's error text when only one of username and password file is given.
pub const CREDENTIALS_TOGETHER: &str = "username and passwordFile must be specified together";

/// The error text when both Basic credentials and a token file are given.
pub const ONE_KIND_OF_CREDENTIALS: &str =
    "give either a username with a password file or a token file, not both";

/// What a client sends in its `Authorization` header.
#[derive(Debug)]
pub(crate) enum Credentials {
    /// HTTP Basic.
    Basic(BasicAuth),
    /// `Bearer <token>`, the token read from a file.
    Bearer(PasswordFile),
}

impl Credentials {
    /// Check the flags: Basic needs both parts, and Basic and a token exclude each other.
    /// Every file given must be readable now.
    pub(crate) fn from_parts(
        username: Option<String>,
        password_file: Option<PathBuf>,
        token_file: Option<PathBuf>,
    ) -> Result<Option<Self>> {
        let basic = BasicAuth::from_parts(username, password_file)?;
        let token_file = token_file.filter(|p| !p.as_os_str().is_empty());
        match (basic, token_file) {
            (Some(_), Some(_)) => Err(Error::Local(ONE_KIND_OF_CREDENTIALS.to_string())),
            (Some(basic), None) => Ok(Some(Credentials::Basic(basic))),
            (None, Some(path)) => {
                let token = PasswordFile::holding(path, "token");
                if token.get()?.is_empty() {
                    return Err(Error::Local(format!(
                        "token file {} is empty",
                        token.path.display()
                    )));
                }
                Ok(Some(Credentials::Bearer(token)))
            }
            (None, None) => Ok(None),
        }
    }

    /// Who, for logs: the user name, or `token`.
    pub(crate) fn describe(&self) -> &str {
        match self {
            Credentials::Basic(b) => b.username(),
            Credentials::Bearer(_) => "(token)",
        }
    }

    /// Add the `Authorization` header to `request`.
    pub(crate) fn apply(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder> {
        Ok(match self {
            Credentials::Basic(b) => request.basic_auth(b.username(), Some(b.password()?)),
            Credentials::Bearer(file) => request.bearer_auth(file.get()?),
        })
    }
}

/// A username and a password read from a file.
#[derive(Debug)]
pub(crate) struct BasicAuth {
    username: String,
    password: PasswordFile,
}

impl BasicAuth {
    /// Check that both or neither are given, and that the file is readable now.
    pub(crate) fn from_parts(
        username: Option<String>,
        password_file: Option<PathBuf>,
    ) -> Result<Option<Self>> {
        let username = username.filter(|u| !u.is_empty());
        let password_file = password_file.filter(|p| !p.as_os_str().is_empty());
        match (username, password_file) {
            (None, None) => Ok(None),
            (Some(username), Some(path)) => {
                let password = PasswordFile::new(path);
                password.get()?;
                Ok(Some(Self { username, password }))
            }
            _ => Err(Error::Local(CREDENTIALS_TOGETHER.to_string())),
        }
    }

    /// The username.
    pub(crate) fn username(&self) -> &str {
        &self.username
    }

    /// The current password (re-read if the file changed).
    pub(crate) fn password(&self) -> Result<String> {
        self.password.get()
    }
}

/// The last content read from the file, with what identified that version of it.
#[derive(Debug, Default)]
struct Cached {
    stamp: Option<(SystemTime, u64)>,
    password: String,
}

/// A secret file (password or token), re-read whenever its modification time or size
/// changes.
#[derive(Debug)]
pub(crate) struct PasswordFile {
    path: PathBuf,
    /// `password` or `token`, for messages.
    what: &'static str,
    cached: Mutex<Cached>,
}

impl PasswordFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self::holding(path, "password")
    }

    pub(crate) fn holding(path: PathBuf, what: &'static str) -> Self {
        Self {
            path,
            what,
            cached: Mutex::new(Cached::default()),
        }
    }

    /// The trimmed content, read again only when the file changed since the last read.
    pub(crate) fn get(&self) -> Result<String> {
        let unreadable = |err: std::io::Error| {
            Error::Local(format!(
                "cannot read {} file {}: {err}",
                self.what,
                self.path.display()
            ))
        };
        let meta = std::fs::metadata(&self.path).map_err(unreadable)?;
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if cached.stamp != Some(stamp) {
            let text = std::fs::read_to_string(&self.path).map_err(unreadable)?;
            cached.password = text.trim().to_string();
            cached.stamp = Some(stamp);
        }
        Ok(cached.password.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn both_or_neither() {
        assert!(BasicAuth::from_parts(None, None).unwrap().is_none());
        for (u, p) in [
            (Some("alice".to_string()), None),
            (None, Some(PathBuf::from("/x"))),
        ] {
            let err = BasicAuth::from_parts(u, p).unwrap_err();
            assert_eq!(err.to_string(), CREDENTIALS_TOGETHER);
        }
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        let err = BasicAuth::from_parts(Some("a".into()), Some(path)).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read password file "),
            "{err}"
        );
    }

    #[test]
    fn tokens_exclude_basic_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "tok-123\n").unwrap();
        let both =
            Credentials::from_parts(Some("a".into()), Some(token.clone()), Some(token.clone()))
                .unwrap_err();
        assert_eq!(both.to_string(), ONE_KIND_OF_CREDENTIALS);
        let bearer = Credentials::from_parts(None, None, Some(token.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(bearer.describe(), "(token)");
        std::fs::write(&token, "\n").unwrap();
        let empty = Credentials::from_parts(None, None, Some(token)).unwrap_err();
        assert!(empty.to_string().ends_with("is empty"), "{empty}");
        assert!(Credentials::from_parts(None, None, None).unwrap().is_none());
    }

    #[test]
    fn trims_and_rereads_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret-pw\n").unwrap();
        let auth = BasicAuth::from_parts(Some("alice".into()), Some(path.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(auth.username(), "alice");
        assert_eq!(auth.password().unwrap(), "s3cret-pw");
        // A different length is noticed even if the clock's resolution hides the mtime change.
        std::fs::write(&path, "  rotated-password \n").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(auth.password().unwrap(), "rotated-password");
    }
}
