//! The route × role matrix on the real binaries: every route against `mason serve
//! --auth-file` and `mason up --auth-file` with no credentials, a wrong password, an
//! unknown token, a malformed header, and each role as a user and as a token; owner
//! patterns on acquire, release and update.

use std::net::{IpAddr, Ipv4Addr};

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};

use super::auth::{auth_file_text, Server};
use super::common::POOL;

/// What a request presents.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cred {
    Nothing,
    WrongPassword,
    UnknownToken,
    Malformed,
    User(&'static str, &'static str),
    Token(&'static str),
}

/// What the gate should do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Unauthenticated,
    Forbidden,
    Passed,
}

/// The level a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Open,
    Read,
    Lease,
    Admin,
}

/// The identities of [`auth_file_text`]: credentials, role, and the owner it may use.
const IDENTITIES: &[(Cred, Need, &str)] = &[
    (Cred::User("reader", "reader-pw"), Need::Read, ""),
    (Cred::User("ci", "ci-pw"), Need::Lease, "ci-1"),
    (Cred::User("boss", "boss-pw"), Need::Admin, "anyone"),
    (Cred::Token("dash-token"), Need::Read, ""),
    (Cred::Token("bot-token"), Need::Lease, "bot-1"),
    (Cred::Token("root-token"), Need::Admin, "anyone"),
];

/// Every route: method, path and query (`{owner}` is replaced), and what it needs.
const ROUTES: &[(&str, &str, Need)] = &[
    ("GET", "/healthz", Need::Open),
    ("GET", "/healthz/ready", Need::Open),
    ("GET", "/metric?type=t1", Need::Read),
    ("GET", "/metrics", Need::Read),
    ("GET", "/api/v2/resources", Need::Read),
    ("GET", "/api/v2/drlcs", Need::Read),
    ("GET", "/api/v2/queue", Need::Read),
    (
        "POST",
        "/acquire?type=t1&state=free&dest=busy&owner={owner}",
        Need::Lease,
    ),
    (
        "POST",
        "/acquirebystate?state=busy&dest=busy&names=t1-a&owner={owner}",
        Need::Lease,
    ),
    (
        "POST",
        "/update?name=t1-a&state=busy&owner={owner}",
        Need::Lease,
    ),
    (
        "POST",
        "/release?name=t1-a&dest=free&owner={owner}",
        Need::Lease,
    ),
    (
        "POST",
        "/reset?type=t1&state=busy&dest=free&expire=1h",
        Need::Admin,
    ),
    ("GET", "/", Need::Admin),
    ("POST", "/no-such-route", Need::Admin),
];

fn expected(cred: Cred, need: Need, owner_ok: bool) -> Verdict {
    if need == Need::Open {
        return Verdict::Passed;
    }
    let role = match cred {
        Cred::Nothing | Cred::WrongPassword | Cred::UnknownToken | Cred::Malformed => {
            return Verdict::Unauthenticated
        }
        _ => IDENTITIES.iter().find(|(c, ..)| same(*c, cred)).unwrap().1,
    };
    if role < need || (need == Need::Lease && !owner_ok) {
        Verdict::Forbidden
    } else {
        Verdict::Passed
    }
}

fn same(a: Cred, b: Cred) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

pub(super) async fn ask(http: &reqwest::Client, method: &str, url: &str, cred: Cred) -> Verdict {
    let mut request = http.request(method.parse().unwrap(), url);
    request = match cred {
        Cred::Nothing => request,
        Cred::WrongPassword => request.basic_auth("ci", Some("not-the-password")),
        Cred::UnknownToken => request.bearer_auth("no-such-token"),
        Cred::Malformed => request.header(AUTHORIZATION, "Basic not*base64"),
        Cred::User(u, p) => request.basic_auth(u, Some(p)),
        Cred::Token(t) => request.bearer_auth(t),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenged = response.headers().contains_key(WWW_AUTHENTICATE);
    let body = response.text().await.unwrap();
    match status {
        401 if challenged => Verdict::Unauthenticated,
        403 => Verdict::Forbidden,
        429 => panic!("rate-limited during the matrix: {body}"),
        _ => Verdict::Passed,
    }
}

/// A client whose requests come from `127.0.1.<n>`: every failed attempt of the matrix
/// from its own address, so the per-address failure limit (tested on its own) stays out
/// of the way.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n)))
        .build()
        .unwrap()
}

/// Every route × every credential against `server`; also owners outside the patterns.
async fn matrix(server: &Server) -> usize {
    let http = reqwest::Client::new();
    let mut checked = 0;
    let strangers = [
        Cred::Nothing,
        Cred::WrongPassword,
        Cred::UnknownToken,
        Cred::Malformed,
    ];
    let mut source = 0u8;
    for (method, route, need) in ROUTES {
        for cred in strangers {
            let url = format!("{}{}", server.url, route.replace("{owner}", "ci-1"));
            source += 1;
            let got = ask(&client_from(source), method, &url, cred).await;
            assert_eq!(
                got,
                expected(cred, *need, false),
                "{cred:?} {method} {route}"
            );
            checked += 1;
        }
        for (cred, _, own) in IDENTITIES {
            // Its own kind of owner, then one outside every pattern.
            for (owner, owner_ok) in [(*own, true), ("mallory", own == &"anyone")] {
                let url = format!("{}{}", server.url, route.replace("{owner}", owner));
                let got = ask(&http, method, &url, *cred).await;
                assert_eq!(
                    got,
                    expected(*cred, *need, owner_ok),
                    "{cred:?} {method} {route} as {owner}"
                );
                checked += 1;
            }
        }
    }
    checked
}

#[tokio::test]
async fn route_role_matrix_on_mason_serve() {
    let server = Server::serve(POOL, Some(&auth_file_text())).await;
    let checked = matrix(&server).await;
    assert_eq!(checked, ROUTES.len() * (4 + 2 * IDENTITIES.len()));
    server.stop().await;
}

#[tokio::test]
async fn route_role_matrix_on_mason_up() {
    let server = Server::up(POOL, Some(&auth_file_text())).await;
    matrix(&server).await;
    server.stop().await;
}
