//! Shared fixtures: a pool config, a fast client, a scripted hand-made server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use mason_client::{HttpClient, RetryPolicy};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Three free `t1`, one dirty `t2`.
pub(crate) const POOL: &str = "\
resources:
- type: t1
  state: free
  names: [t1-a, t1-b, t1-c]
- type: t2
  state: dirty
  names: [t2-a]
";

/// One free `solo`.
pub(crate) const SOLO: &str = "\
resources:
- type: solo
  state: free
  names: [solo-1]
";

/// Retries that keep tests fast: 3 attempts, 10 ms × i² apart.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(10),
    }
}

/// A client for `url` as `owner`, with fast retries and a 20 ms poll interval.
pub(crate) fn client(url: &str, owner: &str) -> HttpClient {
    HttpClient::builder(url, owner)
        .retry(fast_retry())
        .poll_interval(Duration::from_millis(20))
        .build()
        .expect("client")
}

/// One request as the hand-made server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// A hand-made server answering from a script: the n-th request gets `answers[n]` (the
/// last answer repeats). Records every request.
pub(crate) struct Scripted {
    pub(crate) url: String,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Scripted {
    pub(crate) async fn start(answers: Vec<(u16, &'static str)>) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = Arc::clone(&log);
            let answers = answers.clone();
            async move {
                let mut seen = log.lock().unwrap();
                let n = seen.len().min(answers.len() - 1);
                seen.push(Seen {
                    method,
                    path: uri.path().to_string(),
                    query: uri.query().unwrap_or("").to_string(),
                    headers,
                    body: body.to_vec(),
                });
                let (status, body) = answers[n];
                (StatusCode::from_u16(status).unwrap(), body).into_response()
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .unwrap();
        });
        Self {
            url,
            seen,
            stop,
            task,
        }
    }

    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}
