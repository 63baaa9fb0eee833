use std::time::Duration;

use super::*;
use crate::config::BoskosConfig;
use crate::resource::parse_wire_time;

/// What `kubectl get resources.boskos.k8s.io,dynamicresourcelifecycles.boskos.k8s.io -o
/// yaml` prints, with the metadata Kubernetes adds.
const KUBECTL_LIST: &str = r#"apiVersion: v1
items:
- apiVersion: boskos.k8s.io/v1
  kind: ResourceObject
  metadata:
    creationTimestamp: "2024-02-28T08:00:00Z"
    generation: 3
    name: proj-1
    namespace: test-pods
    resourceVersion: "81723"
    uid: 0b9c1c2e-3a53-4c4e-9d1c-2f3c7c0d9a11
  spec:
    type: gce-project
  status:
    lastUpdate: "2024-03-01T10:20:30Z"
    owner: job-123
    state: busy
    userData:
      region: us-east1
      leasedResources: |
        - a
        - b
- apiVersion: boskos.k8s.io/v1
  kind: ResourceObject
  metadata:
    name: fd957edc-4148-49e8-af83-53d38bcd4e54
    namespace: test-pods
  spec:
    type: cluster
  status:
    expirationDate: "2024-03-03T10:20:30Z"
    lastUpdate: "2024-03-01T10:20:31Z"
    owner: ""
    state: free
- apiVersion: boskos.k8s.io/v1
  kind: DRLCObject
  metadata:
    name: cluster
    namespace: test-pods
  spec:
    config:
      content: "zone: a"
      type: GKEClusterCreator
    lifespan: 86400000000000
    max-count: 4
    min-count: 1
    needs:
      gce-project: 1
    state: dirty
kind: List
metadata:
  resourceVersion: ""
"#;

fn read(inputs: &[(&str, &str)]) -> Result<ObjectSet, ReadError> {
    let mut reader = Reader::new();
    for (source, text) in inputs {
        reader.read(source, text);
    }
    reader.finish()
}

