//! TLS material from PEM files, for the API listener, the Keystone client's CA bundle and the
//! OVSDB `ssl:` client ([`OvsdbTls`]).
//!
//! One place reads certificates, keys and CA bundles so that every problem with them reads
//! the same way and names the setting the file came from: a file that cannot be read, one
//! with no certificate (or no key) in it, a key that is not the certificate's. The listener's
//! pair can be read again while serving ([`ServerTls::reload`], on SIGHUP): a bad new pair
//! keeps the old one in use.
//!
//! rustls with the `ring` provider throughout (reqwest and lapin use the same rustls), so no
//! C toolchain or OpenSSL is needed to build trunkd.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS file that cannot be used, by the setting that named it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("setting {setting}: {path}: {message}")]
pub struct TlsError {
    pub setting: &'static str,
    pub path: String,
    pub message: String,
}

/// Where a certificate and its key are, and the settings that name them (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_setting: &'static str,
    pub key_setting: &'static str,
}

fn error(setting: &'static str, path: &Path, message: impl Into<String>) -> TlsError {
    TlsError {
        setting,
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| error(setting, path, format!("cannot be read: {e}")))
}

/// Every certificate of a PEM file; at least one.
pub fn certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(setting, path)?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(setting, path, format!("is not valid PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(error(
            setting,
            path,
            "holds no certificate (expected -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certificates)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn private_key(setting: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(setting, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => error(
            setting,
            path,
            "holds no private key (expected -----BEGIN PRIVATE KEY-----)",
        ),
        e => error(
            setting,
            path,
            format!("is not a valid PEM private key: {e}"),
        ),
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its key, checked to belong together.
fn certified_key(files: &KeyPairFiles) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
    let chain = certificates(files.cert_setting, &files.cert)?;
    let key = private_key(files.key_setting, &files.key)?;
    let certified = rustls::sign::CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
        let message = match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "is not the key of the certificate in {} ({})",
                files.cert.display(),
                files.cert_setting
            ),
            e => format!("cannot be used: {e}"),
        };
        error(files.key_setting, &files.key, message)
    })?;
    Ok(Arc::new(certified))
}

/// The API listener's TLS: its certificate and key, replaceable while serving.
#[derive(Debug)]
pub struct ServerTls {
    files: KeyPairFiles,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl ServerTls {
    /// Reads and checks the pair.
    pub fn load(files: KeyPairFiles) -> Result<ServerTls, TlsError> {
        let config = Self::server_config(&files)?;
        Ok(ServerTls {
            files,
            current: RwLock::new(config),
        })
    }

    fn server_config(files: &KeyPairFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let key = certified_key(files)?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| error(files.cert_setting, &files.cert, e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Reads the files again; on success new connections use the new pair, on failure the
    /// old one stays and the reason is returned.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Self::server_config(&self.files)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// What a newly accepted connection is served with.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self.current.read().unwrap_or_else(|e| e.into_inner());
        tokio_rustls::TlsAcceptor::from(config.clone())
    }
}

/// A client's TLS for an OVSDB `ssl:` remote, as OVS and OVN make it: the client presents its
/// own certificate, and the server's must be signed by the given CA. Like OVS's own clients it
/// does not match the server's certificate to the host name: `ovs-pki` certificates name no
/// host, and the CA is one kept for the OVN deployment alone.
#[derive(Clone)]
pub struct OvsdbTls(Arc<rustls::ClientConfig>);

impl std::fmt::Debug for OvsdbTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OvsdbTls")
    }
}

/// Two are equal when they are the same loaded material.
impl PartialEq for OvsdbTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for OvsdbTls {}

impl OvsdbTls {
    /// Reads the client's pair and the CA bundle.
    pub fn load(
        files: &KeyPairFiles,
        ca: &Path,
        ca_setting: &'static str,
    ) -> Result<OvsdbTls, TlsError> {
        let key = certified_key(files)?;
        let mut roots = rustls::RootCertStore::empty();
        for certificate in certificates(ca_setting, ca)? {
            roots
                .add(certificate)
                .map_err(|e| error(ca_setting, ca, format!("holds an unusable CA: {e}")))?;
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .map_err(|e| error(ca_setting, ca, e.to_string()))?;
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| error(ca_setting, ca, e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SignedByCa(verifier)))
            .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)));
        Ok(OvsdbTls(Arc::new(config)))
    }

    /// The TLS handshake over `stream`, to `address` (`host:port`).
    pub async fn connect<S>(
        &self,
        address: &str,
        stream: S,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<S>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let host = address
            .rsplit_once(':')
            .map_or(address, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        tokio_rustls::TlsConnector::from(self.0.clone())
            .connect(name, stream)
            .await
    }
}

/// The chain checks of webpki (signed by a trusted CA, in date, fit for a server) without its
/// host-name check, which comes last: a certificate that fails only that is accepted.
#[derive(Debug)]
struct SignedByCa(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for SignedByCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        let (cert_path, key_path) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).expect("write");
        std::fs::write(&key_path, key.serialize_pem()).expect("write");
        (cert_path, key_path)
    }

    fn files(cert: &Path, key: &Path) -> KeyPairFiles {
        KeyPairFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            cert_setting: "tls_cert_file",
            key_setting: "tls_key_file",
        }
    }

    #[test]
    fn a_matching_pair_loads() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = pair(dir.path(), "a");
        assert!(ServerTls::load(files(&cert, &key)).is_ok());
    }

    #[test]
    fn each_bad_file_names_its_setting_and_why() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert_a, key_a) = pair(dir.path(), "a");
        let (_, key_b) = pair(dir.path(), "b");
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem at all\n").expect("write");
        let cases = [
            (files(&missing, &key_a), "tls_cert_file", "cannot be read"),
            (files(&empty, &key_a), "tls_cert_file", "no certificate"),
            (files(&key_a, &key_a), "tls_cert_file", "no certificate"),
            (files(&cert_a, &missing), "tls_key_file", "cannot be read"),
            (files(&cert_a, &cert_a), "tls_key_file", "no private key"),
            (files(&cert_a, &key_b), "tls_key_file", "is not the key"),
        ];
        for (files, setting, why) in cases {
            let error = ServerTls::load(files.clone()).expect_err("refused");
            assert_eq!(error.setting, setting, "{files:?}: {error}");
            assert!(error.to_string().contains(why), "{files:?}: {error}");
        }
    }

    #[test]
    fn a_bad_reload_keeps_the_old_pair() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = pair(dir.path(), "a");
        let tls = ServerTls::load(files(&cert, &key)).expect("load");
        let before = tls.current.read().expect("lock").clone();
        std::fs::write(&key, "garbage").expect("write");
        assert!(tls.reload().is_err());
        assert!(Arc::ptr_eq(&before, &tls.current.read().expect("lock")));
        let (cert_b, key_b) = pair(dir.path(), "b");
        std::fs::copy(cert_b, &cert).expect("copy");
        std::fs::copy(key_b, &key).expect("copy");
        tls.reload().expect("a good pair reloads");
        assert!(!Arc::ptr_eq(&before, &tls.current.read().expect("lock")));
    }
}
