//! The auth file (`--auth-file`): YAML with `users` (HTTP Basic, argon2id password hashes)
//! and `tokens` (Bearer, SHA-256 token hashes), parsed strictly: unknown keys, unknown
//! roles, hashes in any other format, duplicate names and settings that would do nothing
//! are errors, all reported at once with their place in the file (`users[2].role: …`).
//!
//! ```yaml
//! users:
//! - name: prow
//!   password-hash: "$argon2id$v=19$m=19456,t=2,p=1$…"   # mason auth hash
//!   role: lease                       # read | lease | admin
//!   owners: ["ci-op-*", "prow-*"]     # optional; default any owner
//!   max-leases: {gce-project: 10}     # optional; per type, over all its owners
//! tokens:
//! - name: grafana
//!   token-hash: "sha256:…"            # mason auth token
//!   role: read
//! ```
//!
//! Names are unique across users and tokens (a name is the actor and lease holder the
//! store records) and may not contain `:` (HTTP Basic cannot carry one in a user name,
//! and `internal:` names belong to the server's own parts) or control characters.

use std::collections::{BTreeMap, HashSet};

use argon2::password_hash::phc::PasswordHash;
use serde::Deserialize;

use super::identity::{Identity, IdentityKind, Role};
use super::owners::OwnerPatterns;
use super::secrets::{check_password_hash, parse_token_hash, TokenDigest};

/// The file as written (before validation).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    users: Option<Vec<RawUser>>,
    #[serde(default)]
    tokens: Option<Vec<RawToken>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawUser {
    name: String,
    password_hash: String,
    role: String,
    #[serde(default)]
    owners: Option<Vec<String>>,
    #[serde(default)]
    max_leases: Option<BTreeMap<String, u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawToken {
    name: String,
    token_hash: String,
    role: String,
    #[serde(default)]
    owners: Option<Vec<String>>,
}

/// A user: its identity and password hash.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) identity: Identity,
    pub(crate) hash: PasswordHash,
}

/// A token: its identity and the SHA-256 of the token.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) identity: Identity,
    pub(crate) digest: TokenDigest,
}

/// A valid auth file.
#[derive(Debug, Clone)]
pub struct AuthFile {
    pub(crate) users: Vec<User>,
    pub(crate) tokens: Vec<Token>,
}

/// Why an auth file was refused: every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct AuthFileError(pub Vec<String>);

impl AuthFileError {
    /// The individual problems.
    pub fn problems(&self) -> &[String] {
        &self.0
    }
}

impl AuthFile {
    /// Parse and validate the text of an auth file.
    pub fn parse(text: &str) -> Result<AuthFile, AuthFileError> {
        let raw: RawFile = if text.trim().is_empty() {
            RawFile::default()
        } else {
            serde_yaml_ng::from_str::<Option<RawFile>>(text)
                .map_err(|e| AuthFileError(vec![format!("cannot parse auth file: {e}")]))?
                .unwrap_or_default()
        };
        let mut problems = Vec::new();
        let mut names = HashSet::new();
        let users: Vec<User> = raw
            .users
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, u)| user(&format!("users[{i}]"), u, &mut names, &mut problems))
            .collect();
        let tokens: Vec<Token> = raw
            .tokens
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, t)| token(&format!("tokens[{i}]"), t, &mut names, &mut problems))
            .collect();
        if users.is_empty() && tokens.is_empty() && problems.is_empty() {
            problems.push("no users and no tokens: nobody could use the server".into());
        }
        if problems.is_empty() {
            Ok(AuthFile { users, tokens })
        } else {
            Err(AuthFileError(problems))
        }
    }

    /// How many users and tokens it defines.
    pub fn counts(&self) -> (usize, usize) {
        (self.users.len(), self.tokens.len())
    }

    /// Every identity it defines, users first.
    pub fn identities(&self) -> impl Iterator<Item = &Identity> {
        self.users
            .iter()
            .map(|u| &u.identity)
            .chain(self.tokens.iter().map(|t| &t.identity))
    }
}

