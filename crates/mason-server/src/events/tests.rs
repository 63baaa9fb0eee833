//! The hub and its subscribers over an in-memory log: order, resume without gap or
//! duplicate, filters that cost no log reads, gaps read from the log, and a follower that
//! runs only while someone listens.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mason_types::event::{Event, EventPage};
use tokio::sync::watch;

use super::hub::{Batch, Published};
use super::stream::Next;
use super::*;

/// Events in memory; counts the reads made with a filter (subscribers' reads).
struct MemoryLog {
    events: Mutex<Vec<Event>>,
    tx: watch::Sender<u64>,
    filtered_reads: AtomicUsize,
}

impl MemoryLog {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            events: Mutex::new(Vec::new()),
            tx: watch::channel(0).0,
            filtered_reads: AtomicUsize::new(0),
        })
    }

    /// Append one event of `name` (ids 1, 2, …) and notify.
    fn append(&self, name: &str) -> u64 {
        let id = {
            let mut events = self.events.lock().unwrap();
            let id = events.len() as u64 + 1;
            events.push(Event {
                id,
                at: chrono::Utc::now(),
                kind: "acquire".into(),
                rtype: "t".into(),
                name: name.into(),
                old_state: Some("free".into()),
                new_state: Some("busy".into()),
                old_owner: Some(String::new()),
                new_owner: Some("o".into()),
                generation: Some(id),
                actor: "test".into(),
                request_id: None,
            });
            id
        };
        self.tx.send_replace(id);
        id
    }
}

#[async_trait]
impl EventLog for MemoryLog {
    async fn read(
        &self,
        after: u64,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<EventPage, mason_store::Error> {
        if *filter != EventFilter::default() {
            self.filtered_reads.fetch_add(1, Ordering::SeqCst);
        }
        let events = self.events.lock().unwrap();
        let head = events.len() as u64;
        let matching: Vec<Event> = events
            .iter()
            .filter(|e| e.id > after && filter.matches(e))
            .take(limit)
            .cloned()
            .collect();
        let next = if matching.len() == limit {
            matching.last().map_or(after, |e| e.id)
        } else {
            head.max(after)
        };
        Ok(EventPage {
            events: matching,
            next,
        })
    }

    async fn latest(
        &self,
        before: Option<u64>,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<EventPage, mason_store::Error> {
        let events = self.events.lock().unwrap();
        let head = events.len() as u64;
        let mut out: Vec<Event> = events
            .iter()
            .rev()
            .filter(|e| before.is_none_or(|b| e.id < b) && filter.matches(e))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        let covered = before.map_or(head, |b| b.saturating_sub(1).min(head));
        let newest = out.last().map_or(0, |e| e.id);
        Ok(EventPage {
            next: covered.max(newest),
            events: out,
        })
    }

    async fn head(&self) -> Result<u64, mason_store::Error> {
        Ok(self.events.lock().unwrap().len() as u64)
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

async fn next_id(sub: &mut Subscriber) -> u64 {
    let next = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("an event within 10 s");
    match next {
        Next::Event(id, _) => id,
        Next::End => panic!("the stream ended"),
    }
}

#[tokio::test]
async fn a_new_subscriber_gets_what_happens_from_now_on_in_order() {
    let log = MemoryLog::new();
    log.append("before");
    let hub = EventHub::new(log.clone());
    let mut sub = Subscriber::start(hub.clone(), EventFilter::default(), None)
        .await
        .unwrap();
    for i in 0..5 {
        log.append(&format!("r{i}"));
    }
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next_id(&mut sub).await);
    }
    assert_eq!(seen, [2, 3, 4, 5, 6]);
    assert_eq!(hub.subscribers(), 1);
}

#[tokio::test]
async fn a_resume_continues_after_the_last_id_without_gap_or_duplicate() {
    let log = MemoryLog::new();
    for i in 0..10 {
        log.append(&format!("r{i}"));
    }
    let hub = EventHub::new(log.clone());
    let mut sub = Subscriber::start(hub, EventFilter::default(), Some(7))
        .await
        .unwrap();
    log.append("live-1");
    log.append("live-2");
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next_id(&mut sub).await);
    }
    assert_eq!(seen, [8, 9, 10, 11, 12]);
}