/// The messages of a refused input, one per problem.
fn problems(inputs: &[(&str, &str)]) -> Vec<String> {
    read(inputs)
        .expect_err("input must be refused")
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn t(s: &str) -> crate::Timestamp {
    parse_wire_time(s).unwrap()
}

#[test]
fn reads_a_kubectl_list_with_every_field() {
    let set = read(&[("export.yaml", KUBECTL_LIST)]).unwrap();
    assert_eq!(set.namespace.as_deref(), Some("test-pods"));
    assert_eq!(set.resources.len(), 2);
    let p = &set.resources[0];
    assert_eq!(
        (
            p.name.as_str(),
            p.rtype.as_str(),
            p.state.as_str(),
            p.owner.as_str()
        ),
        ("proj-1", "gce-project", "busy", "job-123")
    );
    assert_eq!(p.lastupdate, t("2024-03-01T10:20:30Z"));
    assert_eq!(p.userdata.get("region"), Some("us-east1"));
    assert_eq!(
        p.userdata.leased_resources().unwrap(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(p.expiration_date, None);
    let c = &set.resources[1];
    assert_eq!(c.owner, "");
    assert!(c.userdata.is_empty());
    assert_eq!(c.expiration_date, Some(t("2024-03-03T10:20:30Z")));

    assert_eq!(set.drlcs.len(), 1);
    let d = &set.drlcs[0];
    assert_eq!(d.rtype, "cluster");
    assert_eq!(d.initial_state, "dirty");
    assert_eq!((d.min_count, d.max_count), (1, 4));
    assert_eq!(d.lifespan, Some(Duration::from_secs(86_400)));
    assert_eq!(d.config.ctype, "GKEClusterCreator");
    assert_eq!(d.config.content, "zone: a");
    assert_eq!(d.needs.get("gce-project"), Some(&1));
    assert_eq!(
        set.resource_places["proj-1"].to_string(),
        "export.yaml, document 1, items[0]"
    );
    assert_eq!(
        set.drlc_places["cluster"].to_string(),
        "export.yaml, document 1, items[2]"
    );
}

#[test]
fn reads_typed_lists_single_objects_json_and_several_documents() {
    let typed = r#"{"apiVersion":"boskos.k8s.io/v1","kind":"ResourceObjectList","metadata":{},
      "items":[{"metadata":{"name":"a"},"spec":{"type":"t"},
                "status":{"state":"free","owner":"","lastUpdate":"2024-01-01T00:00:00Z","userData":null}}]}
      {"apiVersion":"boskos.k8s.io/v1","kind":"DRLCObject","metadata":{"name":"d"},
       "spec":{"state":"","max-count":2,"min-count":0,"config":{},"needs":null}}"#;
    let multi = "---\napiVersion: boskos.k8s.io/v1\nkind: ResourceObject\nmetadata: {name: b}\n\
                 spec: {type: t}\nstatus: {state: dirty, owner: x, lastUpdate: '2024-01-01T00:00:01.5+01:00'}\n\
                 ---\n---\napiVersion: boskos.k8s.io/v1\nkind: DRLCObjectList\nitems:\n\
                 - metadata: {name: e}\n  spec: {max-count: 1}\n";
    let set = read(&[("a.json", typed), ("<stdin>", multi)]).unwrap();
    let names: Vec<&str> = set.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(set.resources[1].lastupdate, t("2023-12-31T23:00:01.5Z"));
    let pools: Vec<(&str, &str, u32, u32)> = set
        .drlcs
        .iter()
        .map(|d| {
            (
                d.rtype.as_str(),
                d.initial_state.as_str(),
                d.min_count,
                d.max_count,
            )
        })
        .collect();
    assert_eq!(pools, [("d", "free", 0, 2), ("e", "free", 0, 1)]);
    assert!(set.drlcs[0].needs.is_empty() && set.drlcs[0].lifespan.is_none());
    assert_eq!(set.namespace, None);
    assert_eq!(
        set.drlc_places["e"].to_string(),
        "<stdin>, document 3, items[0]"
    );
}

#[test]
fn empty_inputs_read_as_nothing() {
    let set = read(&[("a", ""), ("b", "---\n"), ("c", "[]")]);
    // A bare JSON array is not an object or list.
    assert_eq!(
        set.unwrap_err().to_string(),
        "c, document 1: expected a Kubernetes object or list, found a list"
    );
    assert_eq!(
        read(&[("a", ""), ("b", "---\n---\n")]).unwrap(),
        ObjectSet::default()
    );
}

const GOOD: &str = "apiVersion: boskos.k8s.io/v1\nkind: ResourceObject\nmetadata: {name: ok}\n\
                    spec: {type: t}\nstatus: {state: free, owner: '', lastUpdate: '2024-01-01T00:00:00Z'}\n";

fn resource_doc(name: &str, spec: &str, status: &str) -> String {
    format!(
        "apiVersion: boskos.k8s.io/v1\nkind: ResourceObject\nmetadata: {{name: {name}}}\n\
         spec: {spec}\nstatus: {status}\n"
    )
}

#[test]
fn every_bad_resource_field_is_named() {
    let ok_status = "{state: free, owner: '', lastUpdate: '2024-01-01T00:00:00Z'}";
    let cases: Vec<(String, &str)> = vec![
        (
            resource_doc("r", "{}", ok_status),
            "x, document 1: ResourceObject \"r\": spec.type: must be set",
        ),
        (
            resource_doc("r", "{type: ''}", ok_status),
            "x, document 1: ResourceObject \"r\": spec.type: must be set",
        ),
        (
            resource_doc("r", "{type: 5}", ok_status),
            "x, document 1: ResourceObject \"r\": spec.type: must be a string, found a number (5)",
        ),
        (
            resource_doc("r", "{type: t}", "{state: free, lastUpdate: yesterday}"),
            "x, document 1: ResourceObject \"r\": status.lastUpdate: \"yesterday\" is not an RFC 3339 timestamp (like 2024-03-01T10:20:30Z)",
        ),
        (
            resource_doc("r", "{type: t}", "{state: free}"),
            "x, document 1: ResourceObject \"r\": status.lastUpdate: must be set",
        ),
        (
            resource_doc("r", "{type: t}", "{lastUpdate: '2024-01-01T00:00:00Z'}"),
            "x, document 1: ResourceObject \"r\": status.state: must be set",
        ),
        (
            resource_doc("r", "{type: t}", "{state: free, lastUpdate: '2024-01-01T00:00:00Z', expirationDate: 'soon'}"),
            "x, document 1: ResourceObject \"r\": status.expirationDate: \"soon\" is not an RFC 3339 timestamp (like 2024-03-01T10:20:30Z)",
        ),
        (
            resource_doc("r", "{type: t}", "{state: free, lastUpdate: '2024-01-01T00:00:00Z', userData: {k: 1}}"),
            "x, document 1: ResourceObject \"r\": status.userData.k: must be a string, found a number (1)",
        ),
        (
            resource_doc("r", "{type: t}", "{state: free, lastUpdate: '2024-01-01T00:00:00Z', owner: \"a\\0b\"}"),
            "x, document 1: ResourceObject \"r\": status.owner: contains a NUL character, which Mason's stores cannot keep",
        ),
        (
            resource_doc("r", "{type: t}", "busy"),
            "x, document 1: ResourceObject \"r\": status: must be a mapping, found a string (\"busy\")",
        ),
        (
            resource_doc("Bad_Name", "{type: t}", ok_status),
            "x, document 1: ResourceObject \"Bad_Name\": metadata.name: \"Bad_Name\" is not a valid object name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
        (
            resource_doc("''", "{type: t}", ok_status),
            "x, document 1: ResourceObject (no name): metadata.name: must be set",
        ),
        (
            "apiVersion: boskos.k8s.io/v2\nkind: ResourceObject\nmetadata: {name: r}\nspec: {type: t}\n\
             status: {state: free, lastUpdate: '2024-01-01T00:00:00Z'}\n"
                .to_string(),
            "x, document 1: ResourceObject \"r\": apiVersion: must be boskos.k8s.io/v1, found a string (\"boskos.k8s.io/v2\")",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n".to_string(),
            "x, document 1: kind: unsupported kind \"Pod\"; expected List, ResourceObjectList, DRLCObjectList, ResourceObject or DRLCObject",
        ),
        (
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n".to_string(),
            "x, document 1, items[0]: kind: unsupported kind \"ConfigMap\" in a list",
        ),
        (
            "apiVersion: v1\nkind: List\nitems:\n- {metadata: {name: c}}\n".to_string(),
            "x, document 1, items[0]: kind: must be set (ResourceObject or DRLCObject)",
        ),
        (
            "apiVersion: boskos.k8s.io/v1\nkind: ResourceObjectList\nitems:\n- {kind: DRLCObject, metadata: {name: c}}\n".to_string(),
            "x, document 1, items[0]: kind: \"DRLCObject\" in a list of ResourceObject",
        ),
        (
            "kind: List\nitems: {a: b}\n".to_string(),
            "x, document 1: items: must be a list, found a mapping",
        ),
        (
            "metadata: {name: a}\n".to_string(),
            "x, document 1: kind: must be set (List, ResourceObjectList, DRLCObjectList, ResourceObject or DRLCObject)",
        ),
        (
            "kind: [a\n".to_string(),
            "x, document 1: not valid YAML: did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 7",
        ),
        (
            "{\"kind\": \"List\",".to_string(),
            "x, document 1: not valid JSON: EOF while parsing a value at line 1 column 16",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(problems(&[("x", &input)]), [want], "input:\n{input}");
    }
}

#[test]
fn every_bad_pool_field_is_named() {
    let pool = |spec: &str| {
        format!(
            "apiVersion: boskos.k8s.io/v1\nkind: DRLCObject\nmetadata: {{name: p}}\nspec: {spec}\n"
        )
    };
    let cases = [
        (
            pool("{min-count: 3, max-count: 2}"),
            "x, document 1: DRLCObject \"p\": spec.min-count: 3 is more than spec.max-count (2)",
        ),
        (
            pool("{max-count: -1}"),
            "x, document 1: DRLCObject \"p\": spec.max-count: must be a whole number from 0 to 2147483647, found a number (-1)",
        ),
        (
            pool("{max-count: 1, lifespan: 1h}"),
            "x, document 1: DRLCObject \"p\": spec.lifespan: must be a whole number of nanoseconds from 0 to 9223372036854775807, found a string (\"1h\")",
        ),
        (
            pool("{max-count: 1, needs: {a: x}}"),
            "x, document 1: DRLCObject \"p\": spec.needs.a: must be a whole number from 0 to 2147483647, found a string (\"x\")",
        ),
        (
            pool("{max-count: 1, config: {type: 7}}"),
            "x, document 1: DRLCObject \"p\": spec.config.type: must be a string, found a number (7)",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(problems(&[("x", &input)]), [want], "input:\n{input}");
    }
}

#[test]
fn duplicates_and_mixed_namespaces_are_refused_across_inputs() {
    let in_ns = |name: &str, ns: &str| {
        format!(
            "apiVersion: boskos.k8s.io/v1\nkind: ResourceObject\nmetadata: {{name: {name}, namespace: {ns}}}\n\
             spec: {{type: t}}\nstatus: {{state: free, lastUpdate: '2024-01-01T00:00:00Z'}}\n"
        )
    };
    let pool = "apiVersion: boskos.k8s.io/v1\nkind: DRLCObject\nmetadata: {name: p}\nspec: {max-count: 1}\n";
    assert_eq!(
        problems(&[
            ("one.yaml", &format!("{GOOD}---\n{pool}")),
            ("two.yaml", &format!("{GOOD}---\n{pool}")),
        ]),
        [
            "two.yaml, document 1: ResourceObject \"ok\": metadata.name: duplicate name, first at one.yaml, document 1",
            "two.yaml, document 2: DRLCObject \"p\": metadata.name: duplicate pool, first at one.yaml, document 2",
        ]
    );
    assert_eq!(
        problems(&[("x", &format!("{}---\n{}", in_ns("a", "ns1"), in_ns("b", "ns2")))]),
        ["x, document 2: ResourceObject \"b\": metadata.namespace: \"ns2\" differs from \"ns1\" (first at x, document 1); import one Boskos namespace at a time"]
    );
}

#[test]
fn one_bad_object_among_good_ones_refuses_the_whole_input_and_lists_all() {
    let bad = resource_doc("bad", "{type: t}", "{state: free, lastUpdate: nope}");
    let worse = resource_doc("worse", "{}", "{lastUpdate: '2024-01-01T00:00:00Z'}");
    let err = read(&[("x", &format!("{GOOD}---\n{bad}---\n{worse}"))]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "3 problems:\n  \
         - x, document 2: ResourceObject \"bad\": status.lastUpdate: \"nope\" is not an RFC 3339 timestamp (like 2024-03-01T10:20:30Z)\n  \
         - x, document 3: ResourceObject \"worse\": spec.type: must be set\n  \
         - x, document 3: ResourceObject \"worse\": status.state: must be set"
    );
}

#[test]
fn export_renders_what_kubectl_applies_and_reads_back_identically() {
    let set = read(&[("export.yaml", KUBECTL_LIST)]).unwrap();
    for format in [Format::Yaml, Format::Json] {
        let text = render(
            &object_list(&set.resources, &set.drlcs, Some("test-pods")),
            format,
        );
        let mut again = read(&[("again", &text)]).unwrap();
        again.resources.sort_by(|a, b| b.name.cmp(&a.name));
        assert_eq!(again.resources, set.resources, "{format:?}:\n{text}");
        assert_eq!(again.drlcs, set.drlcs, "{format:?}:\n{text}");
        assert_eq!(again.namespace.as_deref(), Some("test-pods"));
    }
    let yaml = render(&object_list(&set.resources, &set.drlcs, None), Format::Yaml);
    let value: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(value["apiVersion"], "v1");
    assert_eq!(value["kind"], "List");
    let cluster_res = &value["items"][0];
    assert_eq!(
        cluster_res["metadata"],
        serde_json::json!({"name": "fd957edc-4148-49e8-af83-53d38bcd4e54"})
    );
    assert_eq!(
        cluster_res["status"],
        serde_json::json!({"state": "free", "owner": "", "lastUpdate": "2024-03-01T10:20:31Z",
                           "expirationDate": "2024-03-03T10:20:30Z"})
    );
    assert_eq!(value["items"][1]["metadata"]["name"], "proj-1");
    assert_eq!(
        value["items"][2],
        serde_json::json!({"apiVersion": "boskos.k8s.io/v1", "kind": "DRLCObject",
            "metadata": {"name": "cluster"},
            "spec": {"state": "dirty", "max-count": 4, "min-count": 1, "lifespan": 86400000000000u64,
                     "config": {"type": "GKEClusterCreator", "content": "zone: a"},
                     "needs": {"gce-project": 1}}})
    );
}

#[test]
fn times_keep_their_sub_second_digits_to_the_microsecond() {
    let doc = resource_doc(
        "r",
        "{type: t}",
        "{state: free, lastUpdate: '2019-07-24T23:30:40.094116858Z', expirationDate: '2019-07-25T00:00:00.5Z'}",
    );
    let set = read(&[("x", &doc)]).unwrap();
    let r = &set.resources[0];
    assert_eq!(r.lastupdate.timestamp_subsec_nanos(), 94_116_000);
    let text = render(&object_list(&set.resources, &[], None), Format::Json);
    assert!(
        text.contains("\"lastUpdate\": \"2019-07-24T23:30:40.094116Z\""),
        "{text}"
    );
    assert!(
        text.contains("\"expirationDate\": \"2019-07-25T00:00:00.500Z\""),
        "{text}"
    );
    assert_eq!(read(&[("y", &text)]).unwrap().resources, set.resources);
}

#[test]
fn counts_per_type_and_state() {
    let set = read(&[("export.yaml", KUBECTL_LIST)]).unwrap();
    let counts = count_by_type_and_state(&set.resources);
    let rows: Vec<(&str, &str, usize, usize)> = counts
        .iter()
        .map(|((t, s), c)| (t.as_str(), s.as_str(), c.total, c.owned))
        .collect();
    assert_eq!(
        rows,
        [("cluster", "free", 1, 0), ("gce-project", "busy", 1, 1)]
    );
}

#[test]
fn pools_are_compared_with_the_config_field_by_field() {
    let set = read(&[("export.yaml", KUBECTL_LIST)]).unwrap();
    let config = BoskosConfig::from_yaml(
        "resources:\n\
         - {type: cluster, state: dirty, min-count: 2, max-count: 4, lifespan: 12h,\n   \
            needs: {gce-project: 2}, config: {type: GKEClusterCreator, content: 'zone: b'}}\n\
         - {type: vm, min-count: 0, max-count: 3}\n",
    )
    .unwrap();
    let diffs: Vec<String> = compare_pools(&set.drlcs, &config)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        diffs,
        [
            "pool \"cluster\": spec.min-count is 1 in the input, 2 in the config",
            "pool \"cluster\": spec.lifespan is 24h0m0s in the input, 12h0m0s in the config",
            "pool \"cluster\": spec.config.content is \"zone: a\" in the input, \"zone: b\" in the config",
            "pool \"cluster\": spec.needs is {gce-project: 1} in the input, {gce-project: 2} in the config",
            "pool \"vm\": in the config but not in the input; a server on this config creates it",
        ]
    );
    let static_config =
        BoskosConfig::from_yaml("resources:\n- {type: cluster, names: [c1]}\n").unwrap();
    assert_eq!(
        compare_pools(&set.drlcs, &static_config)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["pool \"cluster\": in the input but a static pool (with names) in the config; a server on this config parks it at min-count = max-count = 0 and retires its unleased resources"]
    );
    let same = BoskosConfig::from_yaml(
        "resources:\n- {type: cluster, state: dirty, min-count: 1, max-count: 4, lifespan: 24h,\n   \
         needs: {gce-project: 1}, config: {type: GKEClusterCreator, content: 'zone: a'}}\n",
    )
    .unwrap();
    assert!(compare_pools(&set.drlcs, &same).is_empty());
}
