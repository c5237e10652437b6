//! The embedded store: SQLite in WAL mode through sqlx.
//!
//! Writers share one connection, so write transactions are serialised in-process and never
//! deadlock on SQLite's lock upgrade; readers use a small pool and see committed snapshots.
//! Durability: `synchronous=NORMAL` in WAL mode. A crash of the process loses nothing that was
//! committed; a power loss may lose the last transactions but never corrupts the database.

mod errors;
mod list;
mod rows;
mod tx;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::store::{PendingEvent, ResourceKind, Store, StoreError, StoreTx};
pub(crate) use errors::map_err;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Where the schema of a database stands relative to this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// No trunkd tables at all: a new database.
    Empty,
    Current,
    /// Migrations this binary has are not applied yet.
    Behind {
        applied: i64,
        expected: i64,
    },
    /// The database was migrated by a newer binary.
    Ahead {
        applied: i64,
        expected: i64,
    },
}

pub struct SqliteStore {
    write_pool: SqlitePool,
    read_pool: SqlitePool,
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
            .busy_timeout(Duration::from_secs(10));
        let write_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        let read_pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        Ok(Self {
            write_pool,
            read_pool,
        })
    }

    /// The latest migration version this binary knows.
    pub fn expected_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    pub async fn schema_state(&self) -> Result<SchemaState, StoreError> {
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
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS v, COUNT(*) FILTER (WHERE NOT success) AS failed \
             FROM _sqlx_migrations",
        )
        .fetch_one(&self.write_pool)
        .await
        .map_err(map_err)?;
        let applied: i64 = row.try_get("v").map_err(map_err)?;
        let failed: i64 = row.try_get("failed").map_err(map_err)?;
        if failed > 0 {
            return Err(StoreError::Schema("a migration failed part-way".into()));
        }
        Ok(match applied.cmp(&expected) {
            std::cmp::Ordering::Equal => SchemaState::Current,
            std::cmp::Ordering::Less => SchemaState::Behind { applied, expected },
            std::cmp::Ordering::Greater => SchemaState::Ahead { applied, expected },
        })
    }

    /// Applies every pending migration, each in its own transaction.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.write_pool)
            .await
            .map_err(|e| StoreError::Schema(e.to_string()))
    }

    pub async fn close(&self) {
        self.write_pool.close().await;
        self.read_pool.close().await;
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin_write(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let tx = self.write_pool.begin().await.map_err(map_err)?;
        Ok(Box::new(tx::SqliteTx::new(tx)))
    }

    async fn begin_read(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let tx = self.read_pool.begin().await.map_err(map_err)?;
        Ok(Box::new(tx::SqliteTx::new(tx)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.read_pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn pending_events(&self, limit: i64) -> Result<Vec<PendingEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, resource_type, resource_id, event, revision_number, payload, attempts, \
             next_attempt_ms FROM outbox WHERE delivered_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.write_pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("resource_type").map_err(map_err)?;
                let payload: String = row.try_get("payload").map_err(map_err)?;
                Ok(PendingEvent {
                    id: row.try_get("id").map_err(map_err)?,
                    resource: ResourceKind::parse(&kind).ok_or_else(|| {
                        StoreError::Internal(format!("outbox row of unknown kind {kind}"))
                    })?,
                    resource_id: row.try_get("resource_id").map_err(map_err)?,
                    event: row.try_get("event").map_err(map_err)?,
                    revision_number: row.try_get("revision_number").map_err(map_err)?,
                    payload: serde_json::from_str(&payload)
                        .map_err(|e| StoreError::Internal(format!("outbox payload: {e}")))?,
                    attempts: row.try_get("attempts").map_err(map_err)?,
                    next_attempt_ms: row.try_get("next_attempt_ms").map_err(map_err)?,
                })
            })
            .collect()
    }

    async fn mark_event_delivered(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET delivered_at = $1, last_error = NULL WHERE id = $2")
            .bind(crate::model::now_timestamp())
            .bind(id)
            .execute(&self.write_pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn mark_event_failed(
        &self,
        id: i64,
        error: &str,
        retry_in_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_ms = $2 \
             WHERE id = $3",
        )
        .bind(error)
        .bind(now_ms() + retry_in_ms)
        .bind(id)
        .execute(&self.write_pool)
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    async fn prune_delivered_events(&self, before: &str) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1")
            .bind(before)
            .execute(&self.write_pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(map_err)
    }

    async fn pending_event_count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
            .fetch_one(&self.read_pool)
            .await
            .map_err(map_err)
    }
}
