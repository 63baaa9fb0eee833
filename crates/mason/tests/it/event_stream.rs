//! The history stream of real `mason serve` processes (issue 14):
//!
//! - a client following `/api/v2/events/stream` sees an acquire within 1 s;
//! - after a disconnect it resumes with `Last-Event-ID` and gets exactly the events of
//!   `GET /api/v2/events?after=` from there: no gap, no duplicate, oldest first;
//! - on PostgreSQL, two replicas of one database each stream every event, the other's
//!   included, in the same order;
//! - bad filters, a huge `limit` and a bad `Last-Event-ID` get a 400 with a message;
//! - with `--auth-file` the history routes and the dashboard need the `read` role.
//!
//! Every wait has a generous deadline except the one the acceptance line sets (1 s from
//! the acquire's answer to the event on the stream).

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use mason_server::auth::secrets::token_hash;
use mason_testkit::postgres::fresh_database_or_skip;
use mason_types::event::{Event, EventPage};

use crate::serve_process::ServeProcess;

/// Safety net for waits that are not timing assertions.
const LIMIT: Duration = Duration::from_secs(30);
/// How soon a follower must see an acquire (the acceptance line).
const LIVE: Duration = Duration::from_secs(1);

const CONFIG: &str = "resources:\n- type: t\n  state: free\n  names: [t-0, t-1, t-2, t-3]\n";

/// A ready `mason serve` on a free port with the config in `dir` (written there when
/// missing), `store` and `extra` flags, logging warnings to `{name}.log` in `dir`.
pub(crate) async fn start_serve(
    dir: &Path,
    name: &str,
    store: &str,
    extra: &[&str],
) -> ServeProcess {
    let config = dir.join("config.yaml");
    if !config.exists() {
        std::fs::write(&config, CONFIG).unwrap();
    }
    let log = dir.join(format!("{name}.log"));
    let extra: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
    let mut serve = ServeProcess::replica(&config, store, &log, &extra);
    serve.wait_ready().await;
    serve
}

