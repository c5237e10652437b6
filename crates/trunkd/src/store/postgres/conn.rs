//! PostgreSQL's connections through sqlx, as the SQL store's [`SqlConn`].

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row};

use super::errors::map_err;
use crate::store::sql::exec::{Col, Decode, NullType, Param, SqlConn, SqlRow};
use crate::store::StoreError;

fn bound<'q>(sql: &'q str, params: Vec<Param>, keep: bool) -> Query<'q, Postgres, PgArguments> {
    let mut query = sqlx::query(sql).persistent(keep);
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text),
            Param::Int(number) => query.bind(number),
            Param::Bool(flag) => query.bind(flag),
            Param::Null(NullType::Text) => query.bind(None::<String>),
            Param::Null(NullType::Int) => query.bind(None::<i64>),
        };
    }
    query
}

#[async_trait]
impl SqlConn for PgConnection {
    const POSITIONAL: bool = false;

    async fn execute(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        keep: bool,
    ) -> Result<u64, StoreError> {
        bound(sql, params, keep)
            .execute(&mut *self)
            .await
            .map(|done| done.rows_affected())
            .map_err(map_err)
    }

    async fn fetch<T: Send>(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        keep: bool,
        decode: Decode<'_, T>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = bound(sql, params, keep)
            .fetch_all(&mut *self)
            .await
            .map_err(map_err)?;
        rows.iter().map(|row| decode(&PgRowRef(row))).collect()
    }
}

/// A row as sqlx hands it out, read through [`SqlRow`].
struct PgRowRef<'r>(&'r PgRow);

impl PgRowRef<'_> {
    fn get<'a, T>(&'a self, column: Col<'_>) -> Result<T, sqlx::Error>
    where
        T: sqlx::Decode<'a, Postgres> + sqlx::Type<Postgres>,
    {
        match column {
            Col::Name(name) => self.0.try_get(name),
            Col::At(index) => self.0.try_get(index),
        }
    }
}

impl SqlRow for PgRowRef<'_> {
    fn text(&self, column: Col<'_>) -> Result<Option<&str>, StoreError> {
        self.get(column).map_err(map_err)
    }

    /// BIGINT, or a narrower integer (`SELECT 1`, an INTEGER column).
    fn int(&self, column: Col<'_>) -> Result<Option<i64>, StoreError> {
        match self.get::<Option<i64>>(column) {
            Ok(number) => Ok(number),
            Err(sqlx::Error::ColumnDecode { .. }) => self
                .get::<Option<i32>>(column)
                .map(|number| number.map(i64::from))
                .map_err(map_err),
            Err(error) => Err(map_err(error)),
        }
    }

    fn flag(&self, column: Col<'_>) -> Result<Option<bool>, StoreError> {
        self.get(column).map_err(map_err)
    }
}
