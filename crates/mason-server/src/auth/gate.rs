//! [`AuthGate`]: the auth file in force and everything that checks requests against it —
//! the verdict cache's key, the argon2 slots, the per-address failure limiter and the
//! metrics. [`AuthGate::reload`] re-reads the file; an unreadable or invalid file is
//! logged, counted and ignored, and the previous one stays in force.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::credentials::Credentials;
use super::file::{AuthFile, AuthFileError};
use super::identity::Identity;
use super::limit::FailureLimiter;
use super::metrics::{AuthMetrics, Failure};
use super::policy::{ArgonSlots, CacheKey, Policy};

/// The auth file could not be loaded at start-up.
#[derive(Debug, thiserror::Error)]
pub enum AuthLoadError {
    /// The file could not be read.
    #[error("cannot read auth file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid auth file.
    #[error("invalid auth file {}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        #[source]
        source: AuthFileError,
    },
}

/// What [`AuthGate::reload`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthReload {
    /// Same text as last time (or no file): nothing changed.
    Unchanged,
    /// A new valid file is in force: (users, tokens) it defines.
    Changed(usize, usize),
    /// The new text is unreadable or invalid; the previous file stays in force.
    Rejected(String),
}

/// Credential checking for one server.
pub struct AuthGate {
    /// The watched file (`None`: a file given in code, never reloaded).
    path: Option<PathBuf>,
    /// The file in force and its verdict cache; replaced whole on reload.
    policy: RwLock<Arc<Policy>>,
    /// The file's text when last read, so an unchanged file is not parsed again and an
    /// unchanged invalid one is reported once.
    seen: Mutex<Option<Result<String, String>>>,
    /// Keys the credential digests of the cache.
    key: CacheKey,
    /// Bounds concurrent argon2 checks.
    slots: ArgonSlots,
    /// Failed attempts per source address.
    limiter: FailureLimiter,
    /// Failures, reloads.
    metrics: AuthMetrics,
}

impl std::fmt::Debug for AuthGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (users, tokens) = self.current().file().counts();
        f.debug_struct("AuthGate")
            .field("path", &self.path)
            .field("users", &users)
            .field("tokens", &tokens)
            .finish()
    }
}

impl AuthGate {
    /// Load the auth file at `path`; any problem is an error (start-up is fatal).
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, AuthLoadError> {
        let path = path.into();
        let text = std::fs::read_to_string(&path).map_err(|source| AuthLoadError::Read {
            path: path.clone(),
            source,
        })?;
        let file = AuthFile::parse(&text).map_err(|source| AuthLoadError::Invalid {
            path: path.clone(),
            source,
        })?;
        let gate = Self::build(Some(path), file);
        *gate.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Ok(text));
        Ok(gate)
    }

    /// A gate enforcing `file`, never reloaded (tests, embedding).
    pub fn fixed(file: AuthFile) -> Self {
        Self::build(None, file)
    }

    fn build(path: Option<PathBuf>, file: AuthFile) -> Self {
        let metrics = AuthMetrics::default();
        metrics.reloaded();
        Self {
            path,
            policy: RwLock::new(Arc::new(Policy::new(file))),
            seen: Mutex::new(None),
            key: CacheKey::random(),
            slots: ArgonSlots::for_this_machine(),
            limiter: FailureLimiter::default(),
            metrics,
        }
    }

    /// The watched file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The metrics (to register, and for tests).
    pub fn metrics(&self) -> &AuthMetrics {
        &self.metrics
    }

    /// The file in force.
    pub fn file(&self) -> AuthFile {
        self.current().file().clone()
    }

    fn current(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-read the file. Cheap when it did not change (one read and a comparison).
    pub fn reload(&self) -> AuthReload {
        let Some(path) = &self.path else {
            return AuthReload::Unchanged;
        };
        let observed = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read auth file {}: {e}", path.display()));
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.as_ref() == Some(&observed) {
            return AuthReload::Unchanged;
        }
        *seen = Some(observed.clone());
        drop(seen);
        let outcome = match observed {
            Err(problem) => AuthReload::Rejected(problem),
            Ok(text) => match AuthFile::parse(&text) {
                Ok(file) => {
                    let (users, tokens) = file.counts();
                    *self.policy.write().unwrap_or_else(|p| p.into_inner()) =
                        Arc::new(Policy::new(file));
                    AuthReload::Changed(users, tokens)
                }
                Err(e) => {
                    AuthReload::Rejected(format!("invalid auth file {}: {e}", path.display()))
                }
            },
        };
        match &outcome {
            AuthReload::Changed(users, tokens) => {
                self.metrics.reloaded();
                tracing::info!(file = %path.display(), users, tokens, "auth file changed; new credentials in force");
            }
            AuthReload::Rejected(problem) => {
                self.metrics.reload_failed();
                tracing::error!(error = %problem, "auth file rejected; the previous one stays in force");
            }
            AuthReload::Unchanged => {}
        }
        outcome
    }

    /// Who `credentials` belong to, or why they are refused.
    pub(crate) async fn authenticate(&self, credentials: Credentials) -> Result<Identity, Failure> {
        let policy = self.current();
        match credentials {
            Credentials::Basic { user, password } => {
                policy.basic(&self.key, &self.slots, &user, password).await
            }
            Credentials::Bearer(token) => policy.bearer(&token),
        }
    }

    /// How much longer `peer` is refused for failing too often, if it is.
    pub(crate) fn blocked(&self, peer: Option<IpAddr>, now: Instant) -> Option<Duration> {
        peer.and_then(|ip| self.limiter.blocked(ip, now))
    }

    /// Count a refusal (metric, and the peer's failure budget when it applies).
    pub(crate) fn count_failure(&self, peer: Option<IpAddr>, why: Failure, now: Instant) {
        self.metrics.failed(why);
        if let (Some(ip), true) = (peer, why.counts_towards_limit()) {
            if self.limiter.record_failure(ip, now) {
                tracing::warn!(%ip, "too many failed authentications; refusing this address for a minute");
            }
        }
    }
}
