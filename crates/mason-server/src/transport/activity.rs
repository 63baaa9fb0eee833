//! What one connection is doing, for its timers: waiting for a request head, handling
//! requests, or idle between requests. The socket wrapper ([`TrackedIo`]) notices bytes
//! arriving; the tower layer ([`ConnectionLayer`]) notices a request reaching the router
//! and its answer being ready. Both run inside the connection's own task (hyper polls them
//! there), so the connection driver sees every change right after polling hyper.
//!
//! The phases follow Go's `net/http` split: a new connection, or the first byte of a
//! keep-alive connection's next request, starts the *header* clock; an answered request
//! starts the *idle* clock; nothing runs while a request is in flight.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper::Request;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// Which clock is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Idle between requests.
    Idle,
}

/// One connection's activity.
#[derive(Debug)]
pub(crate) struct Activity {
    /// Start of the connection; `since_ms` counts from here.
    epoch: Instant,
    /// When the current phase began (milliseconds after `epoch`).
    since_ms: AtomicU64,
    phase: AtomicU8,
    in_flight: AtomicU32,
}

impl Activity {
    /// A fresh connection: its header clock starts now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            since_ms: AtomicU64::new(0),
            phase: AtomicU8::new(HEAD),
            in_flight: AtomicU32::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Bytes arrived: on an idle connection, a new request head has begun.
    fn bytes_arrived(&self) {
        if self.phase.load(Relaxed) == IDLE {
            self.since_ms.store(self.now_ms(), Relaxed);
            self.phase.store(HEAD, Relaxed);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
        self.phase.store(BUSY, Relaxed);
    }

    fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Relaxed) == 1 {
            self.since_ms.store(self.now_ms(), Relaxed);
            self.phase.store(IDLE, Relaxed);
        }
    }

    /// Between requests: the last answer is ready and no byte of a next request arrived.
    pub(crate) fn is_idle(&self) -> bool {
        self.phase.load(Relaxed) == IDLE
    }

    /// When the running clock runs out, and which one it is (none while busy).
    pub(crate) fn deadline(&self, header: Duration, idle: Duration) -> Option<(Instant, Phase)> {
        let (limit, phase) = match self.phase.load(Relaxed) {
            HEAD => (header, Phase::Head),
            IDLE => (idle, Phase::Idle),
            _ => return None,
        };
        let since = self.epoch + Duration::from_millis(self.since_ms.load(Relaxed));
        Some((since + limit, phase))
    }
}

/// A socket that tells [`Activity`] when bytes arrive, and remembers whether the peer
/// closed its side and whether ours was shut down (for the lingering close).
pub(crate) struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
    read_eof: bool,
    write_shut: bool,
}

impl<T> TrackedIo<T> {
    /// Wrap `inner`.
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity,
            read_eof: false,
            write_shut: false,
        }
    }

    /// A read saw end of stream or failed: the peer sends nothing more.
    pub(crate) fn read_done(&self) -> bool {
        self.read_eof
    }

    /// Our side was shut down (what was written is flushed and a FIN is on its way).
    pub(crate) fn write_shut(&self) -> bool {
        self.write_shut
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.activity.bytes_arrived(),
            Poll::Ready(Ok(())) if room => self.read_eof = true,
            Poll::Ready(Err(_)) => self.read_eof = true,
            _ => {}
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        if matches!(polled, Poll::Ready(Ok(()))) {
            self.write_shut = true;
        }
        polled
    }
}

/// The tower layer between hyper and the router: marks requests in flight on the
/// connection's [`Activity`] and hands the peer address to handlers as axum's
/// [`ConnectInfo<SocketAddr>`] (for logging, and for per-address limits).
#[derive(Clone)]
pub(crate) struct ConnectionLayer {
    activity: Arc<Activity>,
    peer: SocketAddr,
}

impl ConnectionLayer {
    /// A layer for one connection.
    pub(crate) fn new(activity: Arc<Activity>, peer: SocketAddr) -> Self {
        Self { activity, peer }
    }
}

impl<S> tower::Layer<S> for ConnectionLayer {
    type Service = Tracked<S>;

    fn layer(&self, inner: S) -> Tracked<S> {
        Tracked {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ConnectionLayer`] makes.
#[derive(Clone)]
pub(crate) struct Tracked<S> {
    inner: S,
    layer: ConnectionLayer,
}

impl<S, B> tower::Service<Request<B>> for Tracked<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        self.layer.activity.request_started();
        request
            .extensions_mut()
            .insert(ConnectInfo(self.layer.peer));
        TrackedFuture {
            inner: self.inner.call(request),
            activity: Some(Arc::clone(&self.layer.activity)),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer; marks the request finished when it is ready.
    pub(crate) struct TrackedFuture<F> {
        #[pin]
        inner: F,
        activity: Option<Arc<Activity>>,
    }
}

impl<F: std::future::Future> std::future::Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let Some(activity) = this.activity.take() {
            activity.request_finished();
        }
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_follow_the_request_cycle() {
        let a = Activity::new();
        let (h, i) = (Duration::from_secs(10), Duration::from_secs(75));
        let (at, phase) = a.deadline(h, i).unwrap();
        assert_eq!(phase, Phase::Head);
        assert!(at <= Instant::now() + h);
        a.bytes_arrived(); // still the first head: the clock keeps running
        assert_eq!(a.deadline(h, i).unwrap().0, at);
        a.request_started();
        assert_eq!(a.deadline(h, i), None);
        a.request_started(); // pipelined
        a.request_finished();
        assert_eq!(a.deadline(h, i), None, "one request still in flight");
        a.request_finished();
        assert_eq!(a.deadline(h, i).unwrap().1, Phase::Idle);
        a.bytes_arrived();
        assert_eq!(a.deadline(h, i).unwrap().1, Phase::Head);
    }
}
