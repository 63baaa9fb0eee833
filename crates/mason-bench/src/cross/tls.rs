//! HTTPS for the cross-process benchmark: a throwaway CA and a certificate for 127.0.0.1
//! and `localhost` signed by it (written as PEM files for the server's `--tls-cert` and
//! `--tls-key`), and a rustls client configuration that trusts only that CA.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::{Error, Result};

/// The generated CA and server pair; the files live as long as this value.
pub(crate) struct TestPki {
    dir: tempfile::TempDir,
    client: Arc<ClientConfig>,
}

fn tls_error(what: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
    move |e| Error::Target(format!("{what}: {e}"))
}

impl TestPki {
    /// Generate the CA, the server pair, the files and the client configuration.
    pub(crate) fn generate() -> Result<Self> {
        let ca_key = rcgen::KeyPair::generate().map_err(tls_error("CA key"))?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(tls_error("CA parameters"))?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mason bench CA");
        let ca = ca_params
            .self_signed(&ca_key)
            .map_err(tls_error("CA certificate"))?;

        let key = rcgen::KeyPair::generate().map_err(tls_error("server key"))?;
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .map_err(tls_error("server parameters"))?;
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .map_err(tls_error("server certificate"))?;

        let dir = tempfile::Builder::new()
            .prefix("mason-bench-tls-")
            .tempdir()
            .map_err(Error::io("cannot create a temp directory"))?;
        std::fs::write(dir.path().join("server.crt"), cert.pem())
            .map_err(Error::io("cannot write the server certificate"))?;
        std::fs::write(dir.path().join("server.key"), key.serialize_pem())
            .map_err(Error::io("cannot write the server key"))?;

        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.der().to_vec()))
            .map_err(|e| Error::Target(format!("CA certificate refused: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Target(format!("TLS client configuration: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            dir,
            client: Arc::new(client),
        })
    }

    /// `(certificate, key)` PEM paths.
    pub(crate) fn files(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("server.crt"),
            self.dir.path().join("server.key"),
        )
    }

    /// The client side: configuration and the name the certificate is checked against.
    pub(crate) fn client(&self) -> (Arc<ClientConfig>, ServerName<'static>) {
        (
            Arc::clone(&self.client),
            ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into()),
        )
    }
}
