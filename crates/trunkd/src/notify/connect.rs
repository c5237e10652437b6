//! Opens connections to the broker, over TLS for `amqps://` URLs. lapin's transport is built
//! without a root store of its own, so this module decides what a connection trusts: the CAs
//! of `rabbitmq_cafile` only, or else the system's trusted CAs.

use std::path::PathBuf;
use std::sync::OnceLock;

use lapin::tcp::OwnedTLSConfig;
use lapin::{Connection, ConnectionProperties, DefaultConnectionBuilder};

/// Where the broker is and which CAs may sign its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// `amqp://` or `amqps://USER:PASSWORD@HOST:PORT/VHOST`.
    pub url: String,
    /// PEM CA bundle trusted for `amqps://` instead of the system's CAs.
    pub cafile: Option<PathBuf>,
}

/// Why a connection could not be opened. Neither variant carries the URL's password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no CA to trust: {0}")]
    Trust(String),
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
}

impl Broker {
    pub fn new(url: String, cafile: Option<PathBuf>) -> Self {
        Self { url, cafile }
    }

    /// The URL with its password hidden, for logs and errors.
    pub fn redacted(&self) -> String {
        super::redact(&self.url)
    }

    fn is_tls(&self) -> bool {
        self.url.starts_with("amqps://")
    }

    /// Opens a connection (TLS for `amqps://`).
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        let mut builder = DefaultConnectionBuilder::new()?
            .with_uri_str(self.url.clone())
            .with_properties(ConnectionProperties::default());
        if self.is_tls() {
            builder = builder.with_tls_config(OwnedTLSConfig {
                identity: None,
                cert_chain: Some(self.trusted_roots()?),
            });
        }
        Ok(builder.connect().await?)
    }

    /// The PEM certificates a TLS connection trusts. The cafile is read at each connection,
    /// so a renewed bundle is picked up without a restart.
    fn trusted_roots(&self) -> Result<String, ConnectError> {
        match &self.cafile {
            Some(path) => crate::tls::certificates("rabbitmq_cafile", path)
                .map(|certificates| {
                    to_pem(certificates.iter().map(|certificate| certificate.as_ref()))
                })
                .map_err(|e| {
                    ConnectError::Trust(format!("{} {}: {}", e.setting, e.path, e.message))
                }),
            None => system_roots().clone().map_err(ConnectError::Trust),
        }
    }
}

/// The system's trusted CAs as PEM, loaded once.
fn system_roots() -> &'static Result<String, String> {
    static ROOTS: OnceLock<Result<String, String>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        if loaded.certs.is_empty() {
            let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
            return Err(format!(
                "the system has no trusted CA certificates ({}); set rabbitmq_cafile",
                errors.join("; ")
            ));
        }
        Ok(to_pem(
            loaded.certs.iter().map(|certificate| certificate.as_ref()),
        ))
    })
}

fn to_pem<'a>(ders: impl Iterator<Item = &'a [u8]>) -> String {
    let blocks: Vec<pem::Pem> = ders
        .map(|der| pem::Pem::new("CERTIFICATE", der.to_vec()))
        .collect();
    pem::encode_many(&blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cafile_is_the_only_trust_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ca.pem");
        let key = rcgen::KeyPair::generate().expect("key");
        let ca = rcgen::CertificateParams::new(vec!["ca".into()])
            .expect("params")
            .self_signed(&key)
            .expect("ca");
        std::fs::write(&path, ca.pem()).expect("write");
        let broker = Broker::new("amqps://u:p@h/%2f".into(), Some(path.clone()));
        let roots = broker.trusted_roots().expect("roots");
        let parsed = pem::parse_many(&roots).expect("pem");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].contents(), ca.der().as_ref());

        std::fs::remove_file(&path).expect("remove");
        let error = broker.trusted_roots().expect_err("missing").to_string();
        assert!(error.contains("rabbitmq_cafile"), "{error}");
        assert!(!error.contains(":p@"), "{error}");
    }
}
