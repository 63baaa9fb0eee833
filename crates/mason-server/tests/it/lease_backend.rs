//! The server's side of issue 12 over a [`LeaseBackend`] (the store calls of schema v4),
//! here an in-memory fake with the contract's semantics, so the server's own logic is
//! tested on its own: `POST /api/v2/acquire` answers (200 + generations, 404 naming each
//! short type, 409 for unknown types), long polls woken by availability signals in queue
//! order (priority first) and not before, and the expiry loop counting and logging each
//! lease once even with two server processes over one backend.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use mason_server::lease::backend::{
    Availability, ExpireReport, ExpireRequest, ExpiredLease, LeaseBackend, MultiAcquireRequest,
    MultiAcquired, SetRefused, Shortfall,
};
use mason_server::{AppState, ConfigSource, Listeners, ServerOptions};
use mason_store::{Error as StoreError, Store, SystemClock};
use mason_types::{BoskosConfig, LeaseFacts, Resource, ResourceV2, Timestamp};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Free resource names per (type, state), a generation counter, leases with deadlines.
#[derive(Default)]
struct Book {
    free: BTreeMap<(String, String), Vec<String>>,
    generation: u64,
    deadlines: Vec<(String, String, String, Timestamp)>,
    expired: HashSet<String>,
}

struct FakeBackend {
    book: Mutex<Book>,
    signals: broadcast::Sender<Availability>,
}

impl FakeBackend {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            book: Mutex::new(Book::default()),
            signals: broadcast::channel(64).0,
        })
    }

    /// Put `name` back as free and signal it, as a store does after a commit.
    fn free(&self, rtype: &str, name: &str) {
        let key = (rtype.to_string(), "free".to_string());
        self.book
            .lock()
            .unwrap()
            .free
            .entry(key)
            .or_default()
            .push(name.to_string());
        let _ = self.signals.send(Availability::Changed {
            rtype: rtype.into(),
            state: "free".into(),
        });
    }

    fn lease_until(&self, name: &str, rtype: &str, owner: &str, deadline: Timestamp) {
        let lease = (
            name.to_string(),
            rtype.to_string(),
            owner.to_string(),
            deadline,
        );
        self.book.lock().unwrap().deadlines.push(lease);
    }
}

#[async_trait]
impl LeaseBackend for FakeBackend {
    async fn acquire_many(&self, req: &MultiAcquireRequest) -> Result<MultiAcquired, SetRefused> {
        let mut book = self.book.lock().unwrap();
        let unknown: Vec<String> = req
            .items
            .iter()
            .filter(|i| !book.free.keys().any(|(t, _)| *t == i.rtype))
            .map(|i| i.rtype.clone())
            .collect();
        if !unknown.is_empty() {
            return Err(SetRefused::UnknownTypes(unknown));
        }
        let short: Vec<Shortfall> = req
            .items
            .iter()
            .filter_map(|i| {
                let free = book
                    .free
                    .get(&(i.rtype.clone(), i.state.clone()))
                    .map_or(0, Vec::len) as u32;
                (free < i.count).then(|| Shortfall {
                    rtype: i.rtype.clone(),
                    state: i.state.clone(),
                    wanted: i.count,
                    free,
                    reserved: 0,
                })
            })
            .collect();
        if !short.is_empty() {
            return Err(SetRefused::Shortage(short));
        }
        let mut resources = Vec::new();
        for item in &req.items {
            for _ in 0..item.count {
                book.generation += 1;
                let generation = book.generation;
                let key = (item.rtype.clone(), item.state.clone());
                let name = book.free.get_mut(&key).unwrap().remove(0);
                let mut r = Resource::new(&item.rtype, name, &item.dest, Utc::now());
                r.owner = req.owner.clone();
                let facts = LeaseFacts {
                    generation,
                    ..LeaseFacts::default()
                };
                resources.push(ResourceV2::new(r, facts));
            }
        }
        Ok(MultiAcquired {
            resources,
            requested_at: Utc::now(),
        })
    }

    async fn expire_leases(&self, req: &ExpireRequest) -> Result<ExpireReport, StoreError> {
        let mut book = self.book.lock().unwrap();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut book.deadlines)
            .into_iter()
            .partition(|(_, _, _, deadline)| *deadline <= req.now);
        book.deadlines = later;
        let mut expired = Vec::new();
        for (name, rtype, owner, deadline) in due {
            assert!(book.expired.insert(name.clone()), "{name} expired twice");
            book.generation += 1;
            expired.push(ExpiredLease {
                name,
                rtype,
                previous_owner: owner,
                previous_state: "busy".into(),
                state: "dirty".into(),
                deadline,
                generation: book.generation,
            });
        }
        let next_deadline = book.deadlines.iter().map(|d| d.3).min();
        Ok(ExpireReport {
            expired,
            next_deadline,
        })
    }

    fn availability(&self) -> broadcast::Receiver<Availability> {
        self.signals.subscribe()
    }
}

/// A running server over an empty store with `backend`.
struct Running {
    url: String,
    state: AppState,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<mason_server::Result<()>>,
}

async fn start(backend: Arc<FakeBackend>) -> Running {
    let store: Arc<dyn Store> =
        Arc::new(mason_store::sqlite::SqliteStore::in_memory(Arc::new(SystemClock)).unwrap());
    let state = AppState::new(
        store,
        Arc::new(SystemClock),
        ConfigSource::Fixed(BoskosConfig::default()),
    );
    assert!(state.lease().set_backend(backend));
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", api.local_addr().unwrap());
    let stop = CancellationToken::new();
    let listeners = Listeners {
        api,
        metrics: None,
        health: None,
    };
    let task = tokio::spawn(mason_server::run(
        state.clone(),
        listeners,
        ServerOptions::default(),
        stop.clone(),
    ));
    Running {
        url,
        state,
        stop,
        task,
    }
}

