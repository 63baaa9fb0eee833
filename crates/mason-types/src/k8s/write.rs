//! Writing Mason's state as upstream's objects: one `kind: List` holding a
//! `ResourceObject` per resource (sorted by name, as the Kubernetes API lists them) and a
//! `DRLCObject` per dynamic pool (sorted by type), in YAML or JSON. `kubectl apply -f`
//! takes the result as it is (the custom resources have no status subresource, so
//! `status` is written too), and [`super::Reader`] reads it back to the same state.

use super::objects::{DrlcObject, Object, ObjectList, ResourceObject, LIST_KIND};
use crate::config::DynamicResourceLifeCycle;
use crate::resource::Resource;

/// Output format of an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// YAML, as `kubectl get -o yaml` prints.
    #[default]
    Yaml,
    /// JSON, indented.
    Json,
}

/// The list of objects for `resources` and `drlcs`; `namespace` goes into every object's
/// metadata when given.
pub fn object_list(
    resources: &[Resource],
    drlcs: &[DynamicResourceLifeCycle],
    namespace: Option<&str>,
) -> ObjectList {
    let mut resources: Vec<&Resource> = resources.iter().collect();
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    let mut drlcs: Vec<&DynamicResourceLifeCycle> = drlcs.iter().collect();
    drlcs.sort_by(|a, b| a.rtype.cmp(&b.rtype));
    let items = resources
        .into_iter()
        .map(|r| Object::Resource(ResourceObject::from_resource(r, namespace)))
        .chain(
            drlcs
                .into_iter()
                .map(|d| Object::Drlc(DrlcObject::from_drlc(d, namespace))),
        )
        .collect();
    ObjectList {
        api_version: "v1".to_string(),
        kind: LIST_KIND.to_string(),
        items,
    }
}

/// Render `list` as text in `format` (ending with a newline).
pub fn render(list: &ObjectList, format: Format) -> String {
    match format {
        Format::Yaml => {
            super::yaml::to_yaml(&serde_json::to_value(list).expect("an object list serializes"))
        }
        Format::Json => {
            let mut text = serde_json::to_string_pretty(list).expect("an object list serializes");
            text.push('\n');
            text
        }
    }
}
