//! [`Policy`]: one loaded auth file and the verdicts already reached for it.
//!
//! A password is checked with argon2 once; the verdict (who it is, or why not) is then
//! remembered under a keyed digest of the credentials — HMAC-SHA256 with a random key made
//! when the process starts — so the cache holds no password and no digest an attacker
//! could precompute, and repeated requests never run argon2 again. The cache lives inside
//! the policy, so a reload (new passwords, removed users) starts from an empty one.
//! Bearer tokens need no cache: their check is one SHA-256 compared in constant time
//! against every token of the file.
//!
//! Argon2 runs on the blocking pool, at most [`ArgonSlots`] at a time, so a flood of
//! wrong passwords slows logins down but never the lease routes of clients already known.

use std::collections::HashMap;
use std::sync::RwLock;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::Semaphore;

use super::file::{AuthFile, User};
use super::identity::Identity;
use super::metrics::Failure;
use super::secrets::{digests_equal, password_matches, token_digest, verify_dummy};

/// Most verdicts remembered per policy; the cache is emptied when it is full (only
/// a flood of distinct wrong passwords fills it, and those are rate-limited).
const MAX_CACHED: usize = 10_000;

/// The outcome of checking one set of credentials.
pub(crate) type Verdict = Result<Identity, Failure>;

/// The per-process key of the credential digests.
pub(crate) struct CacheKey(Hmac<Sha256>);

impl CacheKey {
    /// A fresh random key.
    pub(crate) fn random() -> Self {
        let mut key = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut key) {
            // Without randomness the digests are still unique per credentials; only their
            // unpredictability is lost, and the cache holds no secret either way.
            tracing::warn!(error = %e, "no random key for the credential cache; using a fixed one");
        }
        Self(Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length"))
    }

    /// The digest of a Basic user name and password (length-prefixed, so no two pairs
    /// share an input).
    fn basic(&self, user: &str, password: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(&(user.len() as u64).to_le_bytes());
        mac.update(user.as_bytes());
        mac.update(password);
        mac.finalize().into_bytes().into()
    }
}

/// How many argon2 checks run at once.
pub(crate) struct ArgonSlots(Semaphore);

impl ArgonSlots {
    /// Half the CPUs, at least one.
    pub(crate) fn for_this_machine() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self(Semaphore::new((cpus / 2).max(1)))
    }
}

/// One loaded auth file with its verdict cache.
pub(crate) struct Policy {
    file: AuthFile,
    users: HashMap<String, usize>,
    cache: RwLock<HashMap<[u8; 32], Verdict>>,
}

impl Policy {
    /// A policy for `file`, with an empty cache.
    pub(crate) fn new(file: AuthFile) -> Self {
        let users = file
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.identity.name().to_string(), i))
            .collect();
        Self {
            file,
            users,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The file it enforces.
    pub(crate) fn file(&self) -> &AuthFile {
        &self.file
    }

    /// Check Basic credentials: from the cache, or with argon2 (once).
    pub(crate) async fn basic(
        &self,
        key: &CacheKey,
        slots: &ArgonSlots,
        user: &str,
        password: Vec<u8>,
    ) -> Verdict {
        let digest = key.basic(user, &password);
        if let Some(verdict) = self.cached(&digest) {
            return verdict;
        }
        let Ok(_slot) = slots.0.acquire().await else {
            return Err(Failure::BadPassword);
        };
        // Whoever held the slot before may have checked the same credentials.
        if let Some(verdict) = self.cached(&digest) {
            return verdict;
        }
        let found: Option<User> = self.users.get(user).map(|i| self.file.users[*i].clone());
        let verdict = tokio::task::spawn_blocking(move || match found {
            Some(u) if password_matches(&u.hash, &password) => Ok(u.identity),
            Some(_) => Err(Failure::BadPassword),
            None => {
                verify_dummy(&password);
                Err(Failure::UnknownUser)
            }
        })
        .await
        .unwrap_or(Err(Failure::BadPassword));
        self.remember(digest, verdict.clone());
        verdict
    }

    /// Check a bearer token: its SHA-256 against every token of the file, each in
    /// constant time and without stopping at a match.
    pub(crate) fn bearer(&self, token: &str) -> Verdict {
        let digest = token_digest(token);
        let mut found = None;
        for t in &self.file.tokens {
            if digests_equal(&t.digest, &digest) {
                found = Some(&t.identity);
            }
        }
        found.cloned().ok_or(Failure::UnknownToken)
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<Verdict> {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }

    fn remember(&self, digest: [u8; 32], verdict: Verdict) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(digest, verdict);
    }

    /// Verdicts remembered.
    #[cfg(test)]
    pub(crate) fn cached_count(&self) -> usize {
        self.cache.read().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::secrets::{hash_password_with_cost, token_hash};

    fn policy() -> Policy {
        let text = format!(
            "users:\n- name: alice\n  password-hash: \"{}\"\n  role: lease\ntokens:\n- name: bot\n  token-hash: \"{}\"\n  role: read\n",
            hash_password_with_cost(b"s3cret-pw", 8, 1).unwrap(),
            token_hash("tok-1")
        );
        Policy::new(AuthFile::parse(&text).unwrap())
    }

    #[tokio::test]
    async fn basic_checks_once_then_answers_from_the_cache() {
        let (p, key, slots) = (policy(), CacheKey::random(), ArgonSlots::for_this_machine());
        let ok = p.basic(&key, &slots, "alice", b"s3cret-pw".to_vec()).await;
        assert_eq!(ok.unwrap().name(), "alice");
        assert_eq!(p.cached_count(), 1);
        let again = p.basic(&key, &slots, "alice", b"s3cret-pw".to_vec()).await;
        assert_eq!(again.unwrap().name(), "alice");
        assert_eq!(p.cached_count(), 1, "answered from the cache");
        assert_eq!(
            p.basic(&key, &slots, "alice", b"wrong".to_vec()).await,
            Err(Failure::BadPassword)
        );
        assert_eq!(
            p.basic(&key, &slots, "mallory", b"s3cret-pw".to_vec())
                .await,
            Err(Failure::UnknownUser)
        );
        assert_eq!(p.cached_count(), 3, "refusals are remembered too");
    }

    #[test]
    fn digests_separate_user_and_password() {
        let key = CacheKey::random();
        assert_ne!(key.basic("ab", b"c"), key.basic("a", b"bc"));
        assert_eq!(key.basic("a", b"bc"), key.basic("a", b"bc"));
        assert_ne!(
            CacheKey::random().basic("a", b"b"),
            key.basic("a", b"b"),
            "a different key per process"
        );
    }

    #[test]
    fn bearer_tokens() {
        let p = policy();
        assert_eq!(p.bearer("tok-1").unwrap().name(), "bot");
        assert_eq!(p.bearer("tok-2"), Err(Failure::UnknownToken));
        assert_eq!(p.bearer(""), Err(Failure::UnknownToken));
    }
}
