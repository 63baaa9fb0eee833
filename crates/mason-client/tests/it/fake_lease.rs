//! A small in-memory stand-in for the lease-safety extensions of `mason serve`
//! (generation header, `generation=` checks, `POST /api/v2/acquire` with waiting), so the
//! client's side of them is tested on its own: it records every request, can bump a
//! resource's generation behind the holder's back (as a TTL expiry would), and can stop
//! answering `/update` (as a cut network would).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mason_types::multi_acquire::{MultiAcquireAnswer, MultiAcquireBody};
use mason_types::resource::parse_wire_time;
use mason_types::{LeaseFacts, Resource, ResourceV2, GENERATION_HEADER};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub(crate) struct Pool {
    pub(crate) resources: BTreeMap<String, (Resource, u64)>,
    pub(crate) next_generation: u64,
    /// Every request: path and query (or JSON body).
    pub(crate) seen: Vec<String>,
    /// While set, `/update` never answers.
    pub(crate) hang_updates: bool,
}

#[derive(Clone)]
struct Shared {
    pool: Arc<Mutex<Pool>>,
    freed: Arc<Notify>,
}

/// The running fake.
pub(crate) struct FakeLeaseServer {
    pub(crate) url: String,
    shared: Shared,
    stop: CancellationToken,
}

impl FakeLeaseServer {
    /// A server holding `count` free resources of each type in `types` (`<type>-<i>`).
    pub(crate) async fn start(types: &[(&str, usize)]) -> Self {
        let mut pool = Pool {
            next_generation: 100,
            ..Pool::default()
        };
        let at = parse_wire_time("2026-01-01T00:00:00Z").unwrap();
        for (rtype, count) in types {
            for i in 0..*count {
                let name = format!("{rtype}-{i}");
                let r = Resource::new(*rtype, name.clone(), "free", at);
                pool.resources.insert(name, (r, 1));
            }
        }
        let shared = Shared {
            pool: Arc::new(Mutex::new(pool)),
            freed: Arc::new(Notify::new()),
        };
        let app = axum::Router::new()
            .route("/acquire", post(acquire))
            .route("/update", post(update))
            .route("/release", post(release))
            .route("/api/v2/acquire", post(acquire_many))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .unwrap()
        });
        Self { url, shared, stop }
    }

    pub(crate) fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.shared.pool.lock().unwrap()
    }

    /// End `name`'s lease behind its holder's back (as a TTL expiry does).
    pub(crate) fn expire(&self, name: &str) {
        let mut pool = self.pool();
        pool.next_generation += 1;
        let generation = pool.next_generation;
        let (r, g) = pool.resources.get_mut(name).unwrap();
        r.owner.clear();
        r.state = "dirty".into();
        *g = generation;
    }

    /// The recorded requests.
    pub(crate) fn seen(&self) -> Vec<String> {
        self.pool().seen.clone()
    }

    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }
}

fn params(uri: &Uri) -> BTreeMap<String, String> {
    form_pairs(uri.query().unwrap_or(""))
}

fn form_pairs(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2C", ",")))
        .collect()
}

fn text(status: StatusCode, body: String) -> Response {
    (status, body).into_response()
}

async fn acquire(State(s): State<Shared>, uri: Uri) -> Response {
    let p = params(&uri);
    let mut pool = s.pool.lock().unwrap();
    pool.seen
        .push(format!("/acquire?{}", uri.query().unwrap_or("")));
    pool.next_generation += 1;
    let generation = pool.next_generation;
    let found = pool
        .resources
        .values_mut()
        .find(|(r, _)| r.rtype == p["type"] && r.state == p["state"] && r.owner.is_empty());
    let Some((r, g)) = found else {
        return text(StatusCode::NOT_FOUND, "no available resource".into());
    };
    r.owner = p["owner"].clone();
    r.state = p["dest"].clone();
    *g = generation;
    let mut response = r.to_wire_json().into_response();
    response.headers_mut().insert(
        GENERATION_HEADER,
        HeaderValue::from_str(&generation.to_string()).unwrap(),
    );
    response
}

