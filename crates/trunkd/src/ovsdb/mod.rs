//! An OVSDB client (RFC 7047 JSON-RPC over a unix socket or TCP): `transact`, `monitor`,
//! `echo`, `list_dbs`, with reconnection and keep-alive probes.
//!
//! Written here rather than taken from crates.io: the Rust OVSDB crates that exist (`ovsdb`
//! 0.0.x, `ovsdb-client` 0.0.1) are early single-author releases without reconnection or
//! keep-alive, and one pulls in a whole JSON-RPC framework. The protocol needs little: framing
//! ([`framing`]), request matching ([`connection`]) and a session that survives restarts of
//! the server ([`client`]).

pub mod client;
pub mod connection;
pub mod datum;
pub mod framing;
pub mod remote;

pub use client::{Client, Timing};
pub use connection::MonitorEvent;
pub use remote::Remote;

#[derive(Debug, Clone, thiserror::Error)]
pub enum OvsdbError {
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("not connected to the OVSDB server at {0}")]
    NotConnected(String),
    #[error("the OVSDB connection closed")]
    Disconnected,
    #[error("the OVSDB server did not answer: {0}")]
    Timeout(String),
    #[error("the OVSDB server refused the request: {0}")]
    Rpc(String),
    #[error("OVSDB protocol error: {0}")]
    Protocol(String),
    /// A transaction failed; `operation` is the index of the failed operation, `None` when
    /// the commit itself failed.
    #[error("OVSDB transaction failed at {}: {error}: {details}", match operation { Some(i) => format!("operation {i}"), None => "commit".to_string() })]
    Transaction {
        operation: Option<usize>,
        error: String,
        details: String,
    },
}

impl OvsdbError {
    /// Whether the transaction lost a race with another writer (a `wait` guard saw changed rows,
    /// or a unique index refused a row someone else inserted first): reading again may succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, OvsdbError::Transaction { error, .. }
            if error == "timed out" || error == "constraint violation")
    }
}
