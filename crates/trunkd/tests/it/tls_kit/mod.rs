//! Certificates the tests make (a CA of their own, and leaf pairs it signs, with rcgen), and a
//! TLS-terminating TCP forwarder, to put TLS in front of a real service that speaks none here
//! (the Keystone and the RabbitMQ of the test machine).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A certificate authority of one test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and key in PEM, as files.
#[derive(Debug, Clone)]
pub struct PemPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// Writes the CA certificate to `dir/name`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.pem()).expect("write the CA");
        path
    }

    /// A pair for `names` (host names or IP addresses), signed by this CA, written to
    /// `dir/{stem}.crt` and `dir/{stem}.key`.
    pub fn issue(&self, names: &[&str], dir: &Path, stem: &str) -> PemPair {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or(stem));
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        let pair = PemPair {
            cert: dir.join(format!("{stem}.crt")),
            key: dir.join(format!("{stem}.key")),
        };
        std::fs::write(&pair.cert, cert.pem()).expect("write the certificate");
        std::fs::write(&pair.key, key.serialize_pem()).expect("write the key");
        pair
    }
}

/// A reqwest client that trusts `ca` only.
pub fn client_trusting(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("CA"))
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A rustls server configuration serving `pair`.
pub fn server_config(pair: &PemPair) -> Arc<rustls::ServerConfig> {
    let certs = CertificateDer::pem_file_iter(&pair.cert)
        .expect("certificate file")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(&pair.key).expect("key");
    Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config"),
    )
}

/// Accepts TLS on a free local port and forwards the plain bytes to `target`.
pub struct TlsProxy {
    pub port: u16,
    accept: JoinHandle<()>,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl TlsProxy {
    pub async fn start(target: SocketAddr, pair: &PemPair) -> TlsProxy {
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(pair));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the TLS proxy");
        let port = listener.local_addr().expect("address").port();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut inbound) = acceptor.accept(inbound).await else {
                        return;
                    };
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        TlsProxy { port, accept }
    }
}
