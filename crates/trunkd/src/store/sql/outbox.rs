//! [`Outbox`] over SQL: the queries the dispatcher runs outside user transactions, the same
//! SQL on every dialect.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::store::{Outbox, OutboxBacklog, PendingEvent, ResourceKind, StoreError};

use super::{Conn, DbRow, Dialect, RowsAffected, SqlStore, SqlValue};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Most events of one resource read at once.
const RESOURCE_PAGE: i64 = 100;

const PENDING_COLUMNS: &str = "SELECT id, resource_type, resource_id, event, revision_number, \
    payload, attempts, next_attempt_ms FROM outbox WHERE delivered_at IS NULL";

#[async_trait]
impl<D: Dialect> Outbox for SqlStore<D>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<D>>,
    String: SqlValue<D::Db>,
    i64: SqlValue<D::Db>,
    usize: ColumnIndex<DbRow<D>>,
{
    async fn pending_events(&self, limit: i64) -> Result<Vec<PendingEvent>, StoreError> {
        let rows = sqlx::query(&format!("{PENDING_COLUMNS} ORDER BY id LIMIT $1"))
            .bind(limit)
            .fetch_all(&self.writes)
            .await
            .map_err(D::map_err)?;
        decode_events::<D>(&rows)
    }

    async fn pending_events_of(
        &self,
        resource: ResourceKind,
        resource_id: &str,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        // A page: undelivered events are folded into one per resource as they are recorded, so
        // more than a few means events from before that, or a burst being recorded right now.
        let rows = sqlx::query(&format!(
            "{PENDING_COLUMNS} AND resource_type = $1 AND resource_id = $2 ORDER BY id LIMIT {RESOURCE_PAGE}"
        ))
        .bind(resource.as_str())
        .bind(resource_id)
        .fetch_all(&self.writes)
        .await
        .map_err(D::map_err)?;
        decode_events::<D>(&rows)
    }

    /// Takes (or renews) the delivery lease of a resource unless another owner holds an
    /// unexpired one. Returns whether `owner` holds it now.
    async fn try_lease(
        &self,
        resource: ResourceKind,
        resource_id: &str,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO outbox_leases (resource_type, resource_id, owner, expires_ms) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (resource_type, resource_id) DO UPDATE \
             SET owner = excluded.owner, expires_ms = excluded.expires_ms \
             WHERE outbox_leases.expires_ms < $5 OR outbox_leases.owner = excluded.owner",
        )
        .bind(resource.as_str())
        .bind(resource_id)
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .execute(&self.writes)
        .await
        .map_err(D::map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(
        &self,
        resource: ResourceKind,
        resource_id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM outbox_leases WHERE resource_type = $1 AND resource_id = $2 AND owner = $3",
        )
        .bind(resource.as_str())
        .bind(resource_id)
        .bind(owner)
        .execute(&self.writes)
        .await
        .map(|_| ())
        .map_err(D::map_err)
    }

    async fn mark_event_delivered(&self, id: i64) -> Result<bool, StoreError> {
        sqlx::query("UPDATE outbox SET delivered_at = $1, last_error = NULL WHERE id = $2")
            .bind(crate::model::now_timestamp())
            .bind(id)
            .execute(&self.writes)
            .await
            .map(|done| done.rows_affected() == 1)
            .map_err(D::map_err)
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
        .execute(&self.writes)
        .await
        .map(|_| ())
        .map_err(D::map_err)
    }

    async fn prune_delivered_events(&self, before: &str) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1")
            .bind(before)
            .execute(&self.writes)
            .await
            .map(|done| done.rows_affected())
            .map_err(D::map_err)
    }

    async fn pending_event_count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
            .fetch_one(&self.reads)
            .await
            .map_err(D::map_err)
    }

    /// Pending and retrying events in one pass over the pending ones, with the oldest one's
    /// commit time (timestamps as `now_timestamp` writes them sort as text).
    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError> {
        let (pending, retrying, bytes, oldest): (i64, i64, i64, String) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(LENGTH(payload)), 0), COALESCE(MIN(created_at), '') \
             FROM outbox WHERE delivered_at IS NULL",
        )
        .fetch_one(&self.reads)
        .await
        .map_err(D::map_err)?;
        Ok(OutboxBacklog {
            pending,
            retrying,
            bytes,
            oldest_age_seconds: age_seconds(&oldest, chrono::Utc::now()),
        })
    }
}

/// Whole seconds from the timestamp `since` to `now`; 0 for no timestamp (no pending event),
/// one that does not parse, or one in the future (another server's clock).
fn age_seconds(since: &str, now: chrono::DateTime<chrono::Utc>) -> i64 {
    chrono::DateTime::parse_from_rfc3339(since)
        .map(|at| (now - at.with_timezone(&chrono::Utc)).num_seconds().max(0))
        .unwrap_or(0)
}

pub(super) fn decode_events<D: Dialect>(rows: &[DbRow<D>]) -> Result<Vec<PendingEvent>, StoreError>
where
    for<'a> &'a str: ColumnIndex<DbRow<D>>,
    String: SqlValue<D::Db>,
    i64: SqlValue<D::Db>,
{
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("resource_type").map_err(D::map_err)?;
            let payload: String = row.try_get("payload").map_err(D::map_err)?;
            let id: i64 = row.try_get("id").map_err(D::map_err)?;
            let resource = ResourceKind::parse(&kind).ok_or_else(|| {
                StoreError::Internal(format!("outbox row of unknown kind {kind}"))
            })?;
            let name: String = row.try_get("event").map_err(D::map_err)?;
            Ok(PendingEvent {
                id,
                resource_id: row.try_get("resource_id").map_err(D::map_err)?,
                event: crate::store::event::Event::decode(resource, &name, &payload)
                    .map_err(|e| StoreError::Internal(format!("outbox event {id}: {e}")))?,
                revision_number: row.try_get("revision_number").map_err(D::map_err)?,
                attempts: row.try_get("attempts").map_err(D::map_err)?,
                next_attempt_ms: row.try_get("next_attempt_ms").map_err(D::map_err)?,
            })
        })
        .collect()
}

/// The newest applied migration and the number of failed ones, from sqlx's history table.
pub(super) async fn applied_migrations<D: Dialect>(
    pool: &Pool<D::Db>,
) -> Result<(i64, i64), StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<D>>,
    i64: SqlValue<D::Db>,
{
    let row = sqlx::query(
        "SELECT COALESCE(MAX(version), 0) AS v, \
         COALESCE(SUM(CASE WHEN success THEN 0 ELSE 1 END), 0) AS failed FROM _sqlx_migrations",
    )
    .fetch_one(pool)
    .await
    .map_err(D::map_err)?;
    Ok((
        row.try_get("v").map_err(D::map_err)?,
        row.try_get("failed").map_err(D::map_err)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_events_age_is_counted_from_its_timestamp() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:01:30Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        assert_eq!(age_seconds("2026-01-01T00:00:00Z", now), 90);
        assert_eq!(age_seconds("", now), 0);
        assert_eq!(age_seconds("2026-01-01T00:02:00Z", now), 0);
        assert_eq!(age_seconds(&crate::model::timestamp(now), now), 0);
    }
}
