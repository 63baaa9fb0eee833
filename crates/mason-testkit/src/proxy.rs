//! [`PausableProxy`]: a TCP proxy on `127.0.0.1:0` that a test can pause, to cut a
//! client off from its server the way a network partition does — connections stay open,
//! bytes simply stop flowing (requests hang rather than fail fast) — and resume again.
//!
//! ```no_run
//! # async fn demo(server: std::net::SocketAddr) {
//! let proxy = mason_testkit::PausableProxy::start(server).await;
//! // … point a client at proxy.url() …
//! proxy.pause(); // from now on nothing gets through, in either direction
//! proxy.resume();
//! proxy.stop().await;
//! # }
//! ```

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A pausable TCP proxy in front of one address.
pub struct PausableProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    paused: watch::Sender<bool>,
    stop: CancellationToken,
    accept: JoinHandle<()>,
}

impl PausableProxy {
    /// Listen on `127.0.0.1:0` and forward every connection to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (paused, _) = watch::channel(false);
        let stop = CancellationToken::new();
        let accept = tokio::spawn(accept_loop(listener, target, paused.clone(), stop.clone()));
        Self {
            addr,
            paused,
            stop,
            accept,
        }
    }

    /// A proxy in front of the server a URL names after its `@`
    /// (`postgres://USER@IP:PORT/DB…`, the form `crate::postgres` hands out), and that
    /// URL through the proxy.
    pub async fn in_front_of_url(url: &str) -> (Self, String) {
        let authority = url
            .split('@')
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no USER@HOST:PORT in {url}"));
        let target: SocketAddr = authority
            .parse()
            .unwrap_or_else(|e| panic!("{authority} in {url} is not an IP address and port: {e}"));
        let proxy = Self::start(target).await;
        let via = url.replace(authority, &proxy.addr.to_string());
        (proxy, via)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop forwarding: bytes in flight wait, new connections are accepted but not
    /// connected through.
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    /// Forward again (whatever waited is delivered).
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Close every connection and the listener.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.accept.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    paused: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let tracker = TaskTracker::new();
    loop {
        let (client, _) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::debug!(error = %e, "proxy accept failed");
                    continue;
                }
            },
        };
        let gate = paused.subscribe();
        let stop = stop.clone();
        tracker.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connect_through(client, target, gate) => {}
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

async fn connect_through(client: TcpStream, target: SocketAddr, mut gate: watch::Receiver<bool>) {
    if open(&mut gate).await.is_err() {
        return;
    }
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (client_rd, client_wr) = client.into_split();
    let (server_rd, server_wr) = server.into_split();
    tokio::join!(
        pump(client_rd, server_wr, gate.clone()),
        pump(server_rd, client_wr, gate)
    );
}

/// Copy one direction, holding every chunk while the proxy is paused.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut gate: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if open(&mut gate).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Wait until the proxy is not paused (`Err` when the proxy is gone).
async fn open(gate: &mut watch::Receiver<bool>) -> Result<(), watch::error::RecvError> {
    gate.wait_for(|paused| !paused).await.map(drop)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An echo server that upper-cases nothing: it writes back what it reads.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn forwards_holds_while_paused_and_delivers_on_resume() {
        let proxy = PausableProxy::start(echo().await).await;
        let mut conn = TcpStream::connect(proxy.addr).await.unwrap();
        let mut buf = [0u8; 5];
        conn.write_all(b"hello").await.unwrap();
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");

        proxy.pause();
        conn.write_all(b"again").await.unwrap();
        let held =
            tokio::time::timeout(Duration::from_millis(200), conn.read_exact(&mut buf)).await;
        assert!(held.is_err(), "nothing may get through while paused");
        // A new connection while paused hangs too.
        let mut late = TcpStream::connect(proxy.addr).await.unwrap();
        late.write_all(b"later").await.unwrap();

        proxy.resume();
        tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"again");
        tokio::time::timeout(Duration::from_secs(10), late.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"later");
        proxy.stop().await;
    }
}
