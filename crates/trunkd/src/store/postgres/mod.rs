//! The scaled-out store: PostgreSQL through sqlx, for several stateless API servers on one
//! database; the [`Dialect`] the SQL store (`store/sql`) runs on for them.
//!
//! Write transactions run at SERIALIZABLE isolation: a check-then-write that another server's
//! commit invalidated fails with a serialization error, which the service runs again (bounded),
//! and the uniqueness rules are keys as in SQLite. Read transactions are REPEATABLE READ, READ
//! ONLY, so a response is one consistent snapshot. Nothing takes row locks (`FOR UPDATE`) or
//! advisory locks.

mod conn;
mod errors;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, Pool, Postgres};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::pool::{PoolCounters, PoolStats};
use crate::store::sql::{Dialect, Held, SqlStore};
use crate::store::StoreError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per server process.
pub const POOL_SIZE: usize = 16;

/// A pooled connection idle for this long is pinged before a request gets it (one that fails
/// is closed and another taken); a connection used more recently is handed over as it is.
/// sqlx pings every connection on every take by default: a round trip to the database
/// before each transaction and each one-statement read, one of a trunk show's two and two of
/// a create's eight (strace: 3 -> 2 messages to the database per show, the third being sqlx's
/// ping when a connection goes back to the pool, which it always sends, off the request's
/// path). What the ping is for, a connection the database dropped while it sat in the pool (a
/// restart, an idle-session timeout, a killed backend), happens to idle connections; one that
/// fails while in use fails its request with a 503 either way.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// Write transactions one server runs at once by default (setting `postgres_write_slots`).
/// SERIALIZABLE aborts a transaction whose reads another's writes invalidated, and a btree
/// read locks the whole leaf page it visits. Writes no longer read the outbox (the dispatcher
/// folds it) or trunk memberships (read before the transaction), and updates find room on
/// their page (migration 0010). Measured with `trunkd-bench --servers 2` (README: Benchmarks):
/// at 2 per server 0.14 % of create runs and 0.66 % of the mixed workload's are retried; at 4,
/// 0.21 % and 1.63 %; at 8, 0.60 % and 3.67 %; an earlier run at 16 filled the predicate lock
/// table (`max_pred_locks_per_transaction`), failing a request. Queueing writers in-process
/// keeps both away (`trunkd_write_transaction_conflicts_total` counts the retries); other
/// servers' writers still conflict and are retried as before. A server alone on its database
/// gains from more: at 8, creates from one server ran 1.8-1.9x as fast as at 2.
pub const DEFAULT_WRITE_SLOTS: usize = 2;

/// PostgreSQL's SQL and transactions; holds the server's write slots.
pub struct PostgresDialect {
    pool: Pool<Postgres>,
    writers: Arc<Semaphore>,
    /// Waits and timeouts of transactions' takes from the pool.
    counters: PoolCounters,
}

/// The store on a PostgreSQL database.
pub type PgStore = SqlStore<PostgresDialect>;

/// A write transaction holding one of the server's write slots until it ends.
struct SlottedTx {
    tx: sqlx::Transaction<'static, Postgres>,
    _slot: OwnedSemaphorePermit,
}

#[async_trait]
impl Held<PostgresDialect> for SlottedTx {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    async fn finish(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(errors::map_err)
    }
}

impl PgStore {
    /// Connects (lazily: the pool opens connections as requests need them, and recovers by
    /// itself when the database comes back). `url` is a `postgres://` URL; `write_slots`
    /// write transactions run at once, the others wait for one to end.
    ///
    /// Every connection plans without sequential scans where an index applies
    /// (`enable_seqscan = off`): a sequential scan in a SERIALIZABLE transaction takes a
    /// predicate lock on the whole table, which any concurrent insert into that table then
    /// conflicts with. Once a young database is analyzed its tables are small enough that the
    /// planner scans them whole; with the setting, writes on different trunks stopped
    /// aborting each other on those tables. Per connection rather than per transaction:
    /// PostgreSQL keeps a prepared statement's generic plan for the connection, and a plan made
    /// under another setting would be reused.
    pub fn connect(url: &str, write_slots: usize) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("database_url: {e}")))?
            .options([("enable_seqscan", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE as u32)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options);
        let dialect = PostgresDialect {
            pool,
            writers: Arc::new(Semaphore::new(write_slots.max(1))),
            counters: PoolCounters::default(),
        };
        Ok(SqlStore::new(dialect))
    }
}