fn user(
    at: &str,
    raw: RawUser,
    names: &mut HashSet<String>,
    problems: &mut Vec<String>,
) -> Option<User> {
    let before = problems.len();
    check_name(at, &raw.name, names, problems);
    let role = check_role(at, &raw.role, problems);
    let hash = check_password_hash(&raw.password_hash)
        .map_err(|e| problems.push(format!("{at}.password-hash: {e}")))
        .ok();
    let owners = check_owners(at, raw.owners, role, problems);
    let max_leases = raw.max_leases.unwrap_or_default();
    for rtype in max_leases.keys() {
        if rtype.trim().is_empty() {
            problems.push(format!("{at}.max-leases: resource types must not be empty"));
        }
    }
    if role == Some(Role::Read) && !max_leases.is_empty() {
        problems.push(format!(
            "{at}.max-leases: a read user cannot hold leases; drop max-leases or use role lease"
        ));
    }
    if problems.len() > before {
        return None;
    }
    Some(User {
        identity: Identity::new(raw.name, IdentityKind::User, role?, owners, max_leases),
        hash: hash?,
    })
}

fn token(
    at: &str,
    raw: RawToken,
    names: &mut HashSet<String>,
    problems: &mut Vec<String>,
) -> Option<Token> {
    let before = problems.len();
    check_name(at, &raw.name, names, problems);
    let role = check_role(at, &raw.role, problems);
    let digest = parse_token_hash(&raw.token_hash)
        .map_err(|e| problems.push(format!("{at}.token-hash: {e}")))
        .ok();
    let owners = check_owners(at, raw.owners, role, problems);
    if problems.len() > before {
        return None;
    }
    Some(Token {
        identity: Identity::new(
            raw.name,
            IdentityKind::Token,
            role?,
            owners,
            BTreeMap::new(),
        ),
        digest: digest?,
    })
}

fn check_name(at: &str, name: &str, names: &mut HashSet<String>, problems: &mut Vec<String>) {
    if name.is_empty() {
        problems.push(format!("{at}.name: must be set"));
    } else if name.contains(':') {
        problems.push(format!("{at}.name: {name:?} must not contain ':'"));
    } else if name.chars().any(char::is_control) {
        problems.push(format!(
            "{at}.name: {name:?} must not contain control characters"
        ));
    } else if !names.insert(name.to_string()) {
        problems.push(format!(
            "{at}.name: {name:?} is defined twice (names are unique across users and tokens)"
        ));
    }
}

fn check_role(at: &str, role: &str, problems: &mut Vec<String>) -> Option<Role> {
    let parsed = Role::parse(role);
    if parsed.is_none() {
        problems.push(format!(
            "{at}.role: unknown role {role:?} (expected read, lease or admin)"
        ));
    }
    parsed
}

