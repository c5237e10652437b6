//! The SQL store: one implementation of [`Store`], [`Outbox`] and [`StoreTx`] for every SQL
//! database, generic over a [`Dialect`] that holds what differs between them (the sqlx driver,
//! the SQL text of JSON aggregation, error codes, how transactions begin, the migrations).
//! `store/sqlite` and `store/postgres` are the two dialects.
//!
//! Why generic over sqlx's native drivers rather than one codebase on sqlx's `Any` driver: `Any`
//! copies every value of every row into owned values before it is decoded (a page of 1,000
//! trunks would copy each JSON column once more, where `rows.rs` borrows it from the row), and
//! it opens connections from a URL, which loses the SQLite options that are not URL parameters
//! (`row_buffer_size`, the read-only reader connections of `store/sqlite/readers.rs`). Here
//! each database runs its own driver, monomorphised, with its own statement cache.
//!
//! The SQL that both databases accept (`$N` placeholders, `ON CONFLICT ... DO UPDATE`,
//! `DELETE ... RETURNING`, standard types) is written once in `tx.rs`, `list.rs` and
//! `outbox.rs`; what is not is asked of the dialect.
//!
//! The `where` clauses on the generic items repeat what this code needs of sqlx's driver (run
//! statements on a connection, bind and decode text, integers and booleans): Rust does not let
//! a trait carry such bounds for its users, so each generic item states those it uses.

mod builder;
mod ipam;
pub(super) mod list;
pub(super) mod outbox;
pub(super) mod rows;
pub(super) mod tx;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::database::HasStatementCache;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::store::pool::PoolStats;
use crate::store::{
    DriverReads, Outbox, ReadOnly, SchemaState, Snapshot, Store, StoreError, StoreTx,
};
pub use tx::{Held, SqlTx};

/// A connection of the dialect's database.
pub(crate) type Conn<D> = <<D as Dialect>::Db as Database>::Connection;
/// A row of the dialect's database.
pub(crate) type DbRow<D> = <<D as Dialect>::Db as Database>::Row;

/// A Rust type the driver binds and decodes as itself (a shorthand in the bounds below).
pub trait SqlValue<DB: Database>:
    for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>
{
}

impl<DB: Database, T> SqlValue<DB> for T where
    T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>
{
}

/// How many rows a statement changed (each driver's result has it, under no common trait).
pub trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

/// What differs between the SQL databases the store runs on. An instance also holds the
/// database's own transaction machinery (SQLite's reader connections, PostgreSQL's write slots).
#[async_trait]
pub trait Dialect: Send + Sync + Sized + 'static {
    /// The sqlx driver.
    type Db: Database<Connection: Migrate, QueryResult: RowsAffected> + HasStatementCache;

    /// The migrations of this database's schema.
    fn migrator() -> &'static Migrator;

    /// One row, one boolean: whether sqlx's migration history table exists.
    const HAS_HISTORY: &'static str;
    /// One row, one count: the tables of the database trunkd would use, whatever they are.
    const TABLE_COUNT: &'static str;

    /// SQL for a JSON array (as text) of `value` over an aggregate's rows in `order`; `[]` when
    /// there are none. Used to read a resource's subports and tags in its own row.
    fn json_array_agg(value: &str, order: &str) -> String;

    /// SQL for one JSON array of the comma-separated expressions `items`.
    fn json_tuple(items: &str) -> String;

    /// Translates the driver's errors, naming violated rules by what they mean.
    fn map_err(error: sqlx::Error) -> StoreError;

    /// Begins a transaction for a user operation that writes.
    async fn begin_write(&self, pool: &Pool<Self::Db>) -> Result<Box<dyn Held<Self>>, StoreError>;

    /// Begins a read-only transaction over one consistent snapshot.
    async fn begin_read(&self, pool: &Pool<Self::Db>) -> Result<Box<dyn Held<Self>>, StoreError>;

    /// Closes what the dialect holds besides the store's pools.
    async fn close(&self);

    /// Makes the database file whole before the store closes (SQLite moves its write-ahead log
    /// into the main file, so that a copy of that file alone holds every commit).
    async fn checkpoint(&self, _writes: &Pool<Self::Db>) -> Result<(), StoreError> {
        Ok(())
    }

    /// Why `pool` cannot reach the database, when its own error does not say (sqlx's pool
    /// retries a refused connection until it times out, and reports only the timeout).
    async fn unavailable_cause(&self, _pool: &Pool<Self::Db>) -> Option<String> {
        None
    }

    /// The pools' stats: `writes` and `reads` are the store's pools (one pool, twice, where
    /// the database has no reason to keep them apart), beside the dialect's own.
    fn pools(&self, writes: &Pool<Self::Db>, reads: &Pool<Self::Db>) -> Vec<PoolStats>;
}