/// One open `/api/v2/events/stream` answer, read event by event.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// Open the stream of `url` with `query`, resuming after `last_id` when given. Once
    /// this returns, the server has subscribed (it answers after subscribing).
    async fn open(url: &str, query: &str, last_id: Option<u64>) -> Stream {
        let mut request = reqwest::Client::new()
            .get(format!("{url}/api/v2/events/stream?{query}"))
            .header("accept", "text/event-stream");
        if let Some(id) = last_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (its `id:`, `event:` and JSON `data:` agree), within `limit`.
    async fn next(&mut self, limit: Duration) -> Event {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(str::to_string)
                };
                let Some(data) = field("data: ") else {
                    continue; // a keep-alive comment
                };
                let event: Event = serde_json::from_str(&data).unwrap();
                assert_eq!(field("id: "), Some(event.id.to_string()), "{block}");
                assert_eq!(field("event: "), Some(event.kind.clone()), "{block}");
                return event;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {limit:?}"))
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// `POST path` on `url`; the status and the body.
async fn post(url: &str, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Acquire a free `t` for `owner`; the resource's name.
pub(crate) async fn acquire(url: &str, owner: &str) -> String {
    let (status, body) = post(
        url,
        &format!("/acquire?type=t&state=free&dest=busy&owner={owner}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) async fn release(url: &str, name: &str, owner: &str) {
    let (status, body) = post(
        url,
        &format!("/release?name={name}&dest=free&owner={owner}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Every event after `after` (all pages).
async fn events_after(url: &str, mut after: u64) -> Vec<Event> {
    let mut all = Vec::new();
    loop {
        let page: EventPage = reqwest::get(format!("{url}/api/v2/events?after={after}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let done = page.events.is_empty();
        all.extend(page.events);
        if done || page.next == after {
            return all;
        }
        after = page.next;
    }
}

/// The newest event id the server has (`next` of the latest page).
async fn head(url: &str) -> u64 {
    let page: EventPage = reqwest::get(format!("{url}/api/v2/events?before=&limit=1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page.next
}

fn ids(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_sees_an_acquire_within_a_second_and_resumes_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("m.db").display());
    let serve = start_serve(dir.path(), "serve", &store, &[]).await;

    // From now on: the acquire is the first thing the stream sends.
    let mut stream = Stream::open(&serve.url, "type=t", None).await;
    let name = acquire(&serve.url, "alice").await;
    let answered = Instant::now();
    let event = stream.next(LIMIT).await;
    let seen_after = answered.elapsed();
    assert_eq!(
        (event.kind.as_str(), event.name.as_str()),
        ("acquire", name.as_str())
    );
    assert_eq!(
        (event.old_owner.as_deref(), event.new_owner.as_deref()),
        (Some(""), Some("alice"))
    );
    assert_eq!(
        (event.old_state.as_deref(), event.new_state.as_deref()),
        (Some("free"), Some("busy"))
    );
    assert!(
        seen_after <= LIVE,
        "the acquire reached the stream after {seen_after:?}"
    );

    // Disconnect after the release; ten changes happen while nobody listens; resume.
    release(&serve.url, &name, "alice").await;
    let last_seen = stream.next(LIMIT).await;
    assert_eq!(last_seen.kind, "release");
    drop(stream);
    for i in 0..5 {
        let owner = format!("bob-{i}");
        let name = acquire(&serve.url, &owner).await;
        release(&serve.url, &name, &owner).await;
    }
    let mut resumed = Stream::open(&serve.url, "type=t", Some(last_seen.id)).await;
    // And one more while connected: the backlog and the live part join up.
    acquire(&serve.url, "carol").await;
    let expected = events_after(&serve.url, last_seen.id).await;
    assert_eq!(expected.len(), 11, "{:?}", ids(&expected));
    let mut got = Vec::new();
    for _ in 0..expected.len() {
        got.push(resumed.next(LIMIT).await);
    }
    assert_eq!(ids(&got), ids(&expected), "no gap, no duplicate, in order");
    assert_eq!(got, expected, "the stream sends what the page shows");

    // `after=` does the same as Last-Event-ID (for clients that cannot set headers).
    let mut again = Stream::open(&serve.url, &format!("after={}", last_seen.id), None).await;
    assert_eq!(again.next(LIMIT).await.id, expected[0].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_history_queries_get_a_400_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("m.db").display());
    let serve = start_serve(dir.path(), "serve", &store, &[]).await;
    let http = reqwest::Client::new();
    for (path, last_id, needle) in [
        ("/api/v2/events?kind=steal", None, "invalid kind \"steal\""),
        ("/api/v2/events?limit=1000000", None, "invalid limit"),
        ("/api/v2/events?type=", None, "invalid type"),
        ("/api/v2/events?after=soon", None, "invalid after"),
        ("/api/v2/events/stream?kind=steal", None, "invalid kind"),
        (
            "/api/v2/events/stream?limit=5",
            None,
            "limit does not apply",
        ),
        (
            "/api/v2/events/stream",
            Some("yesterday"),
            "invalid Last-Event-ID",
        ),
        ("/api/v2/events/stream", Some("-3"), "invalid Last-Event-ID"),
    ] {
        let mut request = http.get(format!("{}{path}", serve.url));
        if let Some(id) = last_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(status, 400, "{path} {last_id:?}: {body}");
        assert!(body.contains(needle), "{path} {last_id:?}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_auth_file_history_and_dashboard_need_the_read_role() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.yaml");
    std::fs::write(
        &auth,
        format!(
            "tokens:\n- {{name: dash, token-hash: \"{}\", role: read}}\n",
            token_hash("dash-token")
        ),
    )
    .unwrap();
    let store = format!("sqlite://{}", dir.path().join("m.db").display());
    let auth_flag = format!("--auth-file={}", auth.display());
    let serve = start_serve(dir.path(), "serve", &store, &[&auth_flag]).await;
    let http = reqwest::Client::new();
    for path in [
        "/ui",
        "/ui/app.js",
        "/api/v2/events",
        "/api/v2/events?before=&limit=5",
        "/api/v2/events/stream",
    ] {
        let url = format!("{}{path}", serve.url);
        let refused = http.get(&url).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{path} without credentials");
        let wrong = http.get(&url).bearer_auth("guess").send().await.unwrap();
        assert_eq!(wrong.status(), 401, "{path} with an unknown token");
        // Only the head: the stream's body never ends.
        let allowed = http
            .get(&url)
            .bearer_auth("dash-token")
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), 200, "{path} with a read token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_every_replica_streams_every_event() {
    let Some(db) = fresh_database_or_skip("on_postgresql_every_replica_streams_every_event").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = start_serve(dir.path(), "a", &db, &[]).await;
    let b = start_serve(dir.path(), "b", &db, &[]).await;
    let start = head(&a.url).await;
    let mut on_a = Stream::open(&a.url, "", Some(start)).await;
    let mut on_b = Stream::open(&b.url, "", Some(start)).await;

    // Written on B, seen on A.
    let name = acquire(&b.url, "from-b").await;
    let first = on_a.next(LIMIT).await;
    assert_eq!(
        (
            first.kind.as_str(),
            first.name.as_str(),
            first.new_owner.as_deref()
        ),
        ("acquire", name.as_str(), Some("from-b"))
    );
    // Then writers on both replicas at once.
    let writers = [a.url.clone(), b.url.clone()]
        .into_iter()
        .enumerate()
        .map(|(w, url)| {
            tokio::spawn(async move {
                for i in 0..5 {
                    let owner = format!("writer{w}-{i}");
                    let name = acquire(&url, &owner).await;
                    release(&url, &name, &owner).await;
                }
            })
        });
    for w in writers {
        w.await.unwrap();
    }
    release(&b.url, &name, "from-b").await;
    // PostgreSQL events get their ids just after commit: wait until all 22 have one.
    let expected = mason_testkit::eventually("every event numbered", LIMIT, || async {
        let events = events_after(&a.url, start).await;
        (events.len() >= 22).then_some(events)
    })
    .await;
    assert_eq!(expected.len(), 1 + 20 + 1, "{:?}", ids(&expected));
    assert_eq!(
        ids(&events_after(&b.url, start).await),
        ids(&expected),
        "both replicas page the same history"
    );
    let mut got_a = vec![first];
    while got_a.len() < expected.len() {
        got_a.push(on_a.next(LIMIT).await);
    }
    let mut got_b = Vec::new();
    while got_b.len() < expected.len() {
        got_b.push(on_b.next(LIMIT).await);
    }
    assert_eq!(
        ids(&got_a),
        ids(&expected),
        "replica A: no gap, no duplicate"
    );
    assert_eq!(
        ids(&got_b),
        ids(&expected),
        "replica B: no gap, no duplicate"
    );
    assert_eq!(got_a, expected);
}
