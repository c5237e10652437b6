//! The embedded store: SQLite in WAL mode, the [`Dialect`] the SQL store (`store/sql`) runs on
//! for one server.
//!
//! One connection writes (`writer`): a write transaction takes it, begins with
//! `BEGIN IMMEDIATE` (so writers in other processes queue on SQLite's lock rather than fail on
//! a lock upgrade) and runs its statements on the task's own thread (`conn.rs`), so the lock is
//! held for as long as SQLite takes to run them and no longer. Transactions wait for the writer
//! in the order they asked. Reads run on a few read-only connections of their own (`readers`),
//! each read one transaction over a committed snapshot, never waiting for the writer.
//!
//! The log is copied into the database file by a thread of its own (`checkpointer`), not by
//! the COMMIT that fills it.
//!
//! Durability: `synchronous=NORMAL` in WAL mode. A crash of the process loses nothing that was
//! committed; a power loss may lose the last transactions but never corrupts the database.
//! Migrations run through sqlx's migrator, on a connection of their own.

pub mod backup;
mod checkpointer;
mod conn;
mod errors;
mod readers;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::store::pool::PoolStats;
use crate::store::sql::{Dialect, Held, SqlStore};
use crate::store::StoreError;
pub use conn::SqliteConn;
use readers::ReadScope;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Read connections for API reads, probes and the dispatcher's scans (see `readers`).
const READERS: usize = 4;

/// SQLite's SQL and transactions; holds the store's connections.
pub struct SqliteDialect {
    path: PathBuf,
    writer: writer::Writer,
    readers: readers::Readers,
    /// Copies the log into the database file (`checkpointer`); taken when the store closes.
    checkpointer: std::sync::Mutex<Option<checkpointer::Checkpointer>>,
}

/// The store on one SQLite file.
pub type SqliteStore = SqlStore<SqliteDialect>;

impl SqliteStore {
    /// Opens (creating if needed) the database file. Does not touch the schema.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let writer = writer::Writer::new(SqliteConn::open_writer(path)?);
        let dialect = SqliteDialect {
            path: path.to_path_buf(),
            writer,
            readers: readers::Readers::new(path.to_path_buf(), READERS),
            checkpointer: std::sync::Mutex::new(Some(checkpointer::Checkpointer::start(path)?)),
        };
        Ok(SqlStore::new(dialect))
    }
}

#[async_trait]
impl Dialect for SqliteDialect {
    type Conn = SqliteConn;

    const HAS_HISTORY: &'static str = "SELECT EXISTS (SELECT 1 FROM sqlite_master \
        WHERE type = 'table' AND name = '_sqlx_migrations')";
    const TABLE_COUNT: &'static str =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
    const WRITES_IN_WITH: bool = false;

    fn json_array_agg(value: &str, order: &str) -> String {
        format!("json_group_array({value} ORDER BY {order})")
    }

    fn json_tuple(items: &str) -> String {
        format!("json_array({items})")
    }

    fn expected_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// On a connection of sqlx's own, while the writer is held (so no transaction of the
    /// store's runs in between).
    async fn migrate(&self) -> Result<(), StoreError> {
        let _held = self.writer.hold().await?;
        let url = format!("sqlite://{}", self.path.display());
        let unavailable =
            |e: sqlx::Error| StoreError::Unavailable(format!("{}: {e}", self.path.display()));
        let options = url
            .parse::<SqliteConnectOptions>()
            .map_err(unavailable)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        let outcome = MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Schema(e.to_string()));
        pool.close().await;
        outcome
    }

    async fn begin_write(&self) -> Result<Box<dyn Held<Self>>, StoreError> {
        Ok(Box::new(self.writer.begin().await?))
    }

    async fn begin_read(&self) -> Result<Box<dyn Held<Self>>, StoreError> {
        Ok(Box::new(self.readers.begin(ReadScope::Snapshot).await?))
    }

    async fn begin_single(&self) -> Result<Box<dyn Held<Self>>, StoreError> {
        Ok(Box::new(self.readers.begin(ReadScope::OneStatement).await?))
    }

    /// Readers first: a checkpoint cannot empty a log a reader still uses. Then
    /// `wal_checkpoint(TRUNCATE)`: every committed page into the main file, and the log cut to
    /// nothing. Without it a copy of `trunkd.db` taken after a clean stop can hold no tables at
    /// all, every commit still being in `trunkd.db-wal`.
    async fn close(&self) {
        self.readers.close();
        let checkpointer = self.checkpointer.lock().ok().and_then(|mut c| c.take());
        if let Some(mut checkpointer) = checkpointer {
            // Waits for a checkpoint under way, off the async workers.
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
        if let Err(error) = self.writer.checkpoint_and_close().await {
            tracing::warn!(%error, "could not checkpoint the database before closing it");
        }
    }

    /// The writer (one connection) and the readers.
    fn pools(&self) -> Vec<PoolStats> {
        vec![self.writer.stats("writes"), self.readers.stats("reads")]
    }
}
