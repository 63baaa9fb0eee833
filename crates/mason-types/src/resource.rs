//! The `Resource` object exchanged on the wire by every Boskos route.
//!
//! Keys are emitted in upstream's order (`type`, `name`, `state`, `owner`, `lastupdate`,
//! `userdata`, `expiration-date`), user data is always an object (`{}` when empty) and
//! `expiration-date` is left out when unset. Timestamps are written as RFC 3339 in whole
//! seconds with a `Z` suffix, as upstream's server does; any RFC 3339 value (fractional
//! seconds, numeric offsets) is accepted on input. Stores keep finer precision internally
//! so that least-recently-updated ordering works within one second.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::userdata::UserData;

/// A point in time, UTC.
pub type Timestamp = DateTime<Utc>;

/// One leasable resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource type (pool name).
    #[serde(rename = "type", default)]
    pub rtype: String,
    /// Unique name across all types.
    #[serde(default)]
    pub name: String,
    /// Current state (an opaque string; see [`crate::state`]).
    #[serde(default)]
    pub state: String,
    /// Current lessee, `""` when not leased.
    #[serde(default)]
    pub owner: String,
    /// Last time the server wrote this resource.
    #[serde(with = "wire_time", default = "epoch")]
    pub lastupdate: Timestamp,
    /// Free-form string map.
    #[serde(default)]
    pub userdata: UserData,
    /// When a dynamic resource expires; `None` for static resources or pools without lifespan.
    #[serde(
        rename = "expiration-date",
        with = "wire_time_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_date: Option<Timestamp>,
}

fn epoch() -> Timestamp {
    DateTime::<Utc>::UNIX_EPOCH
}

impl Resource {
    /// A fresh, unowned resource.
    pub fn new(
        rtype: impl Into<String>,
        name: impl Into<String>,
        state: impl Into<String>,
        lastupdate: Timestamp,
    ) -> Self {
        Self {
            rtype: rtype.into(),
            name: name.into(),
            state: state.into(),
            owner: String::new(),
            lastupdate,
            userdata: UserData::default(),
            expiration_date: None,
        }
    }

    /// The JSON text upstream's server would answer for this resource (no trailing newline).
    pub fn to_wire_json(&self) -> String {
        crate::json::to_go_json(self).expect("a resource always serializes")
    }
}

/// Format a timestamp the way upstream's server does: RFC 3339, whole seconds, `Z`.
pub fn format_wire_time(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parse any RFC 3339 timestamp into UTC.
pub fn parse_wire_time(s: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

mod wire_time {
    use super::*;

    pub(super) fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_wire_time(t))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        match text.as_deref() {
            None | Some("") => Ok(epoch()),
            Some(s) => parse_wire_time(s).map_err(serde::de::Error::custom),
        }
    }
}

mod wire_time_opt {
    use super::*;

    pub(super) fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format_wire_time(t)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        match text.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => parse_wire_time(s)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        parse_wire_time(s).unwrap()
    }

    #[test]
    fn serializes_like_upstream_golden() {
        let mut r = Resource::new("t", "res", "d", t("2006-01-02T15:04:05.123Z"));
        r.owner = "o".into();
        assert_eq!(
            r.to_wire_json(),
            r#"{"type":"t","name":"res","state":"d","owner":"o","lastupdate":"2006-01-02T15:04:05Z","userdata":{}}"#
        );
    }

    #[test]
    fn expiration_date_only_when_set() {
        let mut r = Resource::new("c", "x", "free", t("2024-03-01T10:20:30Z"));
        r.expiration_date = Some(t("2024-03-03T10:20:30+00:00"));
        r.userdata.insert("k", "v");
        assert_eq!(
            r.to_wire_json(),
            r#"{"type":"c","name":"x","state":"free","owner":"","lastupdate":"2024-03-01T10:20:30Z","userdata":{"k":"v"},"expiration-date":"2024-03-03T10:20:30Z"}"#
        );
    }

    #[test]
    fn accepts_null_missing_userdata_fractions_and_offsets() {
        let a: Resource = serde_json::from_str(
            r#"{"type":"t","name":"n","state":"s","owner":"","lastupdate":"2019-07-24T23:30:40.094116858Z","userdata":null}"#,
        )
        .unwrap();
        assert!(a.userdata.is_empty());
        assert_eq!(a.lastupdate.timestamp_subsec_nanos(), 94_116_858);
        let b: Resource = serde_json::from_str(
            r#"{"type":"t","name":"n","lastupdate":"2019-07-24T23:30:40+02:00","unknown":1}"#,
        )
        .unwrap();
        assert_eq!(b.lastupdate, t("2019-07-24T21:30:40Z"));
        assert!(b.userdata.is_empty());
        assert_eq!(b.expiration_date, None);
    }
}