/// The checks `mason serve` makes on `/update` and `/release`: 404, then a stale
/// generation (409), then the owner (401).
fn check(pool: &Pool, p: &BTreeMap<String, String>) -> Result<(), (StatusCode, String)> {
    let Some((r, g)) = pool.resources.get(&p["name"]) else {
        return Err((StatusCode::NOT_FOUND, "no available resource".into()));
    };
    if let Some(given) = p.get("generation") {
        if given.parse::<u64>().unwrap() != *g {
            let msg = format!(
                "resource {}: generation {given} is stale, the current generation is {g}",
                p["name"]
            );
            return Err((StatusCode::CONFLICT, msg));
        }
    }
    if r.owner != p["owner"] {
        return Err((StatusCode::UNAUTHORIZED, "owner mismatch".into()));
    }
    Ok(())
}

async fn update(State(s): State<Shared>, uri: Uri) -> Response {
    let p = params(&uri);
    let answer = {
        let mut pool = s.pool.lock().unwrap();
        pool.seen
            .push(format!("/update?{}", uri.query().unwrap_or("")));
        (!pool.hang_updates).then(|| check(&pool, &p))
    };
    match answer {
        Some(Ok(())) => StatusCode::OK.into_response(),
        Some(Err(r)) => r.into_response(),
        None => std::future::pending().await,
    }
}

async fn release(State(s): State<Shared>, uri: Uri) -> Response {
    let p = params(&uri);
    let mut pool = s.pool.lock().unwrap();
    pool.seen
        .push(format!("/release?{}", uri.query().unwrap_or("")));
    if let Err(r) = check(&pool, &p) {
        return r.into_response();
    }
    pool.next_generation += 1;
    let generation = pool.next_generation;
    let (r, g) = pool.resources.get_mut(&p["name"]).unwrap();
    r.owner.clear();
    r.state = p["dest"].clone();
    *g = generation;
    drop(pool);
    s.freed.notify_waiters();
    StatusCode::OK.into_response()
}

async fn acquire_many(State(s): State<Shared>, body: Bytes) -> Response {
    let req = match MultiAcquireBody::from_json(&body) {
        Ok(req) => req,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    s.pool
        .lock()
        .unwrap()
        .seen
        .push(String::from_utf8_lossy(&body).into_owned());
    let deadline = tokio::time::Instant::now() + req.wait();
    loop {
        let freed = s.freed.notified();
        if let Some(answer) = try_many(&mut s.pool.lock().unwrap(), &req) {
            return answer;
        }
        if tokio::time::timeout_at(deadline, freed).await.is_err() {
            return text(StatusCode::NOT_FOUND, "not enough free resources".into());
        }
    }
}

fn try_many(pool: &mut Pool, req: &MultiAcquireBody) -> Option<Response> {
    for item in &req.resources {
        if !pool.resources.values().any(|(r, _)| r.rtype == item.rtype) {
            let msg = format!("resource type \"{}\" does not exist", item.rtype);
            return Some(text(StatusCode::CONFLICT, msg));
        }
    }
    let mut picked: Vec<String> = Vec::new();
    for item in &req.resources {
        let free = pool
            .resources
            .values()
            .filter(|(r, _)| r.rtype == item.rtype && r.state == item.state && r.owner.is_empty())
            .map(|(r, _)| r.name.clone())
            .take(item.count as usize);
        let before = picked.len();
        picked.extend(free);
        if picked.len() - before < item.count as usize {
            return None;
        }
    }
    let mut granted = Vec::new();
    for (name, item) in picked.iter().zip(
        req.resources
            .iter()
            .flat_map(|i| std::iter::repeat_n(i, i.count as usize)),
    ) {
        pool.next_generation += 1;
        let generation = pool.next_generation;
        let (r, g) = pool.resources.get_mut(name).unwrap();
        r.owner = req.owner.clone();
        r.state = item.dest.clone();
        *g = generation;
        granted.push(ResourceV2::new(
            r.clone(),
            LeaseFacts {
                generation,
                lease_ttl: req.lease_ttl,
                lease_deadline: None,
            },
        ));
    }
    let answer = MultiAcquireAnswer { resources: granted };
    Some(serde_json::to_string(&answer).unwrap().into_response())
}
