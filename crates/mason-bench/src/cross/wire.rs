//! The cross-process load generator's HTTP/1.1 client: blocking, one keep-alive
//! connection over a `std` TCP stream (optionally TLS through rustls), a hand-written
//! request writer and response reader, and no allocation per request once warm.
//!
//! It is deliberately small so the client costs the same for the no-op route and for a
//! lease cycle, and little next to the server. It still reads responses correctly: the
//! status line, `Content-Length` or `Transfer-Encoding: chunked` bodies (or a body that
//! ends with the connection), and `Connection: close`, after which the caller reconnects.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

/// Largest response head accepted (status line plus headers).
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted (a `/metrics` scrape at 100,000 resources is far
/// smaller).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Where to connect, and how.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// The server's socket address.
    pub(crate) addr: SocketAddr,
    /// TLS client settings and the name to verify, when the server speaks HTTPS.
    pub(crate) tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    /// `Authorization` value sent with every request, when the server checks credentials.
    pub(crate) authorization: Option<String>,
}

impl Endpoint {
    /// `http://ADDR` or `https://ADDR`, for messages.
    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One keep-alive connection.
pub(crate) struct WireConn {
    stream: Stream,
    /// `Host` header value.
    host: String,
    /// `Authorization` header line (with its CRLF), if any.
    authorization: Option<Vec<u8>>,
    /// The request being written (reused).
    out: Vec<u8>,
    /// Bytes read but not yet consumed: `buf[pos..len]`.
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// The server said `Connection: close` (or ended the body with EOF).
    closed: bool,
}

/// A request method.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    /// `GET`.
    Get,
    /// `POST` with an empty body.
    Post,
}

impl WireConn {
    /// Connect (and complete the TLS handshake, if any), with `TCP_NODELAY` on.
    pub(crate) fn connect(endpoint: &Endpoint, timeout: Duration) -> io::Result<Self> {
        let tcp = TcpStream::connect_timeout(&endpoint.addr, timeout)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        let stream = match &endpoint.tls {
            None => Stream::Plain(tcp),
            Some((config, name)) => {
                let conn = ClientConnection::new(Arc::clone(config), name.clone())
                    .map_err(io::Error::other)?;
                let mut tls = StreamOwned::new(conn, tcp);
                while tls.conn.is_handshaking() {
                    tls.conn.complete_io(&mut tls.sock)?;
                }
                Stream::Tls(Box::new(tls))
            }
        };
        Ok(Self {
            stream,
            host: endpoint.addr.to_string(),
            authorization: endpoint
                .authorization
                .as_ref()
                .map(|v| format!("Authorization: {v}\r\n").into_bytes()),
            out: Vec::with_capacity(512),
            buf: vec![0; 16 * 1024],
            pos: 0,
            len: 0,
            closed: false,
        })
    }

    /// Whether the server closed (or asked to close) the connection.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Send `METHOD target` and read the whole answer; the body lands in `body` (cleared
    /// first). Returns the status code.
    pub(crate) fn request(
        &mut self,
        method: Method,
        target: &str,
        body: &mut Vec<u8>,
    ) -> io::Result<u16> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the server closed this connection",
            ));
        }
        self.out.clear();
        let verb = match method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        // Like the upstream Go client: every parameter in the query, an empty POST body
        // with an explicit length.
        write!(
            self.out,
            "{verb} {target} HTTP/1.1\r\nHost: {}\r\n",
            self.host
        )?;
        if matches!(method, Method::Post) {
            self.out.extend_from_slice(b"Content-Length: 0\r\n");
        }
        if let Some(line) = &self.authorization {
            self.out.extend_from_slice(line);
        }
        self.out.extend_from_slice(b"\r\n");
        self.stream.write_all(&self.out)?;
        self.stream.flush()?;
        self.read_response(body)
    }

    fn read_response(&mut self, body: &mut Vec<u8>) -> io::Result<u16> {
        body.clear();
        let head_end = self.read_head()?;
        let head = &self.buf[self.pos..head_end];
        let parsed = parse_head(head)?;
        self.pos = head_end;
        if parsed.close {
            self.closed = true;
        }
        let no_body = parsed.status == 204 || parsed.status == 304 || parsed.status < 200;
        if no_body {
            return Ok(parsed.status);
        }
        match (parsed.chunked, parsed.length) {
            (true, _) => self.read_chunked(body)?,
            (false, Some(n)) => self.read_exact_into(n, body)?,
            (false, None) => {
                self.read_to_end_into(body)?;
                self.closed = true;
            }
        }
        Ok(parsed.status)
    }

    /// Make sure a whole head (up to the blank line) is buffered; returns where it ends.
    fn read_head(&mut self) -> io::Result<usize> {
        loop {
            if let Some(i) = find(&self.buf[self.pos..self.len], b"\r\n\r\n") {
                return Ok(self.pos + i + 4);
            }
            if self.len - self.pos >= MAX_HEAD {
                return Err(bad("response head over 64 KiB"));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                ));
            }
        }
    }

    /// Read more bytes after `len`, compacting or growing the buffer first.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos == self.len {
            self.pos = 0;
            self.len = 0;
        }
        if self.len == self.buf.len() {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.len, 0);
                self.len -= self.pos;
                self.pos = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.len..])?;
        self.len += n;
        Ok(n)
    }

    fn read_exact_into(&mut self, n: usize, body: &mut Vec<u8>) -> io::Result<()> {
        if n > MAX_BODY {
            return Err(bad("response body too large"));
        }
        body.reserve(n);
        while body.len() < n {
            if self.pos == self.len && self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a response body",
                ));
            }
            let take = (n - body.len()).min(self.len - self.pos);
            body.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
        }
        Ok(())
    }

    fn read_to_end_into(&mut self, body: &mut Vec<u8>) -> io::Result<()> {
        loop {
            body.extend_from_slice(&self.buf[self.pos..self.len]);
            self.pos = self.len;
            if body.len() > MAX_BODY {
                return Err(bad("response body too large"));
            }
            if self.fill()? == 0 {
                return Ok(());
            }
        }
    }

    /// One CRLF-terminated line (without the CRLF), consumed from the buffer.
    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = find(&self.buf[self.pos..self.len], b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[self.pos..self.pos + i]).into_owned();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.len - self.pos > MAX_HEAD {
                return Err(bad("chunk line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a chunked body",
                ));
            }
        }
    }

    fn read_chunked(&mut self, body: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let line = self.read_line()?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the blank line.
                while !self.read_line()?.is_empty() {}
                return Ok(());
            }
            if body.len() + size > MAX_BODY {
                return Err(bad("response body too large"));
            }
            let mut chunk = std::mem::take(body);
            let before = chunk.len();
            self.read_exact_into(before + size, &mut chunk)?;
            *body = chunk;
            if !self.read_line()?.is_empty() {
                return Err(bad("chunk not followed by CRLF"));
            }
        }
    }
}

