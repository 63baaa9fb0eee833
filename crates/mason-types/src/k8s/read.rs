//! Reading upstream's objects out of `kubectl` output: YAML (one or several documents) or
//! JSON (one or several values), each document a `kind: List` (what
//! `kubectl get resources.boskos.k8s.io,dynamicresourcelifecycles.boskos.k8s.io -o yaml`
//! prints), a `ResourceObjectList`/`DRLCObjectList` (the API's own lists), or a single
//! `ResourceObject`/`DRLCObject`. Empty documents are skipped.
//!
//! Every field Mason keeps is checked, and every problem in every input is collected
//! before anything is returned: a [`Reader`] yields either a complete [`ObjectSet`] or a
//! [`ReadError`] listing each object and field at fault. Fields Kubernetes adds
//! (`resourceVersion`, `uid`, `managedFields`, annotations …) are ignored.
//!
//! Normalisations, all of which keep the meaning upstream gives the value:
//! - times are cut to the microsecond, the precision Mason's stores keep (upstream
//!   writes whole seconds, so nothing is lost in practice);
//! - a pool's empty `state` becomes `free` (upstream creates its resources in `free`);
//! - a missing `owner`, `userData` or `needs`, and a zero `lifespan`, read as empty.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::fields::Fields;
use super::objects::{
    API_VERSION, DRLC_KIND, DRLC_LIST_KIND, LIST_KIND, RESOURCE_KIND, RESOURCE_LIST_KIND,
};
use super::problem::{describe, Place, Problem, ReadError};
use crate::config::{dns1123_subdomain_problems, ConfigType, DynamicResourceLifeCycle};
use crate::resource::Resource;
use crate::state;
use crate::userdata::UserData;

/// Everything read from the inputs, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectSet {
    /// The resources, in input order.
    pub resources: Vec<Resource>,
    /// The dynamic pools, in input order.
    pub drlcs: Vec<DynamicResourceLifeCycle>,
    /// The namespace the objects came from, when their metadata says.
    pub namespace: Option<String>,
    /// Where each resource was read, by name (for messages about it later).
    pub resource_places: HashMap<String, Place>,
    /// Where each pool was read, by type.
    pub drlc_places: HashMap<String, Place>,
}

/// Reads inputs one after another into one [`ObjectSet`].
#[derive(Debug, Default)]
pub struct Reader {
    set: ObjectSet,
    problems: Vec<Problem>,
    /// Where the namespace in force was first seen.
    namespace_place: Option<Place>,
}

/// What a document's items are expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// `kind: List`: each item names its own kind.
    Any,
    /// A typed list: items may leave their kind out.
    Only(&'static str),
}

