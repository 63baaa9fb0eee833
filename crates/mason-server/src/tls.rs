//! HTTPS for the API listener (`--tls-cert FILE --tls-key FILE`, PEM, rustls with the
//! *ring* provider; no OpenSSL).
//!
//! [`TlsSource::load`] reads the pair once at start: a missing, unreadable or mismatched
//! pair is an error with the reason, which the binary treats as fatal. While serving,
//! [`TlsSource::watch`] checks both files every [`RELOAD_CHECK`]; when either changed
//! (size, modification time or inode) the pair is read again. A good pair is used for
//! every *new* connection from then on, while open connections keep the session they
//! have; a bad one is logged once, with the reason, and the previous pair stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// How often the certificate and key files are checked for changes.
pub const RELOAD_CHECK: Duration = Duration::from_millis(500);

/// The certificate chain and private key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// What identifies a version of the two files on disk.
type Fingerprint = [(u64, u64, Option<SystemTime>); 2];

fn fingerprint(files: &TlsFiles) -> Option<Fingerprint> {
    let one = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.ino(), m.len(), m.modified().ok()))
    };
    Some([one(&files.cert)?, one(&files.key)?])
}

/// The current certificate, shared with rustls.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl Current {
    fn get(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }
    fn set(&self, key: Arc<CertifiedKey>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = key;
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// A TLS server configuration whose certificate follows the files.
#[derive(Clone)]
pub struct TlsSource {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: Arc<Current>,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSource")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsSource {
    /// Read the pair; an error names the file and the reason.
    pub fn load(files: TlsFiles) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = read_pair(&files, &provider).map_err(Error::Tls)?;
        let current = Arc::new(Current(RwLock::new(key)));
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(format!("TLS configuration: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            files,
            provider,
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The files this source follows.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The acceptor for new connections (always with the newest good pair).
    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Read the pair again; on success new connections use it, on failure nothing
    /// changes and the reason is returned.
    pub fn reload(&self) -> std::result::Result<(), String> {
        let key = read_pair(&self.files, &self.provider)?;
        self.current.set(key);
        Ok(())
    }

    /// Follow the files until `shutdown`: reload when they change, log the outcome once
    /// per change.
    pub async fn watch(self, shutdown: CancellationToken) {
        let mut seen = fingerprint(&self.files);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(RELOAD_CHECK) => {}
            }
            let now = fingerprint(&self.files);
            if now == seen {
                continue;
            }
            seen = now;
            match self.reload() {
                Ok(()) => tracing::info!(
                    cert = %self.files.cert.display(),
                    key = %self.files.key.display(),
                    "TLS certificate reloaded; new connections use it"
                ),
                Err(reason) => tracing::error!(
                    %reason,
                    "TLS certificate not reloaded; the previous one stays in use"
                ),
            }
        }
    }
}

/// Read and check a certificate chain and its key.
fn read_pair(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> std::result::Result<Arc<CertifiedKey>, String> {
    let cert_path = files.cert.display();
    let key_path = files.key.display();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("cannot read TLS certificate {cert_path}: {e}"))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("cannot read TLS certificate {cert_path}: {e}"))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate {cert_path} holds no PEM certificate"
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("cannot read TLS private key {key_path}: {e}"))?;
    let certified = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("TLS certificate {cert_path} and key {key_path} do not match: {e}"))?;
    Ok(Arc::new(certified))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> TlsFiles {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let files = TlsFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    #[test]
    fn loads_a_pair_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let good = pair(dir.path(), "a");
        let other = pair(dir.path(), "b");
        TlsSource::load(good.clone()).unwrap();

        let missing = TlsFiles {
            cert: dir.path().join("nope.crt"),
            key: good.key.clone(),
        };
        let err = TlsSource::load(missing).unwrap_err().to_string();
        assert!(err.contains("nope.crt"), "{err}");

        let mismatched = TlsFiles {
            cert: good.cert.clone(),
            key: other.key.clone(),
        };
        let err = TlsSource::load(mismatched).unwrap_err().to_string();
        assert!(err.contains("do not match"), "{err}");

        std::fs::write(dir.path().join("garbage.crt"), "not a certificate").unwrap();
        let garbage = TlsFiles {
            cert: dir.path().join("garbage.crt"),
            key: good.key.clone(),
        };
        let err = TlsSource::load(garbage).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");

        let swapped = TlsFiles {
            cert: good.key.clone(),
            key: good.cert.clone(),
        };
        assert!(TlsSource::load(swapped).is_err());
    }

    #[test]
    fn a_bad_reload_keeps_the_old_pair() {
        let dir = tempfile::tempdir().unwrap();
        let files = pair(dir.path(), "a");
        let source = TlsSource::load(files.clone()).unwrap();
        let before = source.current.get();
        std::fs::write(&files.key, "broken").unwrap();
        let err = source.reload().unwrap_err();
        assert!(err.contains("private key"), "{err}");
        assert!(Arc::ptr_eq(&before, &source.current.get()));
        let fresh = pair(dir.path(), "c");
        std::fs::copy(&fresh.cert, &files.cert).unwrap();
        std::fs::copy(&fresh.key, &files.key).unwrap();
        source.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, &source.current.get()));
    }
}