/// The store over one SQL database. `SqliteStore` and `PgStore` are its two instances, each
/// with its own constructor.
pub struct SqlStore<D: Dialect> {
    /// User writes and the dispatcher's outbox statements.
    writes: Pool<D::Db>,
    /// Health checks and outbox metrics (the same pool as `writes` where the database has no
    /// reason to keep them apart).
    reads: Pool<D::Db>,
    dialect: D,
    /// The column lists in this dialect's SQL.
    columns: Arc<rows::Columns>,
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(writes: Pool<D::Db>, reads: Pool<D::Db>, dialect: D) -> Self {
        Self {
            writes,
            reads,
            dialect,
            columns: Arc::new(rows::Columns::new::<D>()),
        }
    }

    /// The latest migration version this binary knows.
    pub fn expected_version() -> i64 {
        D::migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    fn transaction(&self, held: Box<dyn Held<D>>) -> SqlTx<D> {
        SqlTx::new(held, self.columns.clone())
    }
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    SqlStore<D>: Outbox,
    SqlTx<D>: StoreTx,
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<D>>,
    usize: ColumnIndex<DbRow<D>>,
    String: SqlValue<D::Db>,
    i64: SqlValue<D::Db>,
    bool: SqlValue<D::Db>,
{
    async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        let has_history: bool = sqlx::query_scalar(D::HAS_HISTORY)
            .fetch_one(&self.writes)
            .await
            .map_err(D::map_err)?;
        if !has_history {
            let tables: i64 = sqlx::query_scalar(D::TABLE_COUNT)
                .fetch_one(&self.writes)
                .await
                .map_err(D::map_err)?;
            return if tables == 0 {
                Ok(SchemaState::Empty)
            } else {
                Err(StoreError::Schema(
                    "the database holds tables but no trunkd migration history".into(),
                ))
            };
        }
        let (applied, failed) = outbox::applied_migrations::<D>(&self.writes).await?;
        if failed > 0 {
            return Err(StoreError::Schema("a migration failed part-way".into()));
        }
        Ok(SchemaState::compare(applied, Self::expected_version()))
    }

    async fn prune_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM trunk_audit WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.writes)
            .await
            .map(|done| done.rows_affected())
            .map_err(D::map_err)
    }

    async fn prune_idempotency_keys(&self, before_ms: i64) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at_ms < $1")
            .bind(before_ms)
            .execute(&self.writes)
            .await
            .map(|done| done.rows_affected())
            .map_err(D::map_err)
    }

    /// Applies every pending migration, each in its own transaction.
    async fn migrate(&self) -> Result<(), StoreError> {
        D::migrator()
            .run(&self.writes)
            .await
            .map_err(|e| StoreError::Schema(e.to_string()))?;
        let unseeded = ipam::unseeded_subnets::<D>(&self.writes).await?;
        if !unseeded.is_empty() {
            let mut tx = self.begin_write().await?;
            for (subnet, ranges) in &unseeded {
                tx.ipam().seed_free_ranges(*subnet, ranges).await?;
            }
            tx.commit().await?;
            tracing::info!(
                subnets = unseeded.len(),
                "wrote the free address ranges of subnets created before IPAM"
            );
        }
        Ok(())
    }

    /// Readers first: a checkpoint cannot empty a log a reader still uses.
    async fn close(&self) {
        self.dialect.close().await;
        // On PostgreSQL `reads` is `writes`, and closing it closes both: nothing to checkpoint.
        self.reads.close().await;
        if let Err(error) = self.dialect.checkpoint(&self.writes).await {
            tracing::warn!(%error, "could not checkpoint the database before closing it");
        }
        self.writes.close().await;
    }

    fn expected_schema_version(&self) -> i64 {
        Self::expected_version()
    }

    async fn explain_unavailable(&self, error: StoreError) -> StoreError {
        match error {
            StoreError::Unavailable(message) => {
                match self.dialect.unavailable_cause(&self.writes).await {
                    Some(cause) if !message.contains(&cause) => {
                        StoreError::Unavailable(format!("{message}: {cause}"))
                    }
                    _ => StoreError::Unavailable(message),
                }
            }
            other => other,
        }
    }

    async fn begin_write(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let held = self.dialect.begin_write(&self.writes).await?;
        Ok(Box::new(self.transaction(held)))
    }

    async fn begin_read(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let held = self.dialect.begin_read(&self.writes).await?;
        Ok(Box::new(self.transaction(held)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reads)
            .await
            .map(|_| ())
            .map_err(D::map_err)
    }

    fn driver_reads(self: Arc<Self>) -> Arc<dyn DriverReads> {
        self
    }

    fn pools(&self) -> Vec<PoolStats> {
        self.dialect.pools(&self.writes, &self.reads)
    }
}

#[async_trait]
impl<D: Dialect> DriverReads for SqlStore<D>
where
    SqlTx<D>: StoreTx,
{
    async fn snapshot(&self) -> Result<Box<dyn Snapshot>, StoreError> {
        let held = self.dialect.begin_read(&self.writes).await?;
        Ok(Box::new(ReadOnly(Box::new(self.transaction(held)))))
    }
}
