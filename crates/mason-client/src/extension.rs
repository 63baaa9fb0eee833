//! Reading `mason serve`'s `/api/v2` extension routes, with one rule for "this server
//! does not have the route".
//!
//! An upstream Boskos server answers any unknown path from its catch-all with `200` and
//! an empty body (`mason serve`'s catch-all adds the `Mason-Unknown-Path` header, which
//! the client reports as [`Error::UnknownPath`]), and a proxy in front of it may answer
//! `404` or `405`. All of them mean
//! "this server cannot tell", so [`HttpClient::get_extension`] returns `Ok(None)` for
//! them instead of an error, and callers fall back (a config file, no rank, the reaper).

use serde::de::DeserializeOwned;

use crate::api::{Error, Result};
use crate::http::{Call, HttpClient};

impl HttpClient {
    /// `GET /<route>?<params>` decoded from JSON; `Ok(None)` when the server does not
    /// serve `route` (see the module docs).
    pub(crate) async fn get_extension<T: DeserializeOwned>(
        &self,
        route: &str,
        params: Vec<(&str, &str)>,
    ) -> Result<Option<T>> {
        let body = match self.send(Call::get(route, params)).await {
            Ok(body) => body,
            Err(
                Error::NotFound(_)
                | Error::UnknownPath { .. }
                | Error::Status {
                    status: 404 | 405, ..
                },
            ) => return Ok(None),
            Err(e) => return Err(e),
        };
        if body.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| Error::Protocol(format!("/{route} answered an unexpected body: {e}")))
    }
}
