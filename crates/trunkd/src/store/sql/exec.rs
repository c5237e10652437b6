//! The one seam between the SQL store and a database driver: a statement ([`Stmt`]: SQL text
//! and the values it binds), a connection that runs statements ([`SqlConn`]) and a row that
//! hands out typed column values ([`SqlRow`], [`FromColumn`]). Everything above it (`tx.rs`,
//! `list.rs`, `ipam.rs`, `outbox.rs`, `rows.rs`) is written once for every database.
//!
//! Why a seam of our own rather than sqlx's traits: PostgreSQL runs on sqlx, but SQLite runs on
//! rusqlite (`store/sqlite/conn.rs`), whose statements run on the calling thread. sqlx's SQLite
//! driver sends every statement to a worker thread of its own and wakes the caller with the
//! result, so a write transaction of ten statements held SQLite's one write lock across twenty
//! thread hand-offs and as many waits in the async scheduler's queue (issue 22's profile).

use std::borrow::Cow;

use async_trait::async_trait;

use crate::store::StoreError;

/// A value to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    Bool(bool),
    /// A NULL of the given column type (PostgreSQL types every parameter).
    Null(NullType),
}

/// The type of a NULL parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullType {
    Text,
    Int,
}

impl From<String> for Param {
    fn from(text: String) -> Self {
        Param::Text(text)
    }
}

impl From<&String> for Param {
    fn from(text: &String) -> Self {
        Param::Text(text.clone())
    }
}

impl From<&str> for Param {
    fn from(text: &str) -> Self {
        Param::Text(text.to_string())
    }
}

impl From<i64> for Param {
    fn from(number: i64) -> Self {
        Param::Int(number)
    }
}

impl From<bool> for Param {
    fn from(flag: bool) -> Self {
        Param::Bool(flag)
    }
}

impl From<Option<String>> for Param {
    fn from(text: Option<String>) -> Self {
        text.map_or(Param::Null(NullType::Text), Param::Text)
    }
}

impl From<&Option<String>> for Param {
    fn from(text: &Option<String>) -> Self {
        Param::from(text.clone())
    }
}

impl From<Option<&str>> for Param {
    fn from(text: Option<&str>) -> Self {
        Param::from(text.map(str::to_string))
    }
}

impl From<Option<i64>> for Param {
    fn from(number: Option<i64>) -> Self {
        number.map_or(Param::Null(NullType::Int), Param::Int)
    }
}

/// A column of a row: by name, or by position (from 0) for unnamed expressions.
#[derive(Debug, Clone, Copy)]
pub enum Col<'a> {
    Name(&'a str),
    At(usize),
}

impl<'a> From<&'a str> for Col<'a> {
    fn from(name: &'a str) -> Self {
        Col::Name(name)
    }
}

impl From<usize> for Col<'_> {
    fn from(index: usize) -> Self {
        Col::At(index)
    }
}

impl std::fmt::Display for Col<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Col::Name(name) => f.write_str(name),
            Col::At(index) => write!(f, "#{index}"),
        }
    }
}

/// One row a statement returned, as the driver holds it: text borrowed from the row, integers
/// and booleans as the database stores them (SQLite keeps booleans as integers).
pub trait SqlRow {
    fn text(&self, column: Col<'_>) -> Result<Option<&str>, StoreError>;
    fn int(&self, column: Col<'_>) -> Result<Option<i64>, StoreError>;
    fn flag(&self, column: Col<'_>) -> Result<Option<bool>, StoreError>;
}

/// A Rust value read from one column.
pub trait FromColumn<'r>: Sized {
    fn from_column(row: &'r dyn SqlRow, column: Col<'_>) -> Result<Self, StoreError>;
}

fn null(column: Col<'_>) -> StoreError {
    StoreError::Internal(format!("column {column} is NULL"))
}

impl<'r> FromColumn<'r> for Option<&'r str> {
    fn from_column(row: &'r dyn SqlRow, column: Col<'_>) -> Result<Self, StoreError> {
        row.text(column)
    }
}

impl<'r> FromColumn<'r> for &'r str {
    fn from_column(row: &'r dyn SqlRow, column: Col<'_>) -> Result<Self, StoreError> {
        row.text(column)?.ok_or_else(|| null(column))
    }
}

impl<'r> FromColumn<'r> for Option<String> {
    fn from_column(row: &'r dyn SqlRow, column: Col<'_>) -> Result<Self, StoreError> {
        Ok(row.text(column)?.map(str::to_string))
    }
}

