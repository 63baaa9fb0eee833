//! What `mason acquire`, `release` and `run` share about *virtual* resources, the ones the
//! Mason builder makes out of leased *physical* resources (SPEC §6.4).
//!
//! A resource is virtual when its user data carries a `leasedResources` key (a YAML list
//! of names; the builder writes it, and no plain resource has it). Its physical resources
//! sit, unowned, in a state named after it; acquiring the virtual resource takes them too
//! (one `acquirebystate`) into the same state for the same owner, and releasing it gives
//! them back with it. A resource without the key is plain and handled exactly like
//! boskosctl does.

use std::sync::Arc;

use mason_client::{HttpClient, VirtualClient, VirtualError, VirtualLease};
use mason_types::{Resource, LEASED_RESOURCES};

use super::translate;
use crate::exit;

/// Whether `resource` is a virtual resource (it has a `leasedResources` key, even an
/// empty or unreadable one).
pub(crate) fn is_virtual(resource: &Resource) -> bool {
    resource.userdata.get(LEASED_RESOURCES).is_some()
}

/// The Mason client over `client` (same server, same owner).
pub(crate) fn virtual_client(client: &HttpClient) -> VirtualClient {
    VirtualClient::new(Arc::new(client.clone()))
}

/// After acquiring `resource` into `dest`: take its physical resources into `dest` too
/// (none for a plain resource). On failure the virtual resource has been released to
/// `dirty`, like upstream's Mason client does.
pub(crate) async fn take_leased(
    client: &HttpClient,
    resource: Resource,
    dest: &str,
) -> Result<VirtualLease, VirtualError> {
    if !is_virtual(&resource) {
        return Ok(VirtualLease {
            resource,
            leased: Vec::new(),
        });
    }
    virtual_client(client).take_leased(resource, dest).await
}

/// The documented exit code for a Mason-client failure. A virtual resource whose
/// physical resources cannot be taken is a failure (1), not "no resource" (3): one was
/// available, but it is broken.
pub(crate) fn exit_code(err: &VirtualError) -> u8 {
    match err {
        VirtualError::Acquire { source, .. } => translate::exit_code(source, true),
        VirtualError::Leased { source, .. } if source.is_unreachable() => exit::UNREACHABLE,
        VirtualError::Release(errors) => errors
            .first()
            .map_or(exit::FAILURE, |(_, e)| translate::exit_code(e, false)),
        _ => exit::FAILURE,
    }
}

/// `resources` as a JSON array of their wire JSON (byte for byte what `mason acquire`
/// prints for each).
pub(crate) fn json_array(resources: &[Resource]) -> String {
    let items: Vec<String> = resources.iter().map(Resource::to_wire_json).collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use mason_client::Error;
    use mason_types::resource::parse_wire_time;

    use super::*;

    fn resource(name: &str) -> Resource {
        Resource::new(
            "t",
            name,
            "busy",
            parse_wire_time("2024-03-01T10:20:30Z").unwrap(),
        )
    }

    #[test]
    fn virtual_means_the_key_is_there() {
        let mut r = resource("v");
        assert!(!is_virtual(&r));
        r.userdata.set_leased_resources(&[]);
        assert!(is_virtual(&r));
        r.userdata.set_leased_resources(&["p".to_string()]);
        assert!(is_virtual(&r));
    }

    #[test]
    fn json_array_holds_the_wire_json_of_each() {
        assert_eq!(json_array(&[]), "[]");
        let (a, b) = (resource("a"), resource("b"));
        let text = json_array(&[a.clone(), b.clone()]);
        assert_eq!(text, format!("[{},{}]", a.to_wire_json(), b.to_wire_json()));
        let back: Vec<Resource> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, vec![a, b]);
    }

    #[test]
    fn exit_codes_of_virtual_failures() {
        let acquire = VirtualError::Acquire {
            rtype: "v".into(),
            source: Error::NotFound("none".into()),
        };
        assert_eq!(exit_code(&acquire), exit::NO_RESOURCE);
        let leased = |source| VirtualError::Leased {
            name: "v-1".into(),
            names: vec!["p".into()],
            source,
        };
        assert_eq!(
            exit_code(&leased(Error::NotFound("p".into()))),
            exit::FAILURE
        );
        assert_eq!(
            exit_code(&leased(Error::Unreachable("x".into()))),
            exit::UNREACHABLE
        );
        let release = VirtualError::Release(vec![
            ("v-1".into(), Error::Unreachable("x".into())),
            ("p".into(), Error::OwnerMismatch("x".into())),
        ]);
        assert_eq!(exit_code(&release), exit::UNREACHABLE);
    }
}