#[tokio::test]
async fn filtered_subscribers_cost_no_log_reads_per_event() {
    let log = MemoryLog::new();
    let hub = EventHub::new(log.clone());
    let idle = |name: &str| EventFilter {
        name: Some(name.to_string()),
        ..EventFilter::default()
    };
    let mut idle_subs = Vec::new();
    for i in 0..100 {
        idle_subs.push(
            Subscriber::start(hub.clone(), idle(&format!("never-{i}")), None)
                .await
                .unwrap(),
        );
    }
    let mut watcher = Subscriber::start(hub.clone(), idle("wanted"), None)
        .await
        .unwrap();
    // Let every idle subscriber read its (empty) backlog once and wait on the broadcast.
    let mut waiting = Vec::new();
    for mut sub in idle_subs {
        waiting.push(tokio::spawn(async move {
            matches!(sub.next().await, Next::End)
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reads_before = log.filtered_reads.load(Ordering::SeqCst);
    for i in 0..200 {
        log.append(&format!("other-{i}"));
        tokio::task::yield_now().await;
    }
    let wanted = log.append("wanted");
    assert_eq!(next_id(&mut watcher).await, wanted);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reads = log.filtered_reads.load(Ordering::SeqCst) - reads_before;
    // The watcher read its backlog once at most; the 100 idle subscribers read nothing.
    assert!(reads <= 1, "{reads} filtered log reads for 201 events");
    for task in waiting {
        assert!(!task.is_finished(), "an idle subscriber got an event");
        task.abort();
    }
}

#[tokio::test]
async fn a_batch_past_the_cursor_makes_the_subscriber_read_the_gap() {
    let log = MemoryLog::new();
    let hub = EventHub::new(log.clone());
    let mut sub = Subscriber::start(hub, EventFilter::default(), Some(0))
        .await
        .unwrap();
    // The backlog is empty; now events 1..=3 exist but only a batch for 3 arrives.
    for i in 0..3 {
        log.append(&format!("r{i}"));
    }
    let events = log
        .read(2, &EventFilter::default(), 10)
        .await
        .unwrap()
        .events;
    sub.take(&Batch {
        after: 2,
        next: 3,
        events: events.into_iter().map(Published::new).collect(),
    });
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_id(&mut sub).await);
    }
    assert_eq!(seen, [1, 2, 3], "the gap comes from the log, once");
    // A batch already covered is skipped.
    sub.take(&Batch {
        after: 0,
        next: 3,
        events: Vec::new(),
    });
    log.append("r3");
    assert_eq!(next_id(&mut sub).await, 4);
}

#[tokio::test]
async fn the_follower_runs_only_while_someone_listens() {
    let log = MemoryLog::new();
    let hub = EventHub::new(log.clone());
    let sub = Subscriber::start(hub.clone(), EventFilter::default(), None)
        .await
        .unwrap();
    drop(sub);
    assert_eq!(hub.subscribers(), 0);
    // Its next wake-up ends it; a new subscriber starts a new one and is served.
    log.append("wake");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut again = Subscriber::start(hub.clone(), EventFilter::default(), None)
        .await
        .unwrap();
    let id = log.append("after");
    assert_eq!(next_id(&mut again).await, id);
}

mod routes {
    //! The two routes over the in-memory log: pages, the latest events, the stream with
    //! a resume, and every bad input answered 400.

    use axum::body::Body;
    use axum::http::Request;
    use axum::Router;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn app(hub: &EventHub) -> Router {
        crate::routes::event_routes::<EventHub>().with_state(hub.clone())
    }

    async fn get(app: &Router, uri: &str, last_id: Option<&str>) -> axum::response::Response {
        let mut request = Request::builder().uri(uri);
        if let Some(id) = last_id {
            request = request.header("last-event-id", id);
        }
        app.clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn text(response: axum::response::Response) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    async fn page(app: &Router, uri: &str) -> EventPage {
        let response = get(app, uri, None).await;
        assert_eq!(response.status(), 200, "{uri}");
        serde_json::from_str(&text(response).await).unwrap()
    }

    /// Read SSE frames until `n` events arrived; their (id, kind) pairs.
    async fn sse_events(response: axum::response::Response, n: usize) -> Vec<(u64, String)> {
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut body = response.into_body();
        let mut buffer = String::new();
        let mut events = Vec::new();
        while events.len() < n {
            let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
                .await
                .expect("an SSE frame within 10 s")
                .expect("the stream goes on")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(str::to_string)
                };
                if let (Some(id), Some(kind), Some(data)) =
                    (field("id: "), field("event: "), field("data: "))
                {
                    let event: Event = serde_json::from_str(&data).unwrap();
                    assert_eq!(
                        (event.id.to_string(), event.kind.clone()),
                        (id.clone(), kind.clone())
                    );
                    events.push((id.parse().unwrap(), kind));
                }
            }
        }
        events
    }

    #[tokio::test]
    async fn pages_and_the_latest_events() {
        let log = MemoryLog::new();
        for i in 0..7 {
            log.append(if i % 2 == 0 { "even" } else { "odd" });
        }
        let hub = EventHub::new(log.clone());
        let app = app(&hub);
        let first = page(&app, "/api/v2/events?limit=3").await;
        let ids: Vec<u64> = first.events.iter().map(|e| e.id).collect();
        assert_eq!((ids, first.next), (vec![1, 2, 3], 3));
        let rest = page(&app, &format!("/api/v2/events?after={}", first.next)).await;
        assert_eq!(rest.events.len(), 4);
        assert_eq!(rest.next, 7);
        let odd = page(&app, "/api/v2/events?name=odd").await;
        assert_eq!(
            odd.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [2, 4, 6]
        );
        assert_eq!(odd.next, 7, "the read covered the non-matching 7th");
        let latest = page(&app, "/api/v2/events?name=even&before=&limit=2").await;
        assert_eq!(
            latest.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [5, 7]
        );
        assert_eq!(latest.next, 7);
        let earlier = page(&app, "/api/v2/events?before=5&limit=2").await;
        assert_eq!(
            earlier.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(earlier.next, 4);
    }

    #[tokio::test]
    async fn bad_input_is_400_with_a_message() {
        let hub = EventHub::new(MemoryLog::new());
        let app = app(&hub);
        for (uri, last_id, needle) in [
            ("/api/v2/events?kind=steal", None, "invalid kind \"steal\""),
            (
                "/api/v2/events?limit=1000000",
                None,
                "invalid limit \"1000000\"",
            ),
            ("/api/v2/events?limit=0", None, "invalid limit \"0\""),
            ("/api/v2/events?after=x", None, "invalid after \"x\""),
            (
                "/api/v2/events?after=1&before=",
                None,
                "after and before do not combine",
            ),
            ("/api/v2/events?before=-2", None, "invalid before \"-2\""),
            ("/api/v2/events?name=", None, "invalid name: empty"),
            (
                "/api/v2/events/stream?kind=nope",
                None,
                "invalid kind \"nope\"",
            ),
            (
                "/api/v2/events/stream?limit=10",
                None,
                "limit does not apply to the stream",
            ),
            (
                "/api/v2/events/stream",
                Some("twelve"),
                "invalid Last-Event-ID \"twelve\"",
            ),
            (
                "/api/v2/events/stream",
                Some("-1"),
                "invalid Last-Event-ID \"-1\"",
            ),
            (
                "/api/v2/events/stream?after=1.5",
                None,
                "invalid after \"1.5\"",
            ),
        ] {
            let response = get(&app, uri, last_id).await;
            assert_eq!(response.status(), 400, "{uri} {last_id:?}");
            let body = text(response).await;
            assert!(body.contains(needle), "{uri}: {body}");
        }
        assert_eq!(
            hub.subscribers(),
            0,
            "a refused stream subscribes to nothing"
        );
    }

    #[tokio::test]
    async fn the_stream_sends_new_events_and_resumes_after_last_event_id() {
        let log = MemoryLog::new();
        log.append("old");
        let hub = EventHub::new(log.clone());
        let app = app(&hub);
        let live = get(&app, "/api/v2/events/stream", None).await;
        for name in ["a", "b", "c"] {
            log.append(name);
        }
        assert_eq!(
            sse_events(live, 3).await,
            [
                (2, "acquire".to_string()),
                (3, "acquire".into()),
                (4, "acquire".into())
            ]
        );
        // A client that saw up to 3 reconnects: 4 and what follows, once each.
        let resumed = get(&app, "/api/v2/events/stream", Some("3")).await;
        log.append("d");
        let ids: Vec<u64> = sse_events(resumed, 2)
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, [4, 5]);
        // Filters apply to the backlog and to live events alike.
        let filtered = get(&app, "/api/v2/events/stream?name=b&after=0", None).await;
        log.append("b");
        let ids: Vec<u64> = sse_events(filtered, 2)
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, [3, 6]);
    }

    #[tokio::test]
    async fn closing_the_hub_ends_every_stream() {
        let hub = EventHub::new(MemoryLog::new());
        let response = get(&app(&hub), "/api/v2/events/stream", None).await;
        hub.close();
        let body = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
            .await
            .expect("the stream ends");
        assert!(body.is_ok());
    }
}
