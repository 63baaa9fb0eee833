//! How resources, pools and queue entries are stored, the same on every backend: the
//! resource column list, timestamps as microseconds since the Unix epoch, user data and
//! pool specs as JSON text. A backend reads a row into one of the raw row types here and
//! calls its `decode`; nothing else turns stored values into domain values.
//!
//! Adding a column to every resource query (as the fencing generation and the lease TTL
//! and deadline were) means: the schema of both backends, [`resource_columns!`],
//! [`ResourceRow`], and each backend's `rows::resource`.

use std::time::Duration;

use mason_types::{
    DynamicResourceLifeCycle, LeaseFacts, Resource, ResourceV2, Timestamp, UserData,
};

use crate::{Error, ResourceFilter, Result};

/// The column list every resource query selects, in [`ResourceRow`]'s order, as a
/// literal for `concat!` (so statements stay `&'static str`, never formatted per call).
macro_rules! resource_columns {
    () => {
        "name, type, state, owner, lastupdate, userdata, expiration, generation, lease_ttl, \
         lease_deadline"
    };
}
pub(crate) use resource_columns;

/// The position of the last column of [`resource_columns!`] (0-based): a query that
/// selects more columns after them reads those from `LAST_RESOURCE_COLUMN + 1` on.
pub(crate) const LAST_RESOURCE_COLUMN: usize = 9;

/// [`resource_columns!`] as a constant, for statements built at run time.
pub(crate) const RESOURCE_COLUMNS: &str = resource_columns!();

/// Microseconds since the epoch, as stored.
pub(crate) fn to_micros(t: &Timestamp) -> i64 {
    t.timestamp_micros()
}

/// Back from stored microseconds (out-of-range values become the epoch).
pub(crate) fn from_micros(us: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// A duration in microseconds, saturating at `i64::MAX`.
pub(crate) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// One resource row as selected with [`resource_columns!`], before decoding.
#[derive(Debug)]
pub(crate) struct ResourceRow<'a> {
    pub(crate) name: String,
    pub(crate) rtype: String,
    pub(crate) state: String,
    pub(crate) owner: String,
    pub(crate) lastupdate: i64,
    /// User data as stored (JSON text).
    pub(crate) userdata: &'a str,
    pub(crate) expiration: Option<i64>,
    /// The fencing generation (never negative as stored).
    pub(crate) generation: i64,
    /// The lease's TTL in microseconds, if it has one.
    pub(crate) lease_ttl: Option<i64>,
    /// The lease's deadline, if it has one.
    pub(crate) lease_deadline: Option<i64>,
}

impl ResourceRow<'_> {
    /// The resource this row holds, with its lease facts.
    pub(crate) fn decode(self) -> Result<ResourceV2> {
        let userdata: UserData = serde_json::from_str(self.userdata)
            .map_err(|e| Error::backend_from("bad userdata in the database", e))?;
        let lease = LeaseFacts {
            generation: u64::try_from(self.generation).unwrap_or_default(),
            lease_ttl: self
                .lease_ttl
                .map(|us| Duration::from_micros(u64::try_from(us).unwrap_or_default())),
            lease_deadline: self.lease_deadline.map(from_micros),
        };
        let resource = Resource {
            name: self.name,
            rtype: self.rtype,
            state: self.state,
            owner: self.owner,
            lastupdate: from_micros(self.lastupdate),
            userdata,
            expiration_date: self.expiration.map(from_micros),
        };
        Ok(ResourceV2 { resource, lease })
    }
}

/// User data as stored.
pub(crate) fn encode_userdata(userdata: &UserData) -> Result<String> {
    serde_json::to_string(userdata).map_err(|e| Error::backend_from("cannot encode userdata", e))
}

/// A dynamic pool as stored (`drlcs.spec`, JSON).
pub(crate) fn decode_drlc(spec: &str) -> Result<DynamicResourceLifeCycle> {
    serde_json::from_str(spec).map_err(|e| Error::backend_from("bad DRLC row", e))
}

/// A dynamic pool's `drlcs.spec`.
pub(crate) fn encode_drlc(drlc: &DynamicResourceLifeCycle) -> Result<String> {
    serde_json::to_string(drlc).map_err(|e| Error::backend_from("cannot encode a DRLC", e))
}

/// One `requests` row, before ranking (see [`crate::lease::queue`]).
#[derive(Debug)]
pub(crate) struct QueueRow {
    pub(crate) rtype: String,
    pub(crate) state: String,
    pub(crate) request_id: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) priority: i32,
    pub(crate) count: i64,
}

/// One `(type, state, owner, count)` group, before folding into [`Metric`]s (see
/// [`crate::lease::metrics`]).
#[derive(Debug)]
pub(crate) struct CountRow {
    pub(crate) rtype: String,
    pub(crate) state: String,
    pub(crate) owner: String,
    pub(crate) count: i64,
}

/// How a backend numbers its bind parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Placeholder {
    /// `?1`, `?2` (SQLite).
    Question,
    /// `$1`, `$2` (PostgreSQL).
    #[cfg(feature = "postgres")]
    Dollar,
}

/// The query of [`Store::list`](crate::Store::list) for `filter`, least recently updated
/// first, and its bind arguments in order.
pub(crate) fn filtered_list(filter: &ResourceFilter, style: Placeholder) -> (String, Vec<&str>) {
    let mut sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE true");
    let mut args: Vec<&str> = Vec::new();
    for (column, value) in [
        ("type", &filter.rtype),
        ("state", &filter.state),
        ("owner", &filter.owner),
    ] {
        if let Some(v) = value {
            args.push(v);
            let sigil = match style {
                Placeholder::Question => '?',
                #[cfg(feature = "postgres")]
                Placeholder::Dollar => '$',
            };
            sql.push_str(&format!(" AND {column} = {sigil}{}", args.len()));
        }
    }
    sql.push_str(" ORDER BY lastupdate, name");
    (sql, args)
}
