//! The HTTP [`Target`] of `mason bench`: a lean keep-alive HTTP/1.1 client (hyper's
//! connection API, one TCP connection per client task, no pool, no retries), so what is
//! measured is the server and not the client library. Requests look like the upstream Go
//! client's: every parameter in the query string, `Content-Length: 0` on POSTs.

use std::future::Future;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::load::{Conn, Reply, Target};
use crate::{Error, Result};

/// A Boskos-compatible server at an `http://host:port[/prefix]` URL.
#[derive(Debug)]
pub(crate) struct HttpTarget {
    /// `host:port`, for connecting and for the `Host` header.
    authority: String,
    /// Path prefix without a trailing slash (usually empty).
    prefix: String,
    /// `Authorization` value of every request, for a server with `--auth-file`.
    authorization: Option<String>,
}

impl HttpTarget {
    /// Send `value` as the `Authorization` header of every request.
    pub(crate) fn with_authorization(mut self, value: String) -> Self {
        self.authorization = Some(value);
        self
    }

    /// Parse the server URL (plain `http://` only: the bench is for loopback or a LAN).
    pub(crate) fn new(url: &str) -> Result<Self> {
        let bad = |why: String| Error::Usage(format!("bad server URL {url:?}: {why}"));
        let uri: Uri = url.parse().map_err(|e| bad(format!("{e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(bad(format!(
                    "scheme {other:?} is not supported (use http://)"
                )))
            }
            None => return Err(bad("expected http://HOST:PORT".into())),
        }
        let Some(authority) = uri.authority() else {
            return Err(bad("no host".into()));
        };
        let authority = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{}:80", authority.host()),
        };
        let prefix = uri.path().trim_end_matches('/').to_string();
        Ok(Self {
            authority,
            prefix,
            authorization: None,
        })
    }
}

impl Target for HttpTarget {
    type Conn = HttpConn;

    fn name(&self) -> String {
        format!("http://{}{}", self.authority, self.prefix)
    }

    fn connect(&self) -> impl Future<Output = Result<HttpConn, String>> + Send {
        let authority = self.authority.clone();
        let prefix = self.prefix.clone();
        let authorization = self.authorization.clone();
        async move {
            let stream = TcpStream::connect(&authority)
                .await
                .map_err(|e| e.to_string())?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                // Ends when the connection closes; errors surface on the next request.
                let _ = connection.await;
            });
            Ok(HttpConn {
                sender,
                authority,
                prefix,
                authorization,
            })
        }
    }
}

/// One keep-alive connection.
pub(crate) struct HttpConn {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
    prefix: String,
    authorization: Option<String>,
}

/// Just the field of an acquired resource the bench needs.
#[derive(serde::Deserialize)]
struct Named {
    name: String,
}

impl HttpConn {
    pub(crate) async fn post(
        &mut self,
        route: &str,
        params: &[(&str, &str)],
    ) -> Result<(u16, Bytes), String> {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        self.send(&format!("{route}?{query}"), Bytes::new()).await
    }

    /// `POST` a JSON `body` to `route` (the `/api/v2` extensions).
    pub(crate) async fn post_json(
        &mut self,
        route: &str,
        body: String,
    ) -> Result<(u16, Bytes), String> {
        self.send(route, Bytes::from(body)).await
    }

    /// `GET` `route`.
    pub(crate) async fn get(&mut self, route: &str) -> Result<(u16, Bytes), String> {
        let request = Request::get(format!("{}/{route}", self.prefix))
            .header(HOST, &self.authority)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        self.exchange(request).await
    }

    async fn send(&mut self, path_and_query: &str, body: Bytes) -> Result<(u16, Bytes), String> {
        let mut request = Request::post(format!("{}/{path_and_query}", self.prefix))
            .header(HOST, &self.authority)
            .header(CONTENT_LENGTH, body.len().to_string());
        if let Some(value) = &self.authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        self.exchange(request).await
    }

    async fn exchange(&mut self, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }
}

impl Conn for HttpConn {
    async fn acquire(
        &mut self,
        rtype: &str,
        state: &str,
        dest: &str,
        owner: &str,
    ) -> Result<Reply, String> {
        let (status, body) = self
            .post(
                "acquire",
                &[
                    ("dest", dest),
                    ("owner", owner),
                    ("state", state),
                    ("type", rtype),
                ],
            )
            .await?;
        let name = if status == 200 {
            let named: Named = serde_json::from_slice(&body).map_err(|e| {
                format!("acquire answered 200 with a body that is not a resource: {e}")
            })?;
            Some(named.name)
        } else {
            None
        };
        Ok(Reply { status, name })
    }

    async fn release(&mut self, name: &str, dest: &str, owner: &str) -> Result<Reply, String> {
        let (status, _) = self
            .post(
                "release",
                &[("dest", dest), ("name", name), ("owner", owner)],
            )
            .await?;
        Ok(Reply { status, name: None })
    }

    async fn update(&mut self, name: &str, owner: &str, state: &str) -> Result<Reply, String> {
        let (status, _) = self
            .post(
                "update",
                &[("name", name), ("owner", owner), ("state", state)],
            )
            .await?;
        Ok(Reply { status, name: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_urls() {
        let t = HttpTarget::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.prefix.as_str()),
            ("127.0.0.1:8080", "")
        );
        let t = HttpTarget::new("http://localhost/boskos/").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.prefix.as_str()),
            ("localhost:80", "/boskos")
        );
        assert!(HttpTarget::new("https://x:1")
            .unwrap_err()
            .to_string()
            .contains("use http://"));
        assert!(HttpTarget::new("127.0.0.1:8080").is_err());
        assert!(HttpTarget::new("not a url").is_err());
    }
}
