//! The scaled-out store: PostgreSQL through sqlx, for several stateless API servers on one
//! database. It runs the same SQL as the SQLite store (`store/sql`).
//!
//! Write transactions run at SERIALIZABLE isolation: a check-then-write that another server's
//! commit invalidated fails with a serialization error, which the service runs again (bounded),
//! and the uniqueness rules are keys as in SQLite. Read transactions are REPEATABLE READ, READ
//! ONLY, so a response is one consistent snapshot.

/// SQL for a JSON array (as text) of the value (the rest of the arguments) over an
/// aggregate's rows in `$order`; `[]` when there are none. Used by `store/sql` to read a
/// resource's subports and tags in its own row.
macro_rules! json_array_agg {
    ($order:literal, $($value:tt)+) => {
        concat!("COALESCE(json_agg(", $($value)+, " ORDER BY ", $order, "), '[]')::text")
    };
}

/// SQL for one JSON array of the comma-separated expressions `$items`.
macro_rules! json_tuple {
    ($items:literal) => {
        concat!("json_build_array(", $items, ")")
    };
}

mod errors;
#[path = "../sql/list.rs"]
#[allow(clippy::duplicate_mod)] // compiled once per backend on purpose, see store/sql
mod list;
#[path = "../sql/outbox.rs"]
#[allow(clippy::duplicate_mod)] // compiled once per backend on purpose, see store/sql
mod outbox;
#[path = "../sql/rows.rs"]
#[allow(clippy::duplicate_mod)] // compiled once per backend on purpose, see store/sql
mod rows;
#[path = "../sql/tx.rs"]
#[allow(clippy::duplicate_mod)] // compiled once per backend on purpose, see store/sql
mod tx;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::store::{PendingEvent, ResourceKind, SchemaState, Store, StoreError, StoreTx};
pub(crate) use errors::map_err;

/// The database the shared SQL code in `store/sql` is compiled for here.
type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;
type DbConnection = sqlx::PgConnection;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per server process.
const POOL_SIZE: u32 = 16;

/// Write transactions one server runs at once. SERIALIZABLE aborts a transaction whose reads
/// another's writes invalidated, and while tables are small their index pages (the unit of
/// PostgreSQL's predicate locks) are shared by every row: 64 concurrent trunk creates aborted
/// each other until requests ran out of retries (trunkd-bench saw 503s, and still did now and
/// then with four slots). Queueing writers in-process keeps conflicts, and so retries, rare;
/// other servers' writers still conflict and are retried as before.
const CONCURRENT_WRITES: usize = 2;

pub struct PgStore {
    pool: PgPool,
    writers: std::sync::Arc<tokio::sync::Semaphore>,
}

/// A write transaction holding one of the server's write slots until it ends.
struct SlottedTx {
    tx: sqlx::Transaction<'static, Db>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

#[async_trait]
impl tx::Held for SlottedTx {
    fn conn(&mut self) -> &mut DbConnection {
        &mut self.tx
    }

    async fn finish(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(map_err)
    }
}

impl PgStore {
    /// Connects (lazily: the pool opens connections as requests need them, and recovers by
    /// itself when the database comes back). `url` is a `postgres://` URL.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(url)
            .map_err(|e| StoreError::Unavailable(format!("database_url: {e}")))?;
        Ok(Self {
            pool,
            writers: std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_WRITES)),
        })
    }

    pub fn expected_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    async fn begin_with(&self, statement: &'static str) -> Result<Box<dyn StoreTx>, StoreError> {
        let tx = self.pool.begin_with(statement).await.map_err(map_err)?;
        Ok(Box::new(tx::SqlTx::new(Box::new(tx))))
    }
}

#[async_trait]
impl Store for PgStore {
    async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        let has_history: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)?;
        if !has_history {
            let tables: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
            return if tables == 0 {
                Ok(SchemaState::Empty)
            } else {
                Err(StoreError::Schema(
                    "the database holds tables but no trunkd migration history".into(),
                ))
            };
        }
        let (applied, failed) = outbox::applied_migrations(&self.pool).await?;
        if failed > 0 {
            return Err(StoreError::Schema("a migration failed part-way".into()));
        }
        Ok(SchemaState::compare(applied, Self::expected_version()))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Schema(e.to_string()))
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let slot = self
            .writers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE")
            .await
            .map_err(map_err)?;
        Ok(Box::new(tx::SqlTx::new(Box::new(SlottedTx {
            tx,
            _slot: slot,
        }))))
    }

    async fn begin_read(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        self.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}

impl_sql_outbox!(PgStore, pool, pool);
