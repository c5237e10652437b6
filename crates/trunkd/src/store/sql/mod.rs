//! The SQL store: one implementation of [`Store`], [`Outbox`] and [`StoreTx`] for every SQL
//! database, generic over a [`Dialect`] that holds what differs between them (the connections,
//! the SQL text of JSON aggregation, error codes, how transactions begin, the migrations).
//! `store/sqlite` and `store/postgres` are the two dialects.
//!
//! Statements run through one seam, `exec.rs`: PostgreSQL's through sqlx, SQLite's through
//! rusqlite on the calling thread (`store/sqlite/conn.rs`). Rows are decoded through the seam's
//! typed columns, borrowing text (JSON aggregates, ids) from the row where the driver allows.

mod appended;
mod builder;
pub mod exec;
mod ipam;
pub(super) mod list;
pub(super) mod outbox;
pub(super) mod rows;
pub(super) mod tx;

use std::sync::Arc;

use async_trait::async_trait;

use crate::ids::{PortId, TrunkId};
use crate::model::Trunk;
use crate::store::pool::PoolStats;
use crate::store::{
    DriverReads, Membership, OneRead, Outbox, ReadOnly, SchemaState, Snapshot, Store, StoreError,
    StoreTx,
};
use exec::{get, SqlConn, Stmt};
pub use tx::{Held, SqlTx};

/// What differs between the SQL databases the store runs on. An instance holds the
/// database's connections (SQLite's writer and readers, PostgreSQL's pool).
#[async_trait]
pub trait Dialect: Send + Sync + Sized + 'static {
    /// A connection of this database, as the seam sees it.
    type Conn: SqlConn;

    /// One row, one boolean: whether sqlx's migration history table exists.
    const HAS_HISTORY: &'static str;
    /// One row, one count: the tables of the database trunkd would use, whatever they are.
    const TABLE_COUNT: &'static str;
    /// Whether a `WITH` may hold an `INSERT` (PostgreSQL's data-modifying `WITH`), so that
    /// inserts into two tables go in one statement.
    const WRITES_IN_WITH: bool;

    /// SQL for a JSON array (as text) of `value` over an aggregate's rows in `order`; `[]` when
    /// there are none. Used to read a resource's subports and tags in its own row.
    fn json_array_agg(value: &str, order: &str) -> String;

    /// SQL for one JSON array of the comma-separated expressions `items`.
    fn json_tuple(items: &str) -> String;

    /// The newest migration this binary has.
    fn expected_version() -> i64;

    /// Applies every pending migration, each in its own transaction.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Begins a transaction for a user operation that writes.
    async fn begin_write(&self) -> Result<Box<dyn Held<Self>>, StoreError>;

    /// Begins a transaction for bookkeeping whose statements are each safe on their own
    /// (upserts of leases, marks by id, deletes by age): it checks no rule against what it
    /// reads, so it needs no serializable isolation (and takes no predicate locks).
    async fn begin_bookkeeping(&self) -> Result<Box<dyn Held<Self>>, StoreError> {
        self.begin_write().await
    }

    /// Begins a read-only transaction over one consistent snapshot.
    async fn begin_read(&self) -> Result<Box<dyn Held<Self>>, StoreError>;

    /// A read connection in autocommit, for one statement ([`crate::store::OneRead`]): no
    /// BEGIN is sent and nothing is rolled back.
    async fn begin_single(&self) -> Result<Box<dyn Held<Self>>, StoreError>;

    /// Closes the connections, leaving the database whole (SQLite moves its write-ahead log
    /// into the main file first, so that a copy of that file alone holds every commit).
    async fn close(&self);

    /// Why the database cannot be reached, when its own error does not say (sqlx's pool
    /// retries a refused connection until it times out, and reports only the timeout).
    async fn unavailable_cause(&self) -> Option<String> {
        None
    }

    /// The connection pools' stats.
    fn pools(&self) -> Vec<PoolStats>;
}

/// The store over one SQL database. `SqliteStore` and `PgStore` are its two instances, each
/// with its own constructor.
pub struct SqlStore<D: Dialect> {
    dialect: D,
    /// The column lists in this dialect's SQL.
    columns: Arc<rows::Columns>,
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(dialect: D) -> Self {
        Self {
            dialect,
            columns: Arc::new(rows::Columns::new::<D>()),
        }
    }

    /// The latest migration version this binary knows.
    pub fn expected_version() -> i64 {
        D::expected_version()
    }

    async fn write_tx(&self) -> Result<SqlTx<D>, StoreError> {
        tracing::debug!("began a write transaction");
        Ok(SqlTx::new(
            self.dialect.begin_write().await?,
            self.columns.clone(),
        ))
    }

    async fn read_tx(&self) -> Result<SqlTx<D>, StoreError> {
        tracing::debug!("began a read transaction");
        Ok(SqlTx::new(
            self.dialect.begin_read().await?,
            self.columns.clone(),
        ))
    }

