//! One SQLite connection through rusqlite, as the SQL store's [`SqlConn`]: statements run on the
//! calling thread, prepared once per connection and kept in its cache. Each is logged at DEBUG
//! (target `trunkd::store::sqlite`) with the rows it changed or returned, as sqlx logs
//! PostgreSQL's under `sqlx::query`.
//!
//! Why rusqlite and not sqlx's SQLite driver (which still runs the migrations and backups):
//! sqlx runs each connection on a worker thread of its own and hands every statement to it and
//! every result back, so a write transaction held SQLite's one write lock across a thread
//! hand-off and a wait in the async scheduler's queue per statement. Here a transaction's
//! statements run back to back on the task's own thread: a statement costs what SQLite takes
//! to run it (microseconds on an indexed table), and no other task runs in between.

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{OpenFlags, ToSql};

use super::errors::map_lite_err;
use crate::store::sql::exec::{Col, Decode, Param, SqlConn, SqlRow};
use crate::store::StoreError;

/// How long a statement waits for a lock another process holds (a backup's read, another
/// server on the same file) before it fails as contention.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection: every fixed statement of the store, with room.
const STATEMENT_CACHE: usize = 256;

/// A connection to the store's database file.
pub struct SqliteConn {
    db: rusqlite::Connection,
}

impl SqliteConn {
    /// The connection that writes: creates the file if needed, WAL mode, foreign keys on, no
    /// automatic checkpoints (the store's `checkpointer` thread copies the log instead).
    ///
    /// Durability: `synchronous=NORMAL` in WAL mode. A crash of the process loses nothing that
    /// was committed (the log is written before COMMIT returns); a power loss may lose the last
    /// transactions but never corrupts the database.
    pub fn open_writer(path: &Path) -> Result<SqliteConn, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Self::open(path, flags)?;
        let mode: String = conn
            .db
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| unavailable(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "{}: SQLite kept journal mode {mode}, not WAL",
                path.display()
            )));
        }
        conn.db
            .execute_batch(
                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA wal_autocheckpoint = 0;",
            )
            .map_err(|e| unavailable(path, e))?;
        Ok(conn)
    }

    /// A connection that only reads (API reads, health probes, the dispatcher's scans).
    pub fn open_reader(path: &Path) -> Result<SqliteConn, StoreError> {
        Self::open(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
    }

    fn open(path: &Path, flags: OpenFlags) -> Result<SqliteConn, StoreError> {
        let db =
            rusqlite::Connection::open_with_flags(path, flags).map_err(|e| unavailable(path, e))?;
        db.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| unavailable(path, e))?;
        db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteConn { db })
    }

    /// Runs statements that bind nothing and return nothing (BEGIN, COMMIT, ROLLBACK).
    pub fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.db.execute_batch(sql).map_err(map_lite_err)
    }

    /// Whether a transaction is open on this connection.
    pub fn in_transaction(&self) -> bool {
        !self.db.is_autocommit()
    }

    fn run<T>(
        &mut self,
        sql: &str,
        params: &[Param],
        keep: bool,
        body: impl FnOnce(&mut rusqlite::Statement<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let outcome = if keep {
            let mut statement = self.db.prepare_cached(sql).map_err(map_lite_err)?;
            bind(&mut statement, params).and_then(|()| body(&mut statement))
        } else {
            let mut statement = self.db.prepare(sql).map_err(map_lite_err)?;
            bind(&mut statement, params).and_then(|()| body(&mut statement))
        };
        outcome.map_err(map_lite_err)
    }
}

fn unavailable(path: &Path, error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("{}: {error}", path.display()))
}

/// Binds `params` to `statement`: a `$N` placeholder takes the N-th value (SQLite numbers named
/// parameters by first appearance, not by their digits), a bare `?` the next by position.
fn bind(statement: &mut rusqlite::Statement<'_>, params: &[Param]) -> rusqlite::Result<()> {
    let count = statement.parameter_count();
    if count != params.len() && !has_numbered(statement) {
        return Err(rusqlite::Error::InvalidParameterCount(params.len(), count));
    }
    for position in 1..=count {
        let index = statement
            .parameter_name(position)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|digits| digits.parse::<usize>().ok())
            .unwrap_or(position);
        let value = params
            .get(index.wrapping_sub(1))
            .ok_or(rusqlite::Error::InvalidParameterCount(params.len(), count))?;
        statement.raw_bind_parameter(position, value)?;
    }
    Ok(())
}

