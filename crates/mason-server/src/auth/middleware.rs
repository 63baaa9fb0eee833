//! The gate in front of the API routes ([`authorize`]): classify the request, refuse a
//! source address that failed too often (429), read and check the credentials (401),
//! check role and owner (403), then hand the [`Identity`] to the handler in the request's
//! extensions. Refusals use the server's error format (`<text>\n`, `text/plain`) and are
//! counted in `mason_auth_failures_total{reason}`; 401s carry
//! `WWW-Authenticate: Basic realm="mason"`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::access::{classify, Access, OwnerFrom};
use super::credentials::{self, Unreadable};
use super::gate::AuthGate;
use super::identity::{owner_refused, Identity, Role};
use super::metrics::Failure;
use crate::error::ApiError;
use crate::params::Params;
use crate::MAX_BODY_BYTES;

/// The challenge sent with every 401.
const CHALLENGE: &str = "Basic realm=\"mason\"";

/// Check one request; see the module docs.
pub(crate) async fn authorize(
    State(gate): State<Arc<AuthGate>>,
    request: Request,
    next: Next,
) -> Response {
    let Access::Needs(role, owner_from) = classify(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let peer: Option<IpAddr> = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let now = Instant::now();
    if let Some(left) = gate.blocked(peer, now) {
        gate.count_failure(peer, Failure::RateLimited, now);
        let secs = left.as_secs().max(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed authentication attempts from this address; retry in {secs} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }
    let identity = match credentials::from_headers(request.headers()) {
        Ok(credentials) => gate.authenticate(credentials).await,
        Err(Unreadable::Missing) => Err(Failure::Missing),
        Err(Unreadable::Malformed(why)) => {
            gate.count_failure(peer, Failure::Malformed, now);
            return unauthorized(format!("unauthorized: {why}"));
        }
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(why) => {
            gate.count_failure(peer, why, now);
            tracing::debug!(
                ?peer,
                reason = why.label(),
                "request refused: not authenticated"
            );
            return unauthorized(match why {
                Failure::Missing => {
                    "unauthorized: this server needs credentials (HTTP Basic or a Bearer token)"
                        .into()
                }
                Failure::UnknownToken => "unauthorized: unknown token".into(),
                _ => "unauthorized: wrong user name or password".into(),
            });
        }
    };
    if identity.role() < role {
        gate.count_failure(peer, Failure::Forbidden, now);
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "forbidden: {identity} (role {}) may not {} {}: it needs role {role}{}",
                identity.role(),
                request.method(),
                request.uri().path(),
                if role == Role::Admin { "" } else { " or above" },
            ),
        )
        .into_response();
    }
    let request = match check_owners(&identity, owner_from, request).await {
        Ok(request) => request,
        Err(refusal) => {
            if refusal.status == StatusCode::FORBIDDEN {
                gate.count_failure(peer, Failure::Forbidden, now);
            }
            return refusal.into_response();
        }
    };
    let mut request = request;
    request.extensions_mut().insert(identity);
    next.run(request).await
}

/// A 401 with the challenge.
fn unauthorized(message: String) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(CHALLENGE),
    );
    response
}

/// Refuse (403) an owner the identity's patterns do not allow; the request is given back
/// (its body re-assembled when it had to be read).
async fn check_owners(
    identity: &Identity,
    from: OwnerFrom,
    request: Request,
) -> Result<Request, ApiError> {
    if from == OwnerFrom::Nowhere || identity.owners().is_any() {
        return Ok(request);
    }
    let query_owner = Params::from_uri(request.uri())
        .opt("owner")
        .map(str::to_string);
    if from == OwnerFrom::Query {
        let owner = query_owner.unwrap_or_default();
        return if identity.may_act_as(&owner) {
            Ok(request)
        } else {
            Err(owner_refused(identity, &owner))
        };
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {MAX_BODY_BYTES} bytes"),
            )
        })?;
    let body_owner = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("owner").and_then(|o| o.as_str()).map(str::to_string));
    let owners: Vec<String> = query_owner.into_iter().chain(body_owner).collect();
    if owners.is_empty() {
        return Err(owner_refused(identity, ""));
    }
    if let Some(refused) = owners.iter().find(|o| !identity.may_act_as(o)) {
        return Err(owner_refused(identity, refused));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