fn check_owners(
    at: &str,
    owners: Option<Vec<String>>,
    role: Option<Role>,
    problems: &mut Vec<String>,
) -> OwnerPatterns {
    let Some(patterns) = owners else {
        return OwnerPatterns::any();
    };
    if role == Some(Role::Read) {
        problems.push(format!(
            "{at}.owners: a read identity acts as no owner; drop owners or use role lease"
        ));
    }
    if patterns.is_empty() {
        problems.push(format!(
            "{at}.owners: an empty list allows no owner at all; drop the key to allow any"
        ));
    }
    for p in &patterns {
        if p.is_empty() {
            problems.push(format!("{at}.owners: patterns must not be empty"));
        }
    }
    OwnerPatterns::new(patterns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::secrets::{hash_password_with_cost, token_hash};

    fn valid_hash() -> String {
        hash_password_with_cost(b"pw", 8, 1).unwrap()
    }

    #[test]
    fn parses_the_documented_example() {
        let text = format!(
            "users:\n- name: prow\n  password-hash: \"{}\"\n  role: lease\n  owners: [\"ci-op-*\", \"prow-*\"]\n  max-leases: {{gce-project: 10}}\ntokens:\n- name: grafana\n  token-hash: \"{}\"\n  role: read\n",
            valid_hash(),
            token_hash("secret-token")
        );
        let file = AuthFile::parse(&text).unwrap();
        assert_eq!(file.counts(), (1, 1));
        let prow = &file.users[0].identity;
        assert_eq!((prow.name(), prow.role()), ("prow", Role::Lease));
        assert!(prow.may_act_as("ci-op-7") && !prow.may_act_as("alice"));
        assert_eq!(prow.quota("gce-project"), Some(10));
        let grafana = &file.tokens[0].identity;
        assert_eq!(grafana.kind(), IdentityKind::Token);
        assert!(grafana.owners().is_any());
    }

    #[test]
    fn reports_every_problem_with_its_place() {
        let text = format!(
            "users:\n- name: a\n  password-hash: \"$2b$12$abcdefghijklmnopqrstuv\"\n  role: writer\n- name: a\n  password-hash: \"{h}\"\n  role: read\n  max-leases: {{t: 1}}\n- name: \"x:y\"\n  password-hash: \"{h}\"\n  role: lease\n  owners: []\ntokens:\n- name: t\n  token-hash: \"md5:abc\"\n  role: admin\n",
            h = valid_hash()
        );
        let err = AuthFile::parse(&text).unwrap_err();
        let problems = err.problems().join("\n");
        for expected in [
            "users[0].role: unknown role \"writer\"",
            "users[0].password-hash: ",
            "users[1].name: \"a\" is defined twice",
            "users[1].max-leases: a read user cannot hold leases",
            "users[2].name: \"x:y\" must not contain ':'",
            "users[2].owners: an empty list allows no owner",
            "tokens[0].token-hash: ",
        ] {
            assert!(
                problems.contains(expected),
                "missing {expected:?} in:\n{problems}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_yaml_are_refused() {
        let err = AuthFile::parse("users: []\ngroups: []\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `groups`"), "{err}");
        let err = AuthFile::parse(&format!(
            "users:\n- name: a\n  password: x\n  password-hash: \"{}\"\n  role: read\n",
            valid_hash()
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `password`"),
            "{err}"
        );
        let err = AuthFile::parse("users: [").unwrap_err();
        assert!(
            err.to_string().starts_with("cannot parse auth file"),
            "{err}"
        );
        let err = AuthFile::parse(&format!(
            "users:\n- name: a\n  password-hash: \"{}\"\n  role: lease\n  max-leases: {{t: -1}}\n",
            valid_hash()
        ))
        .unwrap_err();
        assert!(err.to_string().contains("expected u32"), "{err}");
    }

    #[test]
    fn an_empty_file_admits_nobody_and_is_refused() {
        for text in ["", "\n", "users: []\n", "{}\n", "users:\ntokens:\n"] {
            let err = AuthFile::parse(text).unwrap_err();
            assert_eq!(
                err.to_string(),
                "no users and no tokens: nobody could use the server",
                "{text:?}"
            );
        }
    }

    #[test]
    fn names_are_unique_across_users_and_tokens() {
        let text = format!(
            "users:\n- name: ci\n  password-hash: \"{}\"\n  role: lease\ntokens:\n- name: ci\n  token-hash: \"{}\"\n  role: read\n",
            valid_hash(),
            token_hash("x")
        );
        let err = AuthFile::parse(&text).unwrap_err();
        assert_eq!(
            err.problems(),
            ["tokens[0].name: \"ci\" is defined twice (names are unique across users and tokens)"]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Any text is a valid auth file or a list of problems; never a panic.
        #[test]
        fn any_text_is_parsed_or_refused(text in "(users:|tokens:|- name: |  role: |  password-hash: |  token-hash: |  owners: |\\[|\\]|\\{|\\}|\n|\"|\\PC){0,80}") {
            if let Err(e) = AuthFile::parse(&text) {
                proptest::prop_assert!(!e.problems().is_empty());
            }
        }

        /// A hash of any other format, in an otherwise valid file, is a config error
        /// that names the field.
        #[test]
        fn unknown_hash_formats_are_config_errors(hash in "[$a-z0-9:=,.+/]{0,60}") {
            let text = format!("users:\n- name: a\n  password-hash: \"{hash}\"\n  role: read\n");
            let err = AuthFile::parse(&text).unwrap_err();
            proptest::prop_assert!(
                err.problems().iter().any(|p| p.starts_with("users[0].password-hash: ")),
                "{:?}", err.problems()
            );
        }
    }
}
