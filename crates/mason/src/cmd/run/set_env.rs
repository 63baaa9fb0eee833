//! The environment of a command run with a *set* of resources (`mason run --type a
//! --type b=2`): everything a single-resource run exports for the first resource (see
//! `env`; user data keys only when the set is one resource), plus:
//!
//! - `MASON_RESOURCE_NAMES`: every resource's name, comma-separated, in `--type` order;
//! - `MASON_RESOURCES_JSON`: a JSON array of every resource as granted (the `/api/v2`
//!   object: the Boskos keys plus `"generation"` and the lease TTL and deadline);
//! - `MASON_NAMES_<TYPE>` per type: its resources' names, comma-separated (`TYPE`
//!   mangled like user-data keys: `gce-project` → `MASON_NAMES_GCE_PROJECT`);
//! - `MASON_LEASED_NAMES`/`MASON_LEASED_JSON`: the physical resources of every virtual
//!   resource in the set.
//!
//! `MASON_RESOURCE_GENERATION` (the first resource's fencing generation) is exported by
//! both kinds of run when the server told it.

use mason_client::VirtualLease;
use mason_types::ResourceV2;

use super::env::{mangle, resource_env};

/// The variables for `granted` (in `--type` order) and the virtual leases made of them.
pub(super) fn set_env(
    granted: &[ResourceV2],
    leases: &[VirtualLease],
    server_url: &str,
    owner: &str,
) -> Vec<(String, String)> {
    let Some(first) = leases.first() else {
        return Vec::new();
    };
    let leased: Vec<_> = leases
        .iter()
        .flat_map(|l| l.leased.iter().cloned())
        .collect();
    let combined = VirtualLease {
        resource: first.resource.clone(),
        leased,
    };
    let mut vars = resource_env(&combined, server_url, owner);
    if leases.len() > 1 {
        vars.retain(|(k, _)| !k.starts_with("MASON_USERDATA_"));
    }
    if let Some(g) = granted.first() {
        vars.push((
            "MASON_RESOURCE_GENERATION".into(),
            g.generation().to_string(),
        ));
    }
    let names: Vec<&str> = granted.iter().map(|r| r.resource.name.as_str()).collect();
    vars.push(("MASON_RESOURCE_NAMES".into(), names.join(",")));
    vars.push((
        "MASON_RESOURCES_JSON".into(),
        serde_json::to_string(granted).expect("resources serialize"),
    ));
    let mut types: Vec<&str> = Vec::new();
    for r in granted {
        if !types.contains(&r.resource.rtype.as_str()) {
            types.push(&r.resource.rtype);
        }
    }
    for rtype in types {
        let of_type: Vec<&str> = granted
            .iter()
            .filter(|r| r.resource.rtype == rtype)
            .map(|r| r.resource.name.as_str())
            .collect();
        vars.push((format!("MASON_NAMES_{}", mangle(rtype)), of_type.join(",")));
    }
    vars
}

#[cfg(test)]
mod tests {
    use mason_types::resource::parse_wire_time;
    use mason_types::{LeaseFacts, Resource};

    use super::*;

    fn granted(rtype: &str, name: &str, generation: u64) -> ResourceV2 {
        let at = parse_wire_time("2026-01-02T03:04:05Z").unwrap();
        let mut r = Resource::new(rtype, name, "busy", at);
        r.owner = "me".into();
        r.userdata.insert("zone", name);
        ResourceV2::new(
            r,
            LeaseFacts {
                generation,
                ..Default::default()
            },
        )
    }

    fn lease(r: &ResourceV2) -> VirtualLease {
        VirtualLease {
            resource: r.resource.clone(),
            leased: Vec::new(),
        }
    }

    #[test]
    fn exports_every_resource_of_the_set() {
        let set = vec![
            granted("gce-project", "p-1", 7),
            granted("gce-project", "p-2", 8),
            granted("gke-cluster", "c-1", 9),
        ];
        let leases: Vec<_> = set.iter().map(lease).collect();
        let vars = set_env(&set, &leases, "http://s", "me");
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("MASON_RESOURCE_NAME"), Some("p-1"));
        assert_eq!(get("MASON_RESOURCE_GENERATION"), Some("7"));
        assert_eq!(get("MASON_RESOURCE_NAMES"), Some("p-1,p-2,c-1"));
        assert_eq!(get("MASON_NAMES_GCE_PROJECT"), Some("p-1,p-2"));
        assert_eq!(get("MASON_NAMES_GKE_CLUSTER"), Some("c-1"));
        assert_eq!(get("MASON_USERDATA_ZONE"), None, "ambiguous in a set");
        let json: Vec<ResourceV2> =
            serde_json::from_str(get("MASON_RESOURCES_JSON").unwrap()).unwrap();
        assert_eq!(json, set);
    }

    #[test]
    fn a_set_of_one_keeps_its_user_data() {
        let set = vec![granted("a", "a-1", 3)];
        let vars = set_env(&set, &[lease(&set[0])], "http://s", "me");
        assert!(vars
            .iter()
            .any(|(k, v)| k == "MASON_USERDATA_ZONE" && v == "a-1"));
    }
}
