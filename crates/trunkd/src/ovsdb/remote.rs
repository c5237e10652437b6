//! Where an OVSDB server listens, in the `unix:PATH` / `tcp:HOST:PORT` / `ssl:HOST:PORT` form
//! that `ovn-nbctl --db` and ovsdb-server's `--remote` use. An `ssl:` remote needs the client's
//! TLS material ([`crate::tls::OvsdbTls`]) attached before it can be opened.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::tls::OvsdbTls;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Unix(PathBuf),
    /// `host:port`, as `tokio::net::TcpStream::connect` takes it (`[v6]:port` for IPv6).
    Tcp(String),
    /// `host:port` over TLS, with the client's key, certificate and CA once attached.
    Ssl(String, Option<OvsdbTls>),
}

pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

impl FromStr for Remote {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path, as in unix:/run/ovn/ovnnb_db.sock".into());
            }
            return Ok(Remote::Unix(PathBuf::from(path)));
        }
        for (scheme, tls) in [("tcp", false), ("ssl", true)] {
            let Some(address) = text.strip_prefix(scheme).and_then(|t| t.strip_prefix(':')) else {
                continue;
            };
            let port_ok = address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(format!(
                    "'{text}' is not {scheme}:HOST:PORT, as in {scheme}:127.0.0.1:6641"
                ));
            }
            return Ok(if tls {
                Remote::Ssl(address.to_string(), None)
            } else {
                Remote::Tcp(address.to_string())
            });
        }
        Err(format!(
            "'{text}' is none of unix:PATH, tcp:HOST:PORT, ssl:HOST:PORT"
        ))
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Unix(path) => write!(f, "unix:{}", path.display()),
            Remote::Tcp(address) => write!(f, "tcp:{address}"),
            Remote::Ssl(address, _) => write!(f, "ssl:{address}"),
        }
    }
}

impl Remote {
    /// Whether this remote needs TLS material attached ([`Remote::with_tls`]).
    pub fn is_ssl(&self) -> bool {
        matches!(self, Remote::Ssl(..))
    }

    /// An `ssl:` remote with the client's TLS material; other remotes are left as they are.
    pub fn with_tls(self, tls: OvsdbTls) -> Remote {
        match self {
            Remote::Ssl(address, _) => Remote::Ssl(address, Some(tls)),
            other => other,
        }
    }

    /// Opens a stream to the server, split into halves.
    pub async fn open(&self) -> std::io::Result<(ReadHalf, WriteHalf)> {
        match self {
            Remote::Unix(path) => {
                let (read, write) = tokio::net::UnixStream::connect(path).await?.into_split();
                Ok((Box::new(read), Box::new(write)))
            }
            Remote::Tcp(address) => {
                let stream = tokio::net::TcpStream::connect(address).await?;
                stream.set_nodelay(true)?;
                let (read, write) = stream.into_split();
                Ok((Box::new(read), Box::new(write)))
            }
            Remote::Ssl(address, tls) => {
                let tls = tls.as_ref().ok_or_else(|| {
                    std::io::Error::other("an ssl: remote needs a private key, certificate and CA")
                })?;
                let stream = tokio::net::TcpStream::connect(address).await?;
                stream.set_nodelay(true)?;
                let stream = tls.connect(address, stream).await?;
                let (read, write) = tokio::io::split(stream);
                Ok((Box::new(read), Box::new(write)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            "unix:/run/ovn/nb.sock".parse(),
            Ok(Remote::Unix("/run/ovn/nb.sock".into()))
        );
        assert_eq!(
            "tcp:127.0.0.1:6641".parse(),
            Ok(Remote::Tcp("127.0.0.1:6641".into()))
        );
        assert_eq!(
            "tcp:[::1]:6641".parse(),
            Ok(Remote::Tcp("[::1]:6641".into()))
        );
        let ssl: Remote = "ssl:10.0.0.1:6641".parse().expect("ssl");
        assert_eq!(ssl, Remote::Ssl("10.0.0.1:6641".into(), None));
        assert_eq!(ssl.to_string(), "ssl:10.0.0.1:6641");
    }

    #[test]
    fn refuses_what_it_cannot_open() {
        for bad in [
            "unix:",
            "tcp:6641",
            "tcp:host:notaport",
            "ssl:6641",
            "/run/nb.sock",
        ] {
            let error = bad.parse::<Remote>().expect_err(bad);
            assert!(
                error.contains("unix") || error.contains(":HOST:PORT"),
                "{error}"
            );
        }
    }
}
