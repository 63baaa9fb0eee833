//! Typed, checked access to the fields of one input object. Each accessor takes a dotted
//! path (`status.lastUpdate`), records a [`Problem`] naming that path when the value is
//! missing or of the wrong shape, and returns `None` then, so one pass over an object
//! reports everything wrong with it.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use super::objects::to_store_precision;
use super::problem::{describe, Place, Problem};
use crate::resource::{parse_wire_time, Timestamp};

/// The largest count a custom resource's `int32` fields hold.
const MAX_COUNT: u64 = i32::MAX as u64;

/// Checks the fields of one object, collecting its problems.
pub(crate) struct Fields<'a> {
    root: &'a Map<String, Value>,
    place: &'a Place,
    object: String,
    problems: Vec<Problem>,
    /// Parents already reported as not being mappings.
    broken: HashSet<String>,
}

impl<'a> Fields<'a> {
    /// Start checking `root`, an object described as `object` (e.g. `ResourceObject "x"`).
    pub(crate) fn new(root: &'a Map<String, Value>, place: &'a Place, object: String) -> Self {
        Self {
            root,
            place,
            object,
            problems: Vec::new(),
            broken: HashSet::new(),
        }
    }

    /// Record a problem with `field`.
    pub(crate) fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            place: self.place.clone(),
            object: self.object.clone(),
            field: Some(field.to_string()),
            message: message.into(),
        });
    }

    /// The problems found so far.
    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }

    /// Whether no problem was found.
    pub(crate) fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The value at `path`: `Ok(None)` when it or a parent is missing or null,
    /// `Err(())` when a parent is not a mapping (reported once per parent).
    fn lookup(&mut self, path: &str) -> Result<Option<&'a Value>, ()> {
        let mut current = self.root;
        let mut walked = String::new();
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let Some(value) = current.get(part).filter(|v| !v.is_null()) else {
                return Ok(None);
            };
            if parts.peek().is_none() {
                return Ok(Some(value));
            }
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(part);
            match value {
                Value::Object(map) => current = map,
                other => {
                    if self.broken.insert(walked.clone()) {
                        let found = describe(other);
                        self.problem(&walked, format!("must be a mapping, found {found}"));
                    }
                    return Err(());
                }
            }
        }
        Ok(None)
    }

    /// A string field; missing or empty is a problem when `required`.
    pub(crate) fn string(&mut self, path: &str, required: bool) -> Option<String> {
        match self.lookup(path).ok()? {
            None if required => {
                self.problem(path, "must be set");
                None
            }
            None => Some(String::new()),
            Some(Value::String(s)) if s.is_empty() && required => {
                self.problem(path, "must be set");
                None
            }
            Some(Value::String(s)) => self.storable(path, s),
            Some(other) => {
                let found = describe(other);
                self.problem(path, format!("must be a string, found {found}"));
                None
            }
        }
    }

    /// A timestamp field (RFC 3339), cut to the microsecond. `Ok(None)` when absent and
    /// not `required`; `Err(())` when a problem was recorded.
    pub(crate) fn time(&mut self, path: &str, required: bool) -> Result<Option<Timestamp>, ()> {
        let text = match self.lookup(path)? {
            None if required => {
                self.problem(path, "must be set");
                return Err(());
            }
            None => return Ok(None),
            Some(Value::String(s)) if s.is_empty() && !required => return Ok(None),
            Some(Value::String(s)) => s,
            Some(other) => {
                let found = describe(other);
                self.problem(
                    path,
                    format!("must be an RFC 3339 timestamp string, found {found}"),
                );
                return Err(());
            }
        };
        match parse_wire_time(text) {
            Ok(t) => Ok(Some(to_store_precision(t))),
            Err(_) => {
                self.problem(
                    path,
                    format!("{text:?} is not an RFC 3339 timestamp (like 2024-03-01T10:20:30Z)"),
                );
                Err(())
            }
        }
    }

    /// A non-negative whole number that fits a custom resource's `int32`; absent is 0.
    pub(crate) fn count(&mut self, path: &str) -> Option<u32> {
        match self.lookup(path).ok()? {
            None => Some(0),
            Some(v) => self.count_value(path, v),
        }
    }

    /// Integer nanoseconds (Go's `time.Duration`), absent or 0 meaning none. `Err(())`
    /// when a problem was recorded.
    pub(crate) fn nanos(&mut self, path: &str) -> Result<Option<u64>, ()> {
        let Some(value) = self.lookup(path)? else {
            return Ok(None);
        };
        match value.as_u64() {
            Some(0) => Ok(None),
            Some(n) if n <= i64::MAX as u64 => Ok(Some(n)),
            _ => {
                let found = describe(value);
                self.problem(
                    path,
                    format!(
                        "must be a whole number of nanoseconds from 0 to {}, found {found}",
                        i64::MAX
                    ),
                );
                Err(())
            }
        }
    }

    /// A mapping of strings (user data); absent or null is empty.
    pub(crate) fn string_map(&mut self, path: &str) -> Option<BTreeMap<String, String>> {
        let map = self.mapping(path)?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, value) in map {
            let field = format!("{path}.{key}");
            if key.contains('\0') {
                self.problem(&field, nul_message());
                ok = false;
                continue;
            }
            match value {
                Value::String(s) => match self.storable(&field, s) {
                    Some(s) => {
                        out.insert(key.clone(), s);
                    }
                    None => ok = false,
                },
                other => {
                    let found = describe(other);
                    self.problem(&field, format!("must be a string, found {found}"));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A mapping of counts (`needs`); absent or null is empty.
    pub(crate) fn count_map(&mut self, path: &str) -> Option<BTreeMap<String, u32>> {
        let map = self.mapping(path)?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, value) in map {
            match self.count_value(&format!("{path}.{key}"), value) {
                Some(n) => {
                    out.insert(key.clone(), n);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn mapping(&mut self, path: &str) -> Option<&'a Map<String, Value>> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        match self.lookup(path).ok()? {
            None => Some(EMPTY.get_or_init(Map::new)),
            Some(Value::Object(map)) => Some(map),
            Some(other) => {
                let found = describe(other);
                self.problem(path, format!("must be a mapping, found {found}"));
                None
            }
        }
    }

    fn count_value(&mut self, path: &str, value: &Value) -> Option<u32> {
        match value.as_u64() {
            Some(n) if n <= MAX_COUNT => Some(n as u32),
            _ => {
                let found = describe(value);
                self.problem(
                    path,
                    format!("must be a whole number from 0 to {MAX_COUNT}, found {found}"),
                );
                None
            }
        }
    }

    /// `text` unless it holds a NUL character, which neither store can keep.
    fn storable(&mut self, path: &str, text: &str) -> Option<String> {
        if text.contains('\0') {
            self.problem(path, nul_message());
            None
        } else {
            Some(text.to_string())
        }
    }
}

fn nul_message() -> &'static str {
    "contains a NUL character, which Mason's stores cannot keep"
}
