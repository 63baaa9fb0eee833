//! One accepted connection, from the optional TLS handshake to its close: hyper's HTTP/1
//! connection with the header size limit, driven together with the connection's header
//! and idle clocks and the server's shutdown signal.
//!
//! - Header clock ran out (a new connection, or a request head started, and no complete
//!   head within the header timeout): the connection is dropped.
//! - Idle clock ran out (no new request within the idle timeout after an answer): a
//!   graceful close, which hyper does at once on an idle connection.
//! - Shutdown: a graceful close; a request in flight is answered first.
//! - A close that follows an answer, while the client may still be sending, is a
//!   *lingering* close: hyper flushes the answer and shuts the write side down (FIN),
//!   then the server reads and drops what the client still sends (for at most
//!   [`LINGER_TIME`] and [`LINGER_BYTES`]) before it closes the socket. Closing with
//!   unread bytes would make the kernel send a reset, which can destroy the answer the
//!   client has not read yet (a `431` to a client still sending an oversized head, an
//!   early answer to a request whose body was not read). No linger when the client
//!   already closed its side (the usual end of a keep-alive connection), or when the
//!   server closed an idle connection (idle clock, shutdown): nothing is being sent then.
//!   The lingering socket keeps its connection slot: it still holds a file descriptor,
//!   and that is what the cap counts; it is free again within [`LINGER_TIME`].
//!
//! Connections over the cap are answered `503` with `Connection: close` by hyper with a
//! fixed service, under a short deadline and a small concurrency bound of their own.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::Layer;

use crate::tls::TlsSource;
use crate::transport::activity::{Activity, ConnectionLayer, Phase, TrackedIo};
use crate::transport::TransportOptions;

/// How a connection ended, for the debug log.
#[derive(Debug)]
enum End {
    Closed(Result<(), hyper::Error>),
    HeaderTimeout,
}

/// hyper's settings for every served connection.
pub(crate) fn http1_builder(options: &TransportOptions) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        // Our own header and idle clocks replace hyper's header timer (which would also
        // cut idle keep-alive connections at the header timeout).
        .header_read_timeout(None)
        .max_header_size(options.max_header_bytes)
        // The read buffer never needs more than a head plus a little: this caps what a
        // client can make the server hold per connection.
        .max_buf_size(options.max_header_bytes.max(8192) + 8192);
    builder
}

/// Serve one accepted TCP connection (after its TLS handshake, when `tls` is set).
pub(crate) async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    options: Arc<TransportOptions>,
    builder: Arc<http1::Builder>,
    tls: Option<TlsSource>,
    shutdown: CancellationToken,
) {
    let activity = Activity::new();
    match tls {
        None => drive(tcp, peer, app, &options, &builder, activity, shutdown).await,
        Some(tls) => {
            let handshake = tls.acceptor().accept(tcp);
            match tokio::time::timeout(options.header_read_timeout, handshake).await {
                Ok(Ok(stream)) => {
                    drive(stream, peer, app, &options, &builder, activity, shutdown).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn drive<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    options: &TransportOptions,
    builder: &http1::Builder,
    activity: Arc<Activity>,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(TrackedIo::new(io, Arc::clone(&activity)));
    let service = BoxedFutures(TowerToHyperService::new(
        ConnectionLayer::new(Arc::clone(&activity), peer).layer(app),
    ));
    // Not pinned: the socket is taken back at the end for the lingering close.
    let mut conn = builder.serve_connection(io, service);
    let mut cancelled = pin!(shutdown.cancelled());
    let mut clock = pin!(tokio::time::sleep(Duration::ZERO));
    let mut armed: Option<Instant> = None;
    let mut closing = false;
    let (header, idle) = (options.header_read_timeout, options.idle_timeout);
    let end = poll_fn(|cx| {
        if !closing && cancelled.as_mut().poll(cx).is_ready() {
            Pin::new(&mut conn).graceful_shutdown();
            closing = true;
        }
        // Polled as a future (not `poll_without_shutdown`): when it ends, hyper has
        // flushed its last answer (a `431` too) and shut our side down. Taking the socket
        // back before that flush would drop an answer still in hyper's write buffer.
        if let Poll::Ready(result) = Pin::new(&mut conn).poll(cx) {
            return Poll::Ready(End::Closed(result));
        }
        // Polling hyper is what moves the activity, so the clock is re-read right here.
        let Some((at, phase)) = activity.deadline(header, idle) else {
            armed = None;
            return Poll::Pending;
        };
        let at = Instant::from_std(at);
        if armed != Some(at) {
            clock.as_mut().reset(at);
            armed = Some(at);
        }
        if clock.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        match phase {
            Phase::Head => Poll::Ready(End::HeaderTimeout),
            Phase::Idle => {
                if !closing {
                    Pin::new(&mut conn).graceful_shutdown();
                    closing = true;
                    // Let hyper act on it (an idle connection closes at once).
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    })
    .await;
    match end {
        End::Closed(result) => {
            // We closed an idle connection (idle clock, shutdown): the client is sending
            // nothing, there is nothing to wait for.
            let quiet = closing && result.is_ok() && activity.is_idle();
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            let io = conn.into_parts().io.into_inner();
            if !quiet && !io.read_done() {
                linger(io).await;
            }
        }
        End::HeaderTimeout => {
            tracing::debug!(%peer, timeout = ?header, "no complete request head in time; closing");
        }
    }
}

/// Longest a lingering close waits for the client to stop sending.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most a lingering close reads (and drops) before it gives up on the client.
const LINGER_BYTES: usize = 4 << 20;

/// Stop writing (unless hyper did), then read and drop what the client still sends until
/// it closes its side, [`LINGER_TIME`] passes or [`LINGER_BYTES`] were read; then the
/// socket is closed. The buffer is allocated here, so that connections that never linger
/// do not carry it.
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(mut io: TrackedIo<I>) {
    let drain = async {
        if !io.write_shut() && io.shutdown().await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 8192];
        let mut read = 0;
        while read < LINGER_BYTES {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// A hyper service whose futures are boxed, so the connection is `Unpin` and its socket
/// can be taken back after the last answer (one allocation per request).
struct BoxedFutures<S>(S);

impl<S, R> hyper::service::Service<R> for BoxedFutures<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, request: R) -> Self::Future {
        Box::pin(self.0.call(request))
    }
}

/// How long a refused connection may take to be told so.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(2);

/// Answer `503` with `Connection: close` to a connection over the cap (after its TLS
/// handshake, when `tls` is set), within [`REFUSAL_DEADLINE`].
pub(crate) async fn refuse_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    limit: usize,
    tls: Option<TlsSource>,
) {
    let message = format!(
        "too many connections: this server holds at most {limit} at once; try again shortly\n"
    );
    let service = hyper::service::service_fn(move |_request| {
        let mut response = Response::new(Full::new(Bytes::from(message.clone())));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        async move { Ok::<_, Infallible>(response) }
    });
    let mut builder = http1::Builder::new();
    builder.keep_alive(false).header_read_timeout(None);
    let refusal = async {
        let outcome = match tls {
            None => builder.serve_connection(TokioIo::new(tcp), service).await,
            Some(tls) => match tls.acceptor().accept(tcp).await {
                Ok(stream) => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
                Err(_) => Ok(()),
            },
        };
        if let Err(e) = outcome {
            tracing::debug!(%peer, error = %e, "refused connection ended with an error");
        }
    };
    if tokio::time::timeout(REFUSAL_DEADLINE, refusal)
        .await
        .is_err()
    {
        tracing::debug!(%peer, "refused connection sent no request in time; closed");
    }
}