/// What the reader needs from a response head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    length: Option<usize>,
    chunked: bool,
    close: bool,
}

fn parse_head(head: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(head).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad(&format!(
            "not an HTTP/1.x status line: {status_line:?}"
        )));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(&format!("bad status line: {status_line:?}")))?;
    let mut out = Head {
        status,
        length: None,
        chunked: false,
        // HTTP/1.0 closes unless told otherwise.
        close: version == "HTTP/1.0",
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad(&format!("bad header line: {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| bad(&format!("bad Content-Length: {value:?}")))?;
            if out.length.is_some_and(|m| m != n) {
                return Err(bad("conflicting Content-Length headers"));
            }
            out.length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            out.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    out.close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    out.close = false;
                }
            }
        }
    }
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;
    use std::net::TcpListener;

    use super::*;

    /// A one-connection server that answers each request (read up to its blank line)
    /// with the next canned answer, and records the requests it saw.
    fn canned(answers: Vec<&'static [u8]>) -> (Endpoint, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (sock, _) = listener.accept().unwrap();
            let mut reader = io::BufReader::new(sock.try_clone().unwrap());
            let mut writer = sock;
            let mut seen = Vec::new();
            for answer in answers {
                let mut request = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 {
                        return seen;
                    }
                    request.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                seen.push(request);
                writer.write_all(answer).unwrap();
            }
            seen
        });
        (
            Endpoint {
                addr,
                tls: None,
                authorization: None,
            },
            handle,
        )
    }

    #[test]
    fn reads_length_chunked_and_close_delimited_bodies() {
        let (endpoint, server) = canned(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nT: 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\nbye",
        ]);
        let mut conn = WireConn::connect(&endpoint, Duration::from_secs(5)).unwrap();
        let mut body = Vec::new();
        assert_eq!(conn.request(Method::Get, "/", &mut body).unwrap(), 200);
        assert_eq!(body, b"hello");
        assert_eq!(
            conn.request(Method::Post, "/acquire?type=t", &mut body)
                .unwrap(),
            404
        );
        assert_eq!(body, b"abcdefg");
        assert_eq!(conn.request(Method::Get, "/x", &mut body).unwrap(), 200);
        assert!(body.is_empty());
        assert!(!conn.is_closed());
        assert_eq!(conn.request(Method::Get, "/y", &mut body).unwrap(), 503);
        assert_eq!(body, b"bye");
        assert!(conn.is_closed());
        assert!(conn.request(Method::Get, "/z", &mut body).is_err());
        let seen = server.join().unwrap();
        assert_eq!(
            seen[0],
            format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", endpoint.addr)
        );
        assert!(
            seen[1].starts_with("POST /acquire?type=t HTTP/1.1\r\n")
                && seen[1].contains("Content-Length: 0\r\n"),
            "{}",
            seen[1]
        );
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        let (endpoint, _server) = canned(vec![b"SSH-2.0-nope\r\n\r\n"]);
        let mut conn = WireConn::connect(&endpoint, Duration::from_secs(5)).unwrap();
        let err = conn.request(Method::Get, "/", &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");

        let (endpoint, _server) = canned(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"]);
        let mut conn = WireConn::connect(&endpoint, Duration::from_secs(5)).unwrap();
        let err = conn.request(Method::Get, "/", &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    }

    #[test]
    fn parses_heads() {
        let h = parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 2").unwrap();
        assert_eq!(
            h,
            Head {
                status: 200,
                length: Some(2),
                chunked: false,
                close: true
            }
        );
        let h = parse_head(
            b"HTTP/1.1 201 Created\r\nconnection: Keep-Alive\r\ntransfer-encoding: gzip, chunked",
        )
        .unwrap();
        assert!(h.chunked && !h.close && h.status == 201);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2").is_err());
        assert!(parse_head(b"HTTP/1.1 abc\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nno colon").is_err());
    }
}
