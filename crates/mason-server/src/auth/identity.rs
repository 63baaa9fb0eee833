//! Who a request comes from: [`Identity`] (a user, a token, or a part of the server's own
//! process), its [`Role`], and the owners and quotas that bind it. The gate puts the
//! identity into the request's extensions; handlers read it with the [`Caller`] extractor
//! and hand it to the store as the actor and lease holder.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::owners::OwnerPatterns;
use crate::error::ApiError;

/// What an identity may do. Ordered: each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read-only routes: `GET /metric`, `GET /metrics`, `GET /api/v2/…`, the dashboard.
    Read,
    /// `Read`, plus acquire, acquirebystate, multi-acquire, release and update, for the
    /// owners its patterns allow.
    Lease,
    /// Everything, including `/reset` and any route not classified otherwise.
    Admin,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 3] = [Role::Read, Role::Lease, Role::Admin];

    /// The name used in the auth file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Lease => "lease",
            Role::Admin => "admin",
        }
    }

    /// The role named `text` in the auth file.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an identity proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    /// A `users` entry: HTTP Basic with a password.
    User,
    /// A `tokens` entry: `Authorization: Bearer`.
    Token,
    /// A part of the server's own process (the controllers of `mason up`); never comes
    /// from a request and never leaves the process.
    Internal,
}

impl IdentityKind {
    /// `user`, `token` or `internal`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::User => "user",
            IdentityKind::Token => "token",
            IdentityKind::Internal => "internal",
        }
    }
}

/// An authenticated caller. Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    inner: Arc<Inner>,
}

#[derive(PartialEq, Eq)]
struct Inner {
    name: String,
    kind: IdentityKind,
    role: Role,
    owners: OwnerPatterns,
    max_leases: BTreeMap<String, u32>,
}

impl Identity {
    /// An identity from the auth file.
    pub(crate) fn new(
        name: String,
        kind: IdentityKind,
        role: Role,
        owners: OwnerPatterns,
        max_leases: BTreeMap<String, u32>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                name,
                kind,
                role,
                owners,
                max_leases,
            }),
        }
    }

    /// The identity of a part of this process (e.g. `internal("builder")`): admin, any
    /// owner, no quota. Its name is `internal:<part>`, which no user or token can have
    /// (their names may not contain `:`).
    pub fn internal(part: &str) -> Self {
        Self::new(
            format!("internal:{part}"),
            IdentityKind::Internal,
            Role::Admin,
            OwnerPatterns::any(),
            BTreeMap::new(),
        )
    }

    /// The name: a user or token name from the auth file, or `internal:<part>`. Unique
    /// across users, tokens and internal parts, so it is what the store records as the
    /// actor of a change and the holder of a lease.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How it authenticated.
    pub fn kind(&self) -> IdentityKind {
        self.inner.kind
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// The owner names it may act as.
    pub fn owners(&self) -> &OwnerPatterns {
        &self.inner.owners
    }

    /// Whether it may act as `owner` (acquire for, release or update as).
    pub fn may_act_as(&self, owner: &str) -> bool {
        self.inner.owners.matches(owner)
    }

    /// The most leases of `rtype` it may hold at once, over all its owners, if limited.
    pub fn quota(&self, rtype: &str) -> Option<u32> {
        self.inner.max_leases.get(rtype).copied()
    }

    /// Every per-type limit.
    pub fn quotas(&self) -> &BTreeMap<String, u32> {
        &self.inner.max_leases
    }
}

impl fmt::Display for Identity {
    /// `user prow`, `token grafana`, `internal internal:builder`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.inner.kind.as_str(), self.inner.name)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.inner.name)
            .field("kind", &self.inner.kind)
            .field("role", &self.inner.role)
            .field("owners", &self.inner.owners)
            .field("max_leases", &self.inner.max_leases)
            .finish()
    }
}