impl PostgresDialect {
    /// A transaction begun by `begin`, straight from the pool (no write slot).
    async fn begin_unslotted(
        &self,
        begin: &'static str,
    ) -> Result<Box<dyn Held<Self>>, StoreError> {
        let pool = &self.pool;
        let tx = self
            .counters
            .take(pool, pool.begin_with(begin))
            .await
            .map_err(errors::map_err)?;
        Ok(Box::new(ReadTx(tx)))
    }
}

/// A connection from the pool in autocommit, for one statement.
struct Autocommit(sqlx::pool::PoolConnection<Postgres>);

#[async_trait]
impl Held<PostgresDialect> for Autocommit {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.0
    }

    /// Its one statement committed as it ran.
    async fn finish(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A read or bookkeeping transaction, straight from the pool.
struct ReadTx(sqlx::Transaction<'static, Postgres>);

#[async_trait]
impl Held<PostgresDialect> for ReadTx {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.0
    }

    async fn finish(self: Box<Self>) -> Result<(), StoreError> {
        self.0.commit().await.map_err(errors::map_err)
    }
}

#[async_trait]
impl Dialect for PostgresDialect {
    type Conn = PgConnection;

    const HAS_HISTORY: &'static str = "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";
    const TABLE_COUNT: &'static str = "SELECT COUNT(*) FROM information_schema.tables \
        WHERE table_schema = current_schema()";
    const WRITES_IN_WITH: bool = true;

    fn json_array_agg(value: &str, order: &str) -> String {
        format!("COALESCE(json_agg({value} ORDER BY {order}), '[]')::text")
    }

    fn json_tuple(items: &str) -> String {
        format!("json_build_array({items})")
    }

    fn expected_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Schema(e.to_string()))
    }

    async fn begin_write(&self) -> Result<Box<dyn Held<Self>>, StoreError> {
        let pool = &self.pool;
        let (slot, waited) = self
            .counters
            .permit(&self.writers)
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let tx = self
            .counters
            .take_after(
                waited,
                pool,
                pool.begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE"),
            )
            .await
            .map_err(errors::map_err)?;
        Ok(Box::new(SlottedTx { tx, _slot: slot }))
    }

    /// READ COMMITTED, and no write slot: the dispatcher's leases and marks, the prunes.
    async fn begin_bookkeeping(&self) -> Result<Box<dyn Held<Self>>, StoreError> {
        self.begin_unslotted("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
    }

    async fn begin_read(&self) -> Result<Box<dyn Held<Self>>, StoreError> {
        self.begin_unslotted("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
    }

    async fn begin_single(&self) -> Result<Box<dyn Held<Self>>, StoreError> {
        let pool = &self.pool;
        let conn = self
            .counters
            .take(pool, pool.acquire())
            .await
            .map_err(errors::map_err)?;
        Ok(Box::new(Autocommit(conn)))
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    /// One pool serves writes and reads.
    fn pools(&self) -> Vec<PoolStats> {
        vec![self.counters.of_pool("shared", &self.pool)]
    }

    /// One connection attempt of its own, outside the pool, for its error.
    async fn unavailable_cause(&self) -> Option<String> {
        let pool = &self.pool;
        let attempt = tokio::time::timeout(CAUSE_TIMEOUT, pool.connect_options().connect()).await;
        match attempt {
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
                None
            }
            Ok(Err(error)) => Some(root_message(&error)),
            Err(_) => Some(format!(
                "no answer to a connection attempt within {CAUSE_TIMEOUT:?}"
            )),
        }
    }
}

/// How long the attempt that looks for why the database is unreachable may take.
const CAUSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The innermost error's message: "Connection refused (os error 111)" rather than sqlx's
/// "error communicating with database" around it.
fn root_message(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}
