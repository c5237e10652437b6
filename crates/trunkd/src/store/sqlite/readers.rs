//! The embedded store's read connections for API reads, kept here rather than in an sqlx pool.
//!
//! Why by hand: every sqlx connection runs on a worker thread of its own, and each command is a
//! round trip to it. sqlx's pool pings a connection each time it comes back, and a read
//! transaction's COMMIT is awaited, so a trunk show cost four round trips of which one did the
//! work (issue 8's profile: thread hand-offs were the largest cost). Here a read takes an idle
//! connection, begins a transaction (one snapshot for all its statements), and when dropped
//! queues a ROLLBACK without waiting (a read transaction wrote nothing) and puts the
//! connection back. A connection whose BEGIN fails is dropped, and a new one opened next time.

use std::sync::{Arc, Mutex};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Database, TransactionManager};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::errors::map_err;
use super::SqliteDialect;
use crate::store::pool::{PoolCounters, PoolStats};
use crate::store::StoreError;

type Manager = <sqlx::Sqlite as Database>::TransactionManager;

pub(super) struct Readers {
    idle: Arc<Mutex<Vec<SqliteConnection>>>,
    permits: Arc<Semaphore>,
    options: SqliteConnectOptions,
    size: usize,
    counters: PoolCounters,
}

/// A read transaction on one connection; ends (rolled back) when dropped.
pub(super) struct ReadTx {
    conn: Option<SqliteConnection>,
    idle: Arc<Mutex<Vec<SqliteConnection>>>,
    _permit: OwnedSemaphorePermit,
}

impl Readers {
    /// Up to `size` read-only connections, opened when first needed.
    pub(super) fn new(options: SqliteConnectOptions, size: usize) -> Readers {
        Readers {
            idle: Arc::new(Mutex::new(Vec::with_capacity(size))),
            permits: Arc::new(Semaphore::new(size)),
            options,
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

    pub(super) async fn begin(&self) -> Result<ReadTx, StoreError> {
        self.counters
            .note_take(self.permits.available_permits() == 0);
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.options.connect().await.map_err(map_err)?,
        };
        // On failure the connection is dropped here, not returned: it may be broken.
        Manager::begin(&mut conn, None).await.map_err(map_err)?;
        Ok(ReadTx {
            conn: Some(conn),
            idle: self.idle.clone(),
            _permit: permit,
        })
    }

    /// Refuses new reads and closes the idle connections.
    pub(super) async fn close(&self) {
        self.permits.close();
        let idle: Vec<SqliteConnection> = match self.idle.lock() {
            Ok(mut idle) => idle.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for conn in idle {
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

#[async_trait::async_trait]
impl crate::store::sql::Held<SqliteDialect> for ReadTx {
    fn conn(&mut self) -> &mut SqliteConnection {
        match self.conn.as_mut() {
            Some(conn) => conn,
            None => unreachable!("a reader's connection is taken only when it is dropped"),
        }
    }

    /// Nothing to make durable; dropping queues the ROLLBACK.
    async fn finish(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}

impl Drop for ReadTx {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            Manager::start_rollback(&mut conn);
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(conn);
            }
        }
    }
}