impl Reader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read one input named `source` (a path, or `<stdin>`).
    pub fn read(&mut self, source: &str, text: &str) {
        for (index, document) in documents(text).into_iter().enumerate() {
            let place = Place::document(source, index + 1);
            match document {
                Ok(Value::Null) => {}
                Ok(value) => self.read_document(&place, &value),
                Err(message) => {
                    self.problems.push(Problem {
                        place,
                        object: String::new(),
                        field: None,
                        message,
                    });
                    return;
                }
            }
        }
    }

    /// The objects read, or every problem found.
    pub fn finish(self) -> Result<ObjectSet, ReadError> {
        if self.problems.is_empty() {
            Ok(self.set)
        } else {
            Err(ReadError {
                problems: self.problems,
            })
        }
    }

    fn document_problem(&mut self, place: &Place, field: Option<&str>, message: String) {
        self.problems.push(Problem {
            place: place.clone(),
            object: String::new(),
            field: field.map(str::to_string),
            message,
        });
    }

    fn read_document(&mut self, place: &Place, value: &Value) {
        let Value::Object(map) = value else {
            let found = describe(value);
            let message = format!("expected a Kubernetes object or list, found {found}");
            return self.document_problem(place, None, message);
        };
        let kind = match map.get("kind") {
            Some(Value::String(k)) => k.as_str(),
            None | Some(Value::Null) => {
                let message = "must be set (List, ResourceObjectList, DRLCObjectList, \
                               ResourceObject or DRLCObject)"
                    .to_string();
                return self.document_problem(place, Some("kind"), message);
            }
            Some(other) => {
                let message = format!("must be a string, found {}", describe(other));
                return self.document_problem(place, Some("kind"), message);
            }
        };
        match kind {
            LIST_KIND => self.read_list(place, map, Expect::Any),
            RESOURCE_LIST_KIND => self.read_list(place, map, Expect::Only(RESOURCE_KIND)),
            DRLC_LIST_KIND => self.read_list(place, map, Expect::Only(DRLC_KIND)),
            RESOURCE_KIND | DRLC_KIND => self.read_object(place, map, Expect::Any),
            other => self.document_problem(
                place,
                Some("kind"),
                format!(
                    "unsupported kind {other:?}; expected List, ResourceObjectList, \
                     DRLCObjectList, ResourceObject or DRLCObject"
                ),
            ),
        }
    }

    fn read_list(&mut self, place: &Place, map: &Map<String, Value>, expect: Expect) {
        if expect != Expect::Any {
            if let Err(message) = check_api_version(map, true) {
                return self.document_problem(place, Some("apiVersion"), message);
            }
        }
        match map.get("items") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let item_place = place.item(i);
                    match item {
                        Value::Object(obj) => self.read_object(&item_place, obj, expect),
                        other => {
                            let message = format!("expected an object, found {}", describe(other));
                            self.document_problem(&item_place, None, message);
                        }
                    }
                }
            }
            Some(other) => {
                let message = format!("must be a list, found {}", describe(other));
                self.document_problem(place, Some("items"), message);
            }
        }
    }

    fn read_object(&mut self, place: &Place, map: &Map<String, Value>, expect: Expect) {
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let kind = match (map.get("kind").and_then(Value::as_str), expect) {
            (Some(k), Expect::Only(want)) if k != want => {
                let message = format!("{k:?} in a list of {want}");
                return self.document_problem(place, Some("kind"), message);
            }
            (Some(k), _) => k,
            (None, Expect::Only(want)) => want,
            (None, Expect::Any) => {
                let message = "must be set (ResourceObject or DRLCObject)".to_string();
                return self.document_problem(place, Some("kind"), message);
            }
        };
        let object = match name {
            Some(n) => format!("{kind} {n:?}"),
            None => format!("{kind} (no name)"),
        };
        let mut fields = Fields::new(map, place, object);
        if let Err(message) = check_api_version(map, expect == Expect::Any) {
            fields.problem("apiVersion", message);
        }
        match kind {
            RESOURCE_KIND => self.read_resource(place, fields),
            DRLC_KIND => self.read_drlc(place, fields),
            other => {
                let message = format!("unsupported kind {other:?} in a list");
                self.document_problem(place, Some("kind"), message);
            }
        }
    }

    fn read_resource(&mut self, place: &Place, mut f: Fields<'_>) {
        let name = object_name(&mut f);
        let namespace = f.string("metadata.namespace", false);
        let rtype = f.string("spec.type", true);
        let state = f.string("status.state", true);
        let owner = f.string("status.owner", false);
        let lastupdate = f.time("status.lastUpdate", true);
        let userdata = f.string_map("status.userData");
        let expiration = f.time("status.expirationDate", false);
        if let Some(name) = &name {
            if let Some(first) = self.set.resource_places.get(name) {
                f.problem("metadata.name", format!("duplicate name, first at {first}"));
            }
        }
        self.check_namespace(place, namespace.as_deref(), &mut f);
        let ok = f.ok();
        self.problems.extend(f.into_problems());
        let (
            true,
            Some(name),
            Some(rtype),
            Some(state),
            Some(owner),
            Ok(Some(lastupdate)),
            Some(userdata),
            Ok(expiration_date),
        ) = (
            ok, name, rtype, state, owner, lastupdate, userdata, expiration,
        )
        else {
            return;
        };
        self.set.resource_places.insert(name.clone(), place.clone());
        self.set.resources.push(Resource {
            rtype,
            name,
            state,
            owner,
            lastupdate,
            userdata: UserData::from(userdata),
            expiration_date,
        });
    }

    fn read_drlc(&mut self, place: &Place, mut f: Fields<'_>) {
        let name = object_name(&mut f);
        let namespace = f.string("metadata.namespace", false);
        let initial_state = f.string("spec.state", false);
        let max_count = f.count("spec.max-count");
        let min_count = f.count("spec.min-count");
        let lifespan = f.nanos("spec.lifespan");
        let ctype = f.string("spec.config.type", false);
        let content = f.string("spec.config.content", false);
        let needs = f.count_map("spec.needs");
        if let (Some(min), Some(max)) = (min_count, max_count) {
            if min > max {
                f.problem(
                    "spec.min-count",
                    format!("{min} is more than spec.max-count ({max})"),
                );
            }
        }
        if let Some(name) = &name {
            if let Some(first) = self.set.drlc_places.get(name) {
                f.problem("metadata.name", format!("duplicate pool, first at {first}"));
            }
        }
        self.check_namespace(place, namespace.as_deref(), &mut f);
        let ok = f.ok();
        self.problems.extend(f.into_problems());
        let (
            true,
            Some(rtype),
            Some(initial_state),
            Some(max_count),
            Some(min_count),
            Ok(lifespan),
            Some(ctype),
            Some(content),
            Some(needs),
        ) = (
            ok,
            name,
            initial_state,
            max_count,
            min_count,
            lifespan,
            ctype,
            content,
            needs,
        )
        else {
            return;
        };
        self.set.drlc_places.insert(rtype.clone(), place.clone());
        self.set.drlcs.push(DynamicResourceLifeCycle {
            rtype,
            initial_state: if initial_state.is_empty() {
                state::FREE.to_string()
            } else {
                initial_state
            },
            min_count,
            max_count,
            lifespan: lifespan.map(std::time::Duration::from_nanos),
            config: ConfigType { ctype, content },
            needs,
        });
    }

    /// All objects must come from one namespace (one Boskos installation).
    fn check_namespace(&mut self, place: &Place, namespace: Option<&str>, f: &mut Fields<'_>) {
        let Some(ns) = namespace.filter(|n| !n.is_empty()) else {
            return;
        };
        match (&self.set.namespace, &self.namespace_place) {
            (Some(first), Some(first_place)) if first != ns => f.problem(
                "metadata.namespace",
                format!(
                    "{ns:?} differs from {first:?} (first at {first_place}); import one \
                     Boskos namespace at a time"
                ),
            ),
            (Some(_), _) => {}
            (None, _) => {
                self.set.namespace = Some(ns.to_string());
                self.namespace_place = Some(place.clone());
            }
        }
    }
}

