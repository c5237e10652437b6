//! The embedded store: SQLite in WAL mode through sqlx.
//!
//! Writers share one connection and begin with `BEGIN IMMEDIATE`, so write transactions are
//! serialised, in-process and across processes, and never deadlock on SQLite's lock upgrade.
//! API reads run on a few read-only connections of the store's own (`readers`), each read one
//! transaction over a committed snapshot.
//! Durability: `synchronous=NORMAL` in WAL mode. A crash of the process loses nothing that was
//! committed; a power loss may lose the last transactions but never corrupts the database.

/// SQL for a JSON array (as text) of the value (the rest of the arguments) over an
/// aggregate's rows in `$order`; `[]` when there are none. Used by `store/sql` to read a
/// resource's subports and tags in its own row.
macro_rules! json_array_agg {
    ($order:literal, $($value:tt)+) => {
        concat!("json_group_array(", $($value)+, " ORDER BY ", $order, ")")
    };
}

/// SQL for one JSON array of the comma-separated expressions `$items`.
macro_rules! json_tuple {
    ($items:literal) => {
        concat!("json_array(", $items, ")")
    };
}

mod errors;
#[path = "../sql/list.rs"]
#[allow(clippy::duplicate_mod)] // compiled once per backend on purpose, see store/sql
mod list;
#[path = "../sql/outbox.rs"]
#[allow(clippy::duplicate_mod)] // compiled once per backend on purpose, see store/sql
mod outbox;
mod readers;
#[path = "../sql/rows.rs"]
#[allow(clippy::duplicate_mod)] // compiled once per backend on purpose, see store/sql
mod rows;
#[path = "../sql/tx.rs"]
#[allow(clippy::duplicate_mod)] // compiled once per backend on purpose, see store/sql
mod tx;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::store::{PendingEvent, ResourceKind, SchemaState, Store, StoreError, StoreTx};
pub(crate) use errors::map_err;

/// The database the shared SQL code in `store/sql` is compiled for here.
type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
type DbConnection = sqlx::SqliteConnection;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Read connections for API requests (see `readers`).
const READERS: usize = 4;

pub struct SqliteStore {
    write_pool: SqlitePool,
    /// Health checks and outbox metrics.
    read_pool: SqlitePool,
    readers: readers::Readers,
}

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
        Ok(Self {
            write_pool,
            read_pool,
            readers: readers::Readers::new(read_options, READERS),
        })
    }

    /// The latest migration version this binary knows.
    pub fn expected_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        let expected = Self::expected_version();
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.write_pool)
        .await
        .map_err(map_err)?;
        if tables == 0 {
            let any: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_one(&self.write_pool)
            .await
            .map_err(map_err)?;
            return if any == 0 {
                Ok(SchemaState::Empty)
            } else {
                Err(StoreError::Schema(
                    "the database holds tables but no trunkd migration history".into(),
                ))
            };
        }
        let (applied, failed) = outbox::applied_migrations(&self.write_pool).await?;
        if failed > 0 {
            return Err(StoreError::Schema("a migration failed part-way".into()));
        }
        Ok(SchemaState::compare(applied, expected))
    }

    /// Applies every pending migration, each in its own transaction.
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.write_pool)
            .await
            .map_err(|e| StoreError::Schema(e.to_string()))
    }

    async fn close(&self) {
        self.write_pool.close().await;
        self.read_pool.close().await;
        self.readers.close().await;
    }

    async fn begin_write(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        // IMMEDIATE takes the write lock now (waiting up to the busy timeout), so writers in
        // other processes queue instead of failing on a lock upgrade.
        let tx = self
            .write_pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        Ok(Box::new(tx::SqlTx::new(Box::new(tx))))
    }

    async fn begin_read(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let tx = self.readers.begin().await?;
        Ok(Box::new(tx::SqlTx::new(Box::new(tx))))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.read_pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}

impl_sql_outbox!(SqliteStore, write_pool, read_pool);
