//! Which role a request needs, from its method and path alone: [`classify`].
//!
//! The table is an allow-list. A route that is not named here (a route added later, a
//! typo, an unknown method on a known path) needs the admin role, so a new route is
//! closed until someone classifies it. Paths are compared exactly as the router matches
//! them (raw, not percent-decoded), so a request cannot be classified as one route and
//! served by another.
//!
//! | Access  | Requests |
//! |---------|----------|
//! | open    | `GET`/`HEAD` `/healthz`, `/healthz/ready` |
//! | read    | `GET`/`HEAD` `/metric`, `/metrics`, `/ui`, `/ui/…`, `/api/v2/…` |
//! | lease   | any method on `/acquire`, `/acquirebystate`, `/release`, `/update` (owner from the query); `POST /api/v2/acquire` (owner from the query and the JSON body) |
//! | admin   | everything else, `/reset` included |

use axum::http::Method;

use super::identity::Role;

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: health checks stay open for probes and load balancers.
    Open,
    /// An identity with at least this role; for [`Role::Lease`] routes also an owner its
    /// patterns allow.
    Needs(Role, OwnerFrom),
}

/// Where a request names the owner it acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerFrom {
    /// It acts as no owner.
    Nowhere,
    /// The `owner` query parameter (the first one, as the handlers read it).
    Query,
    /// The `owner` query parameter, if any, and the top-level `owner` of the JSON body.
    QueryAndBody,
}

/// The access `method path` needs.
pub fn classify(method: &Method, path: &str) -> Access {
    let reading = *method == Method::GET || *method == Method::HEAD;
    match path {
        "/healthz" | "/healthz/ready" if reading => Access::Open,
        "/metric" | "/metrics" | "/ui" if reading => Access::Needs(Role::Read, OwnerFrom::Nowhere),
        "/acquire" | "/acquirebystate" | "/release" | "/update" => {
            Access::Needs(Role::Lease, OwnerFrom::Query)
        }
        "/api/v2/acquire" if *method == Method::POST => {
            Access::Needs(Role::Lease, OwnerFrom::QueryAndBody)
        }
        p if reading && (p.starts_with("/api/v2/") || p.starts_with("/ui/")) => {
            Access::Needs(Role::Read, OwnerFrom::Nowhere)
        }
        _ => Access::Needs(Role::Admin, OwnerFrom::Nowhere),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        let read = Access::Needs(Role::Read, OwnerFrom::Nowhere);
        let lease = Access::Needs(Role::Lease, OwnerFrom::Query);
        let admin = Access::Needs(Role::Admin, OwnerFrom::Nowhere);
        let cases = [
            ("GET", "/healthz", Access::Open),
            ("HEAD", "/healthz/ready", Access::Open),
            ("POST", "/healthz", admin),
            ("GET", "/metric", read),
            ("GET", "/metrics", read),
            ("GET", "/api/v2/resources", read),
            ("GET", "/api/v2/events/stream", read),
            ("GET", "/ui", read),
            ("GET", "/ui/app.js", read),
            ("POST", "/acquire", lease),
            ("GET", "/acquire", lease),
            ("POST", "/acquirebystate", lease),
            ("POST", "/release", lease),
            ("POST", "/update", lease),
            (
                "POST",
                "/api/v2/acquire",
                Access::Needs(Role::Lease, OwnerFrom::QueryAndBody),
            ),
            ("POST", "/reset", admin),
            ("GET", "/reset", admin),
            ("POST", "/api/v2/resources", admin),
            ("DELETE", "/api/v2/anything", admin),
            ("GET", "/", admin),
            ("GET", "/acquire/", admin),
            ("POST", "/%61cquire", admin),
            ("GET", "/api/v2", admin),
            ("GET", "/uix", admin),
            ("POST", "/metric", admin),
        ];
        for (method, path, want) in cases {
            let method: Method = method.parse().unwrap();
            assert_eq!(classify(&method, path), want, "{method} {path}");
        }
    }
}