    /// A connection for one statement outside a transaction ([`OneRead`]).
    async fn single(&self) -> Result<Single<D>, StoreError> {
        Ok(Single(SqlTx::new(
            self.dialect.begin_single().await?,
            self.columns.clone(),
        )))
    }

    /// A bookkeeping transaction ([`Dialect::begin_bookkeeping`]).
    async fn bookkeeping_tx(&self) -> Result<SqlTx<D>, StoreError> {
        Ok(SqlTx::new(
            self.dialect.begin_bookkeeping().await?,
            self.columns.clone(),
        ))
    }

    /// Runs one bookkeeping statement in a transaction of its own.
    async fn execute_alone(&self, statement: Stmt) -> Result<u64, StoreError> {
        let mut tx = self.bookkeeping_tx().await?;
        let changed = statement.execute(tx.conn()).await?;
        tx.finish().await?;
        Ok(changed)
    }
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    SqlStore<D>: Outbox,
{
    async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        let mut tx = self.read_tx().await?;
        let has_history: bool = Stmt::new(D::HAS_HISTORY).scalar(tx.conn()).await?;
        if !has_history {
            let tables: i64 = Stmt::new(D::TABLE_COUNT).scalar(tx.conn()).await?;
            return if tables == 0 {
                Ok(SchemaState::Empty)
            } else {
                Err(StoreError::Schema(
                    "the database holds tables but no trunkd migration history".into(),
                ))
            };
        }
        let (applied, failed) = Stmt::new(
            "SELECT COALESCE(MAX(version), 0) AS v, \
             COALESCE(SUM(CASE WHEN success THEN 0 ELSE 1 END), 0) AS failed \
             FROM _sqlx_migrations",
        )
        .fetch_optional(tx.conn(), &|row| Ok((get(row, "v")?, get(row, "failed")?)))
        .await?
        .unwrap_or((0, 0));
        if failed > 0 {
            return Err(StoreError::Schema("a migration failed part-way".into()));
        }
        Ok(SchemaState::compare(applied, Self::expected_version()))
    }

    async fn prune_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.execute_alone(Stmt::new("DELETE FROM trunk_audit WHERE at_ms < $1").bind(before_ms))
            .await
    }

    async fn prune_idempotency_keys(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.execute_alone(
            Stmt::new("DELETE FROM idempotency_keys WHERE created_at_ms < $1").bind(before_ms),
        )
        .await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.dialect.migrate().await?;
        let mut tx = self.write_tx().await?;
        let unseeded = ipam::unseeded_subnets(tx.conn()).await?;
        for (subnet, ranges) in &unseeded {
            crate::store::ipam::IpamTx::seed_free_ranges(&mut tx, *subnet, ranges).await?;
        }
        tx.finish().await?;
        if !unseeded.is_empty() {
            tracing::info!(
                subnets = unseeded.len(),
                "wrote the free address ranges of subnets created before IPAM"
            );
        }
        Ok(())
    }

    async fn close(&self) {
        self.dialect.close().await;
    }

    fn expected_schema_version(&self) -> i64 {
        Self::expected_version()
    }

    async fn explain_unavailable(&self, error: StoreError) -> StoreError {
        match error {
            StoreError::Unavailable(message) => match self.dialect.unavailable_cause().await {
                Some(cause) if !message.contains(&cause) => {
                    StoreError::Unavailable(format!("{message}: {cause}"))
                }
                _ => StoreError::Unavailable(message),
            },
            other => other,
        }
    }

    async fn begin_write(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        Ok(Box::new(self.write_tx().await?))
    }

    async fn begin_read(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        Ok(Box::new(self.read_tx().await?))
    }

    async fn read_once(&self) -> Result<Box<dyn OneRead>, StoreError> {
        Ok(Box::new(self.single().await?))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Box::new(self.single().await?).ping().await
    }

    fn driver_reads(self: Arc<Self>) -> Arc<dyn DriverReads> {
        self
    }

    fn pools(&self) -> Vec<PoolStats> {
        self.dialect.pools()
    }
}

/// A connection in autocommit that runs one of [`StoreTx`]'s reads ([`OneRead`]).
struct Single<D: Dialect>(SqlTx<D>);

#[async_trait]
impl<D: Dialect> OneRead for Single<D> {
    async fn trunk(mut self: Box<Self>, id: TrunkId) -> Result<Option<Trunk>, StoreError> {
        self.0.get_trunk(id).await
    }

    async fn memberships(
        mut self: Box<Self>,
        ports: &[PortId],
    ) -> Result<Vec<Membership>, StoreError> {
        self.0.memberships(ports).await
    }

    async fn ping(mut self: Box<Self>) -> Result<(), StoreError> {
        let _: i64 = Stmt::new("SELECT 1").scalar(self.0.conn()).await?;
        Ok(())
    }
}

#[async_trait]
impl<D: Dialect> DriverReads for SqlStore<D> {
    async fn snapshot(&self) -> Result<Box<dyn Snapshot>, StoreError> {
        Ok(Box::new(ReadOnly(Box::new(self.read_tx().await?))))
    }
}