/// Whether the statement names its parameters `$N` (which may repeat one value).
fn has_numbered(statement: &rusqlite::Statement<'_>) -> bool {
    statement
        .parameter_name(1)
        .is_some_and(|name| name.starts_with('$'))
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Text(text) => ValueRef::Text(text.as_bytes()),
            Param::Int(number) => ValueRef::Integer(*number),
            Param::Bool(flag) => ValueRef::Integer(i64::from(*flag)),
            Param::Null(_) => ValueRef::Null,
        }))
    }
}

#[async_trait]
impl SqlConn for SqliteConn {
    const POSITIONAL: bool = true;

    async fn execute(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        keep: bool,
    ) -> Result<u64, StoreError> {
        let started = Instant::now();
        let changed = self.run(sql, &params, keep, |statement| statement.raw_execute())? as u64;
        tracing::debug!(
            statement = sql,
            rows_affected = changed,
            rows_returned = 0,
            elapsed_us = started.elapsed().as_micros() as u64,
            "ran a statement"
        );
        Ok(changed)
    }

    async fn fetch<T: Send>(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        keep: bool,
        decode: Decode<'_, T>,
    ) -> Result<Vec<T>, StoreError> {
        let started = Instant::now();
        let mut decoded = Vec::new();
        let mut failure = None;
        self.run(sql, &params, keep, |statement| {
            let mut rows = statement.raw_query();
            while let Some(row) = rows.next()? {
                match decode(&LiteRow(row)) {
                    Ok(value) => decoded.push(value),
                    Err(error) => {
                        failure = Some(error);
                        break;
                    }
                }
            }
            Ok(())
        })?;
        tracing::debug!(
            statement = sql,
            rows_affected = 0,
            rows_returned = decoded.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "ran a statement"
        );
        match failure {
            Some(error) => Err(error),
            None => Ok(decoded),
        }
    }
}

/// A row as rusqlite hands it out, read through [`SqlRow`].
struct LiteRow<'a, 's>(&'a rusqlite::Row<'s>);

impl LiteRow<'_, '_> {
    fn value(&self, column: Col<'_>) -> Result<ValueRef<'_>, StoreError> {
        match column {
            Col::Name(name) => self.0.get_ref(name),
            Col::At(index) => self.0.get_ref(index),
        }
        .map_err(map_lite_err)
    }
}

fn mistyped(column: Col<'_>, wanted: &str) -> StoreError {
    StoreError::Internal(format!("column {column} does not hold {wanted}"))
}

impl SqlRow for LiteRow<'_, '_> {
    fn text(&self, column: Col<'_>) -> Result<Option<&str>, StoreError> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| mistyped(column, "UTF-8 text")),
            _ => Err(mistyped(column, "text")),
        }
    }

    fn int(&self, column: Col<'_>) -> Result<Option<i64>, StoreError> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(number) => Ok(Some(number)),
            _ => Err(mistyped(column, "an integer")),
        }
    }

    fn flag(&self, column: Col<'_>) -> Result<Option<bool>, StoreError> {
        Ok(self.int(column)?.map(|number| number != 0))
    }
}

#[cfg(test)]
mod tests {
    /// The SQLite built into trunkd has the compile options `.cargo/config.toml` gives it
    /// (`LIBSQLITE3_FLAGS`: neither process-wide lock, no bulk page-cache allocation): a build
    /// that loses the setting fails here rather than only running slower.
    #[test]
    fn sqlite_is_built_with_the_options_of_the_cargo_config() {
        let db = rusqlite::Connection::open_in_memory().expect("an in-memory database");
        let used = |option: &str| -> i64 {
            db.query_row("SELECT sqlite_compileoption_used(?1)", [option], |row| {
                row.get(0)
            })
            .expect("sqlite_compileoption_used")
        };
        assert_eq!(used("ENABLE_MEMORY_MANAGEMENT"), 0, "one shared page cache");
        assert_eq!(used("DEFAULT_MEMSTATUS=0"), 1, "allocations counted");
        assert_eq!(
            used("DEFAULT_PCACHE_INITSZ=0"),
            1,
            "page caches allocated in bulk"
        );
        // The check itself can tell: an option the build has is reported as used.
        assert_eq!(used("THREADSAFE=1"), 1);
    }
}