impl<'r> FromColumn<'r> for String {
    fn from_column(row: &'r dyn SqlRow, column: Col<'_>) -> Result<Self, StoreError> {
        <&str>::from_column(row, column).map(str::to_string)
    }
}

impl<'r> FromColumn<'r> for Option<i64> {
    fn from_column(row: &'r dyn SqlRow, column: Col<'_>) -> Result<Self, StoreError> {
        row.int(column)
    }
}

impl<'r> FromColumn<'r> for i64 {
    fn from_column(row: &'r dyn SqlRow, column: Col<'_>) -> Result<Self, StoreError> {
        row.int(column)?.ok_or_else(|| null(column))
    }
}

impl<'r> FromColumn<'r> for Option<bool> {
    fn from_column(row: &'r dyn SqlRow, column: Col<'_>) -> Result<Self, StoreError> {
        row.flag(column)
    }
}

impl<'r> FromColumn<'r> for bool {
    fn from_column(row: &'r dyn SqlRow, column: Col<'_>) -> Result<Self, StoreError> {
        row.flag(column)?.ok_or_else(|| null(column))
    }
}

/// Reads one column of `row` as `T`.
pub fn get<'r, 'c, T: FromColumn<'r>>(
    row: &'r dyn SqlRow,
    column: impl Into<Col<'c>>,
) -> Result<T, StoreError> {
    T::from_column(row, column.into())
}

/// Turns a row into a value; run for each row a statement returns, while the driver holds it.
pub type Decode<'d, T> = &'d (dyn Fn(&dyn SqlRow) -> Result<T, StoreError> + Sync);

/// A connection (inside a transaction) that runs statements.
#[async_trait]
pub trait SqlConn: Send {
    /// Whether placeholders are bare `?` numbered by position (SQLite), rather than `$N`.
    /// SQLite looks numbered parameters up by name, once per parameter as it parses and again
    /// as each is bound, which made a 4,094-row insert's cost grow with the square of its
    /// parameters; `?` are numbered by position and never looked up.
    const POSITIONAL: bool;

    /// Runs a statement; returns how many rows it changed. `keep` says whether the prepared
    /// statement is worth caching on the connection.
    async fn execute(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        keep: bool,
    ) -> Result<u64, StoreError>;

    /// Runs a statement and decodes every row it returns.
    async fn fetch<T: Send>(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        keep: bool,
        decode: Decode<'_, T>,
    ) -> Result<Vec<T>, StoreError>;
}

/// Statements whose values are more than this are not kept prepared: long `IN` lists vary in
/// length, and each kept statement of thousands of parameters would hold its memory until the
/// cache evicted it; short ones recur (one id: a show).
const KEEP_UP_TO: usize = 64;

/// A statement with `$N` placeholders, and its values in order.
pub struct Stmt {
    sql: Cow<'static, str>,
    params: Vec<Param>,
}

impl Stmt {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    pub fn bind(mut self, value: impl Into<Param>) -> Self {
        self.params.push(value.into());
        self
    }

    /// Runs it; returns the number of rows changed.
    pub async fn execute<C: SqlConn + ?Sized>(self, conn: &mut C) -> Result<u64, StoreError> {
        conn.execute(&self.sql, self.params, true).await
    }

    /// Runs it and decodes every row.
    pub async fn fetch<C: SqlConn + ?Sized, T: Send>(
        self,
        conn: &mut C,
        decode: Decode<'_, T>,
    ) -> Result<Vec<T>, StoreError> {
        conn.fetch(&self.sql, self.params, true, decode).await
    }

    /// Runs it and decodes the first row, if any.
    pub async fn fetch_optional<C: SqlConn + ?Sized, T: Send>(
        self,
        conn: &mut C,
        decode: Decode<'_, T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.fetch(conn, decode).await?.into_iter().next())
    }

    /// The first column of every row.
    pub async fn scalars<C, T>(self, conn: &mut C) -> Result<Vec<T>, StoreError>
    where
        C: SqlConn + ?Sized,
        T: for<'r> FromColumn<'r> + Send,
    {
        self.fetch(conn, &|row| get(row, 0)).await
    }

    /// The first column of the one row the statement returns.
    pub async fn scalar<C, T>(self, conn: &mut C) -> Result<T, StoreError>
    where
        C: SqlConn + ?Sized,
        T: for<'r> FromColumn<'r> + Send,
    {
        let sql = self.sql.clone();
        self.scalars(conn)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Internal(format!("no row from {sql}")))
    }
}

/// Whether a statement with `params` values is worth keeping prepared.
pub(super) fn keep(params: usize) -> bool {
    params <= KEEP_UP_TO
}
