//! The environment `mason run` gives the command: the resource, each user-data key, and
//! the physical resources taken along with a virtual resource.
//!
//! - `MASON_RESOURCE_NAME`, `MASON_RESOURCE_TYPE`, `MASON_RESOURCE_STATE` (the state it
//!   was moved to), `MASON_RESOURCE_JSON` (the resource as acquired, as `mason acquire`
//!   prints it);
//! - `MASON_LEASED_NAMES` (comma-separated) and `MASON_LEASED_JSON` (a JSON array of the
//!   resources as acquired): a virtual resource's physical resources, held by the same
//!   owner in the same state; empty and `[]` for a plain resource;
//! - `MASON_USERDATA_<KEY>` for each user-data key: the key upper-cased, every character
//!   other than an ASCII letter or digit replaced by `_` (`access-key-id` →
//!   `MASON_USERDATA_ACCESS_KEY_ID`). Two keys that map to the same name (`a-b`, `a.b`):
//!   the one later in byte order wins;
//! - `MASON_SERVER_URL` and `MASON_OWNER`, so a `mason update` or `mason release` inside
//!   the command talks to the same server as the same owner.

use mason_client::VirtualLease;

use crate::cli::leased::json_array;

/// The variables to add to the command's environment, in a stable order.
pub(super) fn resource_env(
    lease: &VirtualLease,
    server_url: &str,
    owner: &str,
) -> Vec<(String, String)> {
    let resource = &lease.resource;
    let mut vars = vec![
        ("MASON_RESOURCE_NAME".to_string(), resource.name.clone()),
        ("MASON_RESOURCE_TYPE".to_string(), resource.rtype.clone()),
        ("MASON_RESOURCE_STATE".to_string(), resource.state.clone()),
        ("MASON_RESOURCE_JSON".to_string(), resource.to_wire_json()),
        (
            "MASON_LEASED_NAMES".to_string(),
            lease.leased_names().join(","),
        ),
        ("MASON_LEASED_JSON".to_string(), json_array(&lease.leased)),
        ("MASON_SERVER_URL".to_string(), server_url.to_string()),
        ("MASON_OWNER".to_string(), owner.to_string()),
    ];
    for (key, value) in resource.userdata.iter() {
        vars.push((userdata_var(key), value.to_string()));
    }
    vars
}

/// `MASON_USERDATA_` + the key upper-cased with non-alphanumerics as `_`.
pub(super) fn userdata_var(key: &str) -> String {
    format!("MASON_USERDATA_{}", mangle(key))
}

/// `key` upper-cased, every character other than an ASCII letter or digit as `_`.
pub(super) fn mangle(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use mason_types::resource::parse_wire_time;
    use mason_types::Resource;

    use super::*;

    #[test]
    fn mangles_keys() {
        assert_eq!(
            userdata_var("access-key-id"),
            "MASON_USERDATA_ACCESS_KEY_ID"
        );
        assert_eq!(
            userdata_var("leasedResources"),
            "MASON_USERDATA_LEASEDRESOURCES"
        );
        assert_eq!(userdata_var("a.b c/é"), "MASON_USERDATA_A_B_C__");
    }

    #[test]
    fn exports_the_resource_and_its_user_data() {
        let mut r = Resource::new(
            "gce",
            "p-1",
            "busy",
            parse_wire_time("2024-03-01T10:20:30Z").unwrap(),
        );
        r.owner = "me".into();
        r.userdata.insert("zone", "eu-1");
        let lease = VirtualLease {
            resource: r.clone(),
            leased: Vec::new(),
        };
        let vars = resource_env(&lease, "http://s", "me");
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("MASON_RESOURCE_NAME"), Some("p-1"));
        assert_eq!(get("MASON_RESOURCE_TYPE"), Some("gce"));
        assert_eq!(get("MASON_RESOURCE_STATE"), Some("busy"));
        assert_eq!(get("MASON_USERDATA_ZONE"), Some("eu-1"));
        assert_eq!(get("MASON_OWNER"), Some("me"));
        let json: Resource = serde_json::from_str(get("MASON_RESOURCE_JSON").unwrap()).unwrap();
        assert_eq!(json, r);
        assert_eq!(get("MASON_LEASED_NAMES"), Some(""));
        assert_eq!(get("MASON_LEASED_JSON"), Some("[]"));
    }

    #[test]
    fn exports_the_physical_resources_of_a_virtual_one() {
        let at = parse_wire_time("2024-03-01T10:20:30Z").unwrap();
        let mut v = Resource::new("vm", "vm-1", "busy", at);
        v.userdata
            .set_leased_resources(&["p-1".to_string(), "p-2".to_string()]);
        let leased = vec![
            Resource::new("phys", "p-1", "busy", at),
            Resource::new("phys", "p-2", "busy", at),
        ];
        let lease = VirtualLease {
            resource: v,
            leased: leased.clone(),
        };
        let vars = resource_env(&lease, "http://s", "me");
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("MASON_LEASED_NAMES"), Some("p-1,p-2"));
        let json: Vec<Resource> = serde_json::from_str(get("MASON_LEASED_JSON").unwrap()).unwrap();
        assert_eq!(json, leased);
    }
}
