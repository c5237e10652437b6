//! The embedded store: SQLite in WAL mode through sqlx, the [`Dialect`] the SQL store
//! (`store/sql`) runs on for one server.
//!
//! Writers share one connection and begin with `BEGIN IMMEDIATE`, so write transactions are
//! serialised, in-process and across processes, and never deadlock on SQLite's lock upgrade.
//! API reads run on a few read-only connections of the store's own (`readers`), each read one
//! transaction over a committed snapshot.
//! Durability: `synchronous=NORMAL` in WAL mode. A crash of the process loses nothing that was
//! committed; a power loss may lose the last transactions but never corrupts the database.

pub mod backup;
mod errors;
mod readers;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{Pool, Sqlite};

use crate::store::pool::{PoolCounters, PoolStats};
use crate::store::sql::{Dialect, Held, RowsAffected, SqlStore};
use crate::store::StoreError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Read connections for API requests (see `readers`).
const READERS: usize = 4;

/// SQLite's SQL and transactions; holds the store's reader connections.
pub struct SqliteDialect {
    readers: readers::Readers,
    /// Waits and timeouts of write transactions' takes.
    writes: PoolCounters,
    /// Never counted: the sqlx read pool serves only probes and metrics.
    probes: PoolCounters,
}

/// The store on one SQLite file.
pub type SqliteStore = SqlStore<SqliteDialect>;

impl SqliteStore {
    /// Opens (creating if needed) the database file. Does not touch the schema.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Rows cross from SQLite's worker thread in batches this big; the default (50)
            // makes a page of 1,000 trunks stop and wake its reader twenty times.
            .row_buffer_size(1024);
        let write_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            // A local file needs no liveness probe on every checkout: the probe is a round
            // trip to the connection's worker thread, a third of a trunk show's cost.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        let read_options = options.read_only(true);
        let read_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .connect_with(read_options.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        let dialect = SqliteDialect {
            readers: readers::Readers::new(read_options, READERS),
            writes: PoolCounters::default(),
            probes: PoolCounters::default(),
        };
        Ok(SqlStore::new(write_pool, read_pool, dialect))
    }
}

impl RowsAffected for SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        SqliteQueryResult::rows_affected(self)
    }
}

#[async_trait]
impl Dialect for SqliteDialect {
    type Db = Sqlite;

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    const HAS_HISTORY: &'static str = "SELECT EXISTS (SELECT 1 FROM sqlite_master \
        WHERE type = 'table' AND name = '_sqlx_migrations')";
    const TABLE_COUNT: &'static str =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";

    fn json_array_agg(value: &str, order: &str) -> String {
        format!("json_group_array({value} ORDER BY {order})")
    }

    fn json_tuple(items: &str) -> String {
        format!("json_array({items})")
    }

    fn map_err(error: sqlx::Error) -> StoreError {
        errors::map_err(error)
    }

    async fn begin_write(&self, pool: &Pool<Sqlite>) -> Result<Box<dyn Held<Self>>, StoreError> {
        // IMMEDIATE takes the write lock now (waiting up to the busy timeout), so writers in
        // other processes queue instead of failing on a lock upgrade.
        let tx = self
            .writes
            .take(pool, pool.begin_with("BEGIN IMMEDIATE"))
            .await
            .map_err(errors::map_err)?;
        Ok(Box::new(tx))
    }

    /// On one of the readers, not on `pool` (the writers').
    async fn begin_read(&self, _pool: &Pool<Sqlite>) -> Result<Box<dyn Held<Self>>, StoreError> {
        Ok(Box::new(self.readers.begin().await?))
    }

    async fn close(&self) {
        self.readers.close().await;
    }

    /// `wal_checkpoint(TRUNCATE)`: every committed page into the main file, and the log cut to
    /// nothing. Without it a copy of `trunkd.db` taken after a clean stop can hold no tables at
    /// all, every commit still being in `trunkd.db-wal`.
    async fn checkpoint(&self, writes: &Pool<Sqlite>) -> Result<(), StoreError> {
        let (busy, log_pages, moved_pages): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(writes)
                .await
                .map_err(errors::map_err)?;
        if busy != 0 {
            return Err(StoreError::Unavailable(format!(
                "another connection kept the write-ahead log busy ({moved_pages} of \
                 {log_pages} pages moved)"
            )));
        }
        tracing::debug!(pages = moved_pages, "checkpointed the write-ahead log");
        Ok(())
    }

    /// The writers' pool, the API readers (`reads`) and the sqlx read pool of the health
    /// probes and metrics (`probes`).
    fn pools(&self, writes: &Pool<Sqlite>, reads: &Pool<Sqlite>) -> Vec<PoolStats> {
        vec![
            self.writes.of_pool("writes", writes),
            self.readers.stats("reads"),
            self.probes.of_pool("probes", reads),
        ]
    }
}