/// `metadata.name`: set, and a valid Kubernetes object name.
fn object_name(f: &mut Fields<'_>) -> Option<String> {
    let name = f.string("metadata.name", true)?;
    let reasons = dns1123_subdomain_problems(&name);
    if reasons.is_empty() {
        Some(name)
    } else {
        f.problem(
            "metadata.name",
            format!(
                "{name:?} is not a valid object name: {}",
                reasons.join("; ")
            ),
        );
        None
    }
}

/// `apiVersion` must be Boskos' when present; `required` for objects outside a typed list.
fn check_api_version(map: &Map<String, Value>, required: bool) -> Result<(), String> {
    match map.get("apiVersion") {
        Some(Value::String(v)) if v == API_VERSION => Ok(()),
        None | Some(Value::Null) if !required => Ok(()),
        None | Some(Value::Null) => Err(format!("must be set ({API_VERSION})")),
        Some(other) => Err(format!("must be {API_VERSION}, found {}", describe(other))),
    }
}

/// Split an input into documents: JSON values when it starts with `{` or `[`, YAML
/// documents otherwise. A document that cannot be parsed ends the input (its message
/// says why); the documents before it are kept.
fn documents(text: &str) -> Vec<Result<Value, String>> {
    let mut out = Vec::new();
    if text.trim_start().starts_with(['{', '[']) {
        for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            match value {
                Ok(v) => out.push(Ok(v)),
                Err(e) => {
                    out.push(Err(format!("not valid JSON: {e}")));
                    break;
                }
            }
        }
    } else {
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            match Value::deserialize(document) {
                Ok(v) => out.push(Ok(v)),
                Err(e) => {
                    out.push(Err(format!("not valid YAML: {e}")));
                    break;
                }
            }
        }
    }
    out
}

/// Counts of resources per (type, state), for `--dry-run` and reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateCount {
    /// Resources in this type and state.
    pub total: usize,
    /// How many of them are leased (have an owner).
    pub owned: usize,
}

/// Resources per (type, state), sorted.
pub fn count_by_type_and_state<'a>(
    resources: impl IntoIterator<Item = &'a Resource>,
) -> BTreeMap<(String, String), StateCount> {
    let mut counts: BTreeMap<(String, String), StateCount> = BTreeMap::new();
    for r in resources {
        let c = counts
            .entry((r.rtype.clone(), r.state.clone()))
            .or_default();
        c.total += 1;
        if !r.owner.is_empty() {
            c.owned += 1;
        }
    }
    counts
}
