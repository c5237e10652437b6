//! Where an OVSDB server listens, in the `unix:PATH` / `tcp:HOST:PORT` form that `ovn-nbctl
//! --db` and ovsdb-server's `--remote` use.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use tokio::io::{AsyncRead, AsyncWrite};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Unix(PathBuf),
    /// `host:port`, as `tokio::net::TcpStream::connect` takes it (`[v6]:port` for IPv6).
    Tcp(String),
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
        if let Some(address) = text.strip_prefix("tcp:") {
            let port_ok = address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(format!(
                    "'{text}' is not tcp:HOST:PORT, as in tcp:127.0.0.1:6641"
                ));
            }
            return Ok(Remote::Tcp(address.to_string()));
        }
        Err(format!(
            "'{text}' is neither unix:PATH nor tcp:HOST:PORT (ssl: is not supported)"
        ))
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Unix(path) => write!(f, "unix:{}", path.display()),
            Remote::Tcp(address) => write!(f, "tcp:{address}"),
        }
    }
}

impl Remote {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
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
    }

    #[test]
    fn refuses_what_it_cannot_open() {
        for bad in [
            "unix:",
            "tcp:6641",
            "tcp:host:notaport",
            "ssl:h:1",
            "/run/nb.sock",
        ] {
            let error = bad.parse::<Remote>().expect_err(bad);
            assert!(error.contains("unix") || error.contains("tcp"), "{error}");
        }
    }
}