/// The caller of a request, for handlers: `None` when the server runs without an auth
/// file (everyone is anonymous and unrestricted).
///
/// ```no_run
/// use mason_server::auth::Caller;
///
/// async fn handle(caller: Caller) -> String {
///     caller.actor().unwrap_or("anonymous").to_string()
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<Identity>);

impl Caller {
    /// The identity, if the server checks credentials.
    pub fn identity(&self) -> Option<&Identity> {
        self.0.as_ref()
    }

    /// The name to record as the actor of a change (`None`: anonymous).
    pub fn actor(&self) -> Option<&str> {
        self.0.as_ref().map(Identity::name)
    }

    /// The lease holder and its limit for `rtype`, for the store's quota check:
    /// `(holder, quota)`; both `None` when anonymous, quota `None` when unlimited.
    pub fn holder_and_quota(&self, rtype: &str) -> (Option<String>, Option<u32>) {
        match &self.0 {
            Some(id) => (Some(id.name().to_string()), id.quota(rtype)),
            None => (None, None),
        }
    }

    /// The lease holder and every per-type limit, for a grant of resources of several
    /// types (`acquirebystate`): `(None, {})` when anonymous.
    pub fn holder_and_quotas(&self) -> (Option<String>, BTreeMap<String, u32>) {
        match &self.0 {
            Some(id) => (Some(id.name().to_string()), id.quotas().clone()),
            None => (None, BTreeMap::new()),
        }
    }

    /// Refuse (403) acting as `owner` when the caller's patterns do not allow it. For
    /// handlers that find owners the gate could not see (inside a request body).
    pub fn check_owner(&self, owner: &str) -> Result<(), ApiError> {
        match &self.0 {
            Some(id) if !id.may_act_as(owner) => Err(owner_refused(id, owner)),
            _ => Ok(()),
        }
    }
}

/// The 403 for an identity acting as an owner its patterns do not allow.
pub(crate) fn owner_refused(id: &Identity, owner: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "forbidden: {id} may not act as owner {owner:?}: allowed owners are {}",
            id.owners()
        ),
    )
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(parts.extensions.get::<Identity>().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Read < Role::Lease && Role::Lease < Role::Admin);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse("write"), None);
    }

    #[test]
    fn caller_gives_actor_holder_and_quota() {
        assert_eq!(Caller::default().actor(), None);
        assert_eq!(Caller::default().holder_and_quota("t"), (None, None));
        assert!(Caller::default().check_owner("anyone").is_ok());

        let id = Identity::new(
            "prow".into(),
            IdentityKind::User,
            Role::Lease,
            OwnerPatterns::new(vec!["ci-*".into()]),
            BTreeMap::from([("gce".to_string(), 10)]),
        );
        assert_eq!(id.to_string(), "user prow");
        let caller = Caller(Some(id));
        assert_eq!(caller.actor(), Some("prow"));
        assert_eq!(
            caller.holder_and_quota("gce"),
            (Some("prow".into()), Some(10))
        );
        assert_eq!(caller.holder_and_quota("aws"), (Some("prow".into()), None));
        assert_eq!(
            caller.holder_and_quotas(),
            (
                Some("prow".into()),
                BTreeMap::from([("gce".to_string(), 10)])
            )
        );
        assert_eq!(
            Caller::default().holder_and_quotas(),
            (None, BTreeMap::new())
        );
        assert!(caller.check_owner("ci-1").is_ok());
        let refused = caller.check_owner("bob").unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(
            refused.message,
            "forbidden: user prow may not act as owner \"bob\": allowed owners are ci-*"
        );
    }

    #[test]
    fn internal_identities_are_unrestricted_admins() {
        let id = Identity::internal("builder");
        assert_eq!(id.name(), "internal:builder");
        assert_eq!(id.kind(), IdentityKind::Internal);
        assert_eq!(id.role(), Role::Admin);
        assert!(id.may_act_as("anything"));
        assert_eq!(id.quota("t"), None);
    }
}