impl Running {
    async fn acquire(&self, body: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/api/v2/acquire", self.url))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_set_is_granted_with_its_generations_or_refused_by_name() {
    let backend = FakeBackend::new();
    for (t, n) in [("a", "a-1"), ("a", "a-2"), ("b", "b-1")] {
        backend.free(t, n);
    }
    let server = start(backend.clone()).await;
    let set = r#"{"owner":"o","resources":[{"type":"a","state":"free","dest":"busy","count":2},{"type":"b","state":"free","dest":"busy"}]}"#;
    let reply = server.acquire(set).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["mason-lease-generation"], "1, 2, 3");
    assert_eq!(reply.headers()["content-type"], "application/json");
    let body: serde_json::Value = reply.json().await.unwrap();
    let names: Vec<_> = body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["generation"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("a-1", 1), ("a-2", 2), ("b-1", 3)]);

    let short = server
        .acquire(&set.replace("\"owner\":\"o\"", "\"owner\":\"o\",\"request_id\":\"r9\""))
        .await;
    assert_eq!(short.status(), 404);
    assert_eq!(
        short.text().await.unwrap(),
        "Acquire failed: not enough free resources: a in state free: 2 wanted, 0 free; b in state free: 1 wanted, 0 free (request_id r9 keeps its place in the queue of each type)\n"
    );
    let unknown = server
        .acquire(r#"{"owner":"o","resources":[{"type":"zz","state":"free","dest":"busy"}]}"#)
        .await;
    assert_eq!(unknown.status(), 409);
    assert_eq!(
        unknown.text().await.unwrap(),
        "Acquire failed: resource type \"zz\" does not exist\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn held_requests_are_woken_by_availability_in_priority_order() {
    let backend = FakeBackend::new();
    backend.free("a", "a-1");
    let server = Arc::new(start(backend.clone()).await);
    // Take the only `a`, so the next requests wait.
    let first = server
        .acquire(r#"{"owner":"x","resources":[{"type":"a","state":"free","dest":"busy"}]}"#)
        .await;
    assert_eq!(first.status(), 200);
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut held = Vec::new();
    for (owner, priority) in [("early", 0), ("urgent", 5)] {
        let (server2, served) = (server.clone(), served.clone());
        held.push(tokio::spawn(async move {
            let body = format!(
                r#"{{"owner":"{owner}","wait":"30s","priority":{priority},"resources":[{{"type":"a","state":"free","dest":"busy"}}]}}"#
            );
            let reply = server2.acquire(&body).await;
            assert_eq!(reply.status(), 200, "{owner}");
            served.lock().unwrap().push(owner);
        }));
        // "urgent" arrives after "early" is registered.
        mason_testkit::eventually("the request to be held", LIMIT, || async {
            (server.state.lease().waiting() == held.len()).then_some(())
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(served.lock().unwrap().is_empty(), "nothing was free");
    backend.free("a", "a-1");
    mason_testkit::eventually("one held request to be served", LIMIT, || async {
        (!served.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    assert_eq!(*served.lock().unwrap(), ["urgent"], "priority 5 first");
    backend.free("a", "a-1");
    for task in held {
        tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();
    }
    assert_eq!(*served.lock().unwrap(), ["urgent", "early"]);
    assert_eq!(server.state.lease().waiting(), 0);
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test]
async fn a_held_request_without_availability_gets_its_404_at_the_wait() {
    let backend = FakeBackend::new();
    backend.free("b", "b-1");
    let server = start(backend.clone()).await;
    let started = tokio::time::Instant::now();
    let reply = server
        .acquire(r#"{"owner":"o","wait":"1s","resources":[{"type":"b","state":"free","dest":"busy","count":2}]}"#)
        .await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(reply.status(), 404);
    let text = reply.text().await.unwrap();
    assert!(
        text.starts_with("Acquire failed: not enough free resources: b in state free: 2 wanted, 1 free (request_id mason-wait-"),
        "{text}"
    );
    assert_eq!(server.state.lease().waiting(), 0);
    server.stop().await;
}

#[tokio::test]
async fn every_expired_lease_is_counted_once_across_two_servers() {
    let backend = FakeBackend::new();
    let now = Utc::now();
    for i in 0..20 {
        let deadline = now + chrono::Duration::milliseconds(100 + 20 * i);
        backend.lease_until(
            &format!("r-{i}"),
            if i % 2 == 0 { "a" } else { "b" },
            "job",
            deadline,
        );
    }
    let (one, two) = (start(backend.clone()).await, start(backend.clone()).await);
    let counted = |s: &Running, t: &str| {
        let text = s.state.metrics().encode(&[]);
        text.lines()
            .find(|l| l.starts_with(&format!("mason_leases_expired_total{{type=\"{t}\"}}")))
            .map_or(0, |l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
    };
    mason_testkit::eventually("all 20 leases to expire", LIMIT, || async {
        let total: u64 = ["a", "b"]
            .iter()
            .map(|t| counted(&one, t) + counted(&two, t))
            .sum();
        (total >= 20).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    for t in ["a", "b"] {
        assert_eq!(counted(&one, t) + counted(&two, t), 10, "type {t}");
    }
    assert_eq!(backend.book.lock().unwrap().expired.len(), 20);
    one.stop().await;
    two.stop().await;
}
