//! The six Boskos operations over HTTP ([`BoskosApi`] for [`HttpClient`]), SPEC §5.4.
//!
//! None of them needs local bookkeeping: release and update work by name from any process,
//! also after a restart (upstream boskos#16). The one thing remembered is the fencing
//! generation of what this client acquired (see `fencing`), sent back as `generation=`
//! on update and release; the lease TTL set on the client goes out as `lease_ttl=`.
//!
//! A 200 answer whose body is not a resource is an [`Error::Protocol`] error, never
//! retried; an empty one where a body is due is [`Error::UnknownPath`]: a Boskos server
//! answers 200 with an empty body on unknown paths, so the base URL has a wrong path.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use mason_types::{format_go_duration, Metric, Resource, UserData};
use serde::de::DeserializeOwned;

use crate::api::{BoskosApi, Error, Result};
use crate::http::{Call, HttpClient};

#[async_trait]
impl BoskosApi for HttpClient {
    fn owner(&self) -> &str {
        &self.inner.owner
    }

    async fn acquire(
        &self,
        rtype: &str,
        state: &str,
        dest: &str,
        request_id: Option<&str>,
    ) -> Result<Resource> {
        let lease_ttl = self.lease_ttl().map(format_go_duration);
        let mut params = vec![
            ("type", rtype),
            ("state", state),
            ("dest", dest),
            ("owner", self.owner()),
        ];
        if let Some(id) = request_id.filter(|id| !id.is_empty()) {
            params.push(("request_id", id));
        }
        if let Some(ttl) = &lease_ttl {
            params.push(("lease_ttl", ttl));
        }
        let reply = self.send_reply(Call::post("acquire", params)).await?;
        let resource: Resource = self.decode("acquire", &reply.body)?;
        if resource.name.is_empty() {
            return Err(Error::Protocol(format!(
                "unable to parse resource from {:?}",
                reply.body
            )));
        }
        self.remember_granted([resource.name.as_str()], &reply.headers);
        Ok(resource)
    }

    async fn acquire_by_state(
        &self,
        state: &str,
        dest: &str,
        names: &[String],
    ) -> Result<Vec<Resource>> {
        let joined = names.join(",");
        let lease_ttl = self.lease_ttl().map(format_go_duration);
        let mut params = vec![
            ("state", state),
            ("dest", dest),
            ("owner", self.owner()),
            ("names", joined.as_str()),
        ];
        if let Some(ttl) = &lease_ttl {
            params.push(("lease_ttl", ttl));
        }
        let reply = self
            .send_reply(Call::post("acquirebystate", params))
            .await?;
        let resources: Vec<Resource> = self.decode("acquirebystate", &reply.body)?;
        self.remember_granted(resources.iter().map(|r| r.name.as_str()), &reply.headers);
        Ok(resources)
    }

    async fn release(&self, name: &str, dest: &str) -> Result<()> {
        let generation = self.generation(name).map(|g| g.to_string());
        let mut params = vec![("name", name), ("dest", dest), ("owner", self.owner())];
        if let Some(generation) = &generation {
            params.push(("generation", generation));
        }
        let outcome = self.send(Call::post("release", params)).await.map(drop);
        self.settle_fence(name, true, &outcome);
        outcome
    }

    async fn update(&self, name: &str, state: &str, userdata: Option<&UserData>) -> Result<()> {
        let generation = self.generation(name).map(|g| g.to_string());
        let mut params = vec![("name", name), ("owner", self.owner()), ("state", state)];
        if let Some(generation) = &generation {
            params.push(("generation", generation));
        }
        let mut call = Call::post("update", params);
        call.json = true;
        if let Some(userdata) = userdata {
            // Upstream's encoder: the JSON object followed by a newline.
            let mut body = serde_json::to_vec(userdata)
                .map_err(|e| Error::Local(format!("cannot encode user data: {e}")))?;
            body.push(b'\n');
            call.body = Some(body);
        }
        let outcome = self.send(call).await.map(drop);
        self.settle_fence(name, false, &outcome);
        outcome
    }

    async fn reset(
        &self,
        rtype: &str,
        state: &str,
        expire: Duration,
        dest: &str,
    ) -> Result<BTreeMap<String, String>> {
        let expire = format_go_duration(expire);
        let params = vec![
            ("type", rtype),
            ("state", state),
            ("expire", expire.as_str()),
            ("dest", dest),
        ];
        let body = self.send(Call::post("reset", params)).await?;
        self.decode("reset", &body)
    }

    async fn metric(&self, rtype: &str) -> Result<Metric> {
        let body = self
            .send(Call::get("metric", vec![("type", rtype)]))
            .await?;
        self.decode("metric", &body)
    }
}

impl HttpClient {
    /// Parse a 200 body, naming the route in the error. An empty body where the route
    /// always answers one is a Boskos server's catch-all: the path is wrong.
    fn decode<T: DeserializeOwned>(&self, route: &str, body: &str) -> Result<T> {
        if body.trim().is_empty() {
            let url = crate::url::endpoint(&self.inner.base, route, &[]);
            return Err(Error::UnknownPath {
                url: crate::http::redact(&url),
            });
        }
        serde_json::from_str(body).map_err(|e| {
            let shown: String = body.chars().take(200).collect();
            Error::Protocol(format!(
                "/{route} answered 200 with an unexpected body ({e}): {shown:?}"
            ))
        })
    }
}
