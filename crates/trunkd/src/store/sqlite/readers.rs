//! The embedded store's read connections: API reads, health probes, the drivers' snapshots and
//! the dispatcher's scans. A read takes an idle connection (opening one when none is idle, up
//! to the limit), begins a transaction (one snapshot for all its statements) unless it runs a
//! single statement, and, when dropped, rolls it back and puts the connection back. A
//! connection whose BEGIN or ROLLBACK fails is dropped, and a new one opened next time. In WAL
//! mode a reader never waits for the writer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::conn::SqliteConn;
use super::SqliteDialect;
use crate::store::pool::{PoolCounters, PoolStats};
use crate::store::StoreError;

pub(super) struct Readers {
    idle: Arc<Mutex<Vec<SqliteConn>>>,
    permits: Arc<Semaphore>,
    path: PathBuf,
    size: usize,
    counters: PoolCounters,
}

/// What a read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadScope {
    /// Several statements over one snapshot: a transaction.
    Snapshot,
    /// One statement, its own snapshot: no transaction.
    OneStatement,
}

/// A read on one connection; its transaction, if any, ends (rolled back) when dropped.
pub(super) struct ReadTx {
    conn: Option<SqliteConn>,
    scope: ReadScope,
    idle: Arc<Mutex<Vec<SqliteConn>>>,
    _permit: OwnedSemaphorePermit,
}

impl Readers {
    /// Up to `size` read-only connections to `path`, opened when first needed.
    pub(super) fn new(path: PathBuf, size: usize) -> Readers {
        Readers {
            idle: Arc::new(Mutex::new(Vec::with_capacity(size))),
            permits: Arc::new(Semaphore::new(size)),
            path,
            size,
            counters: PoolCounters::default(),
        }
    }

    /// Their stats as a pool's: a read holds a permit while it runs (no timeout: a read waits
    /// for one as long as it takes).
    pub(super) fn stats(&self, name: &'static str) -> PoolStats {
        let size = self.size as u64;
        let in_use = size.saturating_sub(self.permits.available_permits() as u64);
        let idle = self.idle.lock().map_or(0, |idle| idle.len() as u64);
        self.counters.stats(name, in_use, idle, size)
    }

    pub(super) async fn begin(&self, scope: ReadScope) -> Result<ReadTx, StoreError> {
        let (permit, waited) = self
            .counters
            .permit(&self.permits)
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        self.counters.note_take(waited);
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match idle {
            Some(conn) => conn,
            None => SqliteConn::open_reader(&self.path)?,
        };
        if scope == ReadScope::Snapshot {
            // On failure the connection is dropped here, not returned: it may be broken.
            conn.batch("BEGIN")?;
        }
        Ok(ReadTx {
            conn: Some(conn),
            scope,
            idle: self.idle.clone(),
            _permit: permit,
        })
    }

    /// Refuses new reads and closes the idle connections.
    pub(super) fn close(&self) {
        self.permits.close();
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

#[async_trait::async_trait]
impl crate::store::sql::Held<SqliteDialect> for ReadTx {
    fn conn(&mut self) -> &mut SqliteConn {
        match self.conn.as_mut() {
            Some(conn) => conn,
            None => unreachable!("a reader's connection is taken only when it is dropped"),
        }
    }

    /// Nothing to make durable; dropping ends the transaction.
    async fn finish(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}

impl Drop for ReadTx {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            // A connection that cannot end its transaction is dropped, not reused.
            if self.scope == ReadScope::OneStatement || conn.batch("ROLLBACK").is_ok() {
                if let Ok(mut idle) = self.idle.lock() {
                    idle.push(conn);
                }
            }
        }
    }
}
