//! [`Outbox`] over SQL: the queries the dispatcher runs outside user transactions, the same
//! SQL on every dialect.

use std::collections::HashSet;

use async_trait::async_trait;

use crate::store::{
    CompactedRows, Deliveries, Outbox, OutboxBacklog, PendingEvent, ResourceKey, ResourceKind,
    StoreError,
};

use super::builder::Builder;
use super::exec::{get, SqlConn, SqlRow, Stmt};
use super::{Dialect, SqlStore};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Event ids per statement when marking them delivered.
const ID_CHUNK: usize = 1_000;

/// Most events of one resource read at once.
const RESOURCE_PAGE: i64 = 100;

/// The undelivered events, `$rest` narrowing and ordering them: one fixed statement each.
macro_rules! pending_events {
    ($rest:literal) => {
        concat!(
            "SELECT id, resource_type, resource_id, event, revision_number, payload, attempts, \
             next_attempt_ms FROM outbox WHERE delivered_at IS NULL",
            $rest
        )
    };
}

#[async_trait]
impl<D: Dialect> Outbox for SqlStore<D> {
    async fn pending_events(&self, limit: i64) -> Result<Vec<PendingEvent>, StoreError> {
        let mut tx = self.read_tx().await?;
        Stmt::new(pending_events!(" ORDER BY id LIMIT $1"))
            .bind(limit)
            .fetch(tx.conn(), &decode_event)
            .await
    }

    async fn pending_events_of(
        &self,
        resource: ResourceKind,
        resource_id: &str,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        self.pending_events_of_each(&[ResourceKey::new(resource, resource_id)])
            .await
    }

    /// A page of each: undelivered events are folded into one per resource as they are
    /// recorded, so more than a few means events from before that, or a burst being recorded
    /// right now.
    async fn pending_events_of_each(
        &self,
        resources: &[ResourceKey],
    ) -> Result<Vec<PendingEvent>, StoreError> {
        let mut tx = self.read_tx().await?;
        let mut events = Vec::new();
        for resource in resources {
            events.extend(
                Stmt::new(pending_events!(
                    " AND resource_type = $1 AND resource_id = $2 ORDER BY id LIMIT $3"
                ))
                .bind(resource.kind.as_str())
                .bind(&resource.id)
                .bind(RESOURCE_PAGE)
                .fetch(tx.conn(), &decode_event)
                .await?,
            );
        }
        Ok(events)
    }

    /// Takes (or renews) the delivery lease of each resource unless another owner holds an
    /// unexpired one.
    async fn take_leases(
        &self,
        resources: &[ResourceKey],
        owner: &str,
        lease_ms: i64,
    ) -> Result<Vec<ResourceKey>, StoreError> {
        if resources.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut tx = self.bookkeeping_tx().await?;
        let mut taken_ones = HashSet::with_capacity(resources.len());
        for resource in in_lock_order(resources) {
            let taken = Stmt::new(
                "INSERT INTO outbox_leases (resource_type, resource_id, owner, expires_ms) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (resource_type, resource_id) DO UPDATE \
                 SET owner = excluded.owner, expires_ms = excluded.expires_ms \
                 WHERE outbox_leases.expires_ms < $5 OR outbox_leases.owner = excluded.owner",
            )
            .bind(resource.kind.as_str())
            .bind(&resource.id)
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .execute(tx.conn())
            .await?;
            if taken == 1 {
                taken_ones.insert(resource);
            }
        }
        tx.finish().await?;
        Ok(resources
            .iter()
            .filter(|resource| taken_ones.contains(resource))
            .cloned()
            .collect())
    }

    async fn record_deliveries(
        &self,
        owner: &str,
        deliveries: &Deliveries,
    ) -> Result<u64, StoreError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let mut tx = self.bookkeeping_tx().await?;
        let mut marked = 0;
        let now = crate::model::now_timestamp();
        for compacted in &deliveries.compacted {
            compact(tx.conn(), compacted).await?;
        }
        for chunk in deliveries.delivered.chunks(ID_CHUNK) {
            let mut builder = Builder::new("UPDATE outbox SET delivered_at = ");
            builder.push_bind(now.clone());
            builder.push(", last_error = NULL WHERE id IN (");
            let mut ids = builder.separated(", ");
            for id in chunk {
                ids.push_bind(*id);
            }
            builder.push(")");
            marked += builder.execute(tx.conn()).await?;
        }
        for failed in &deliveries.failed {
            Stmt::new(
                "UPDATE outbox SET attempts = $1, last_error = $2, next_attempt_ms = $3 \
                 WHERE id = $4 AND delivered_at IS NULL",
            )
            .bind(failed.attempts)
            .bind(&failed.error)
            .bind(now_ms() + failed.retry_in_ms)
            .bind(failed.id)
            .execute(tx.conn())
            .await?;
        }
        for resource in in_lock_order(&deliveries.released) {
            Stmt::new(
                "DELETE FROM outbox_leases WHERE resource_type = $1 AND resource_id = $2 \
                 AND owner = $3",
            )
            .bind(resource.kind.as_str())
            .bind(&resource.id)
            .bind(owner)
            .execute(tx.conn())
            .await?;
        }
        tx.finish().await?;
        Ok(marked)
    }

    async fn prune_delivered_events(&self, before: &str) -> Result<u64, StoreError> {
        self.execute_alone(
            Stmt::new("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1")
                .bind(before),
        )
        .await
    }

    async fn pending_event_count(&self) -> Result<i64, StoreError> {
        let mut tx = self.read_tx().await?;
        Stmt::new("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
            .scalar(tx.conn())
            .await
    }

    /// Pending and retrying events in one pass over the pending ones, with the oldest one's
    /// commit time (timestamps as `now_timestamp` writes them sort as text).
    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError> {
        let mut tx = self.read_tx().await?;
        let (pending, retrying, bytes, oldest): (i64, i64, i64, String) = Stmt::new(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(LENGTH(payload)), 0), COALESCE(MIN(created_at), '') \
             FROM outbox WHERE delivered_at IS NULL",
        )
        .fetch_optional(tx.conn(), &|row| {
            Ok((get(row, 0)?, get(row, 1)?, get(row, 2)?, get(row, 3)?))
        })
        .await?
        .unwrap_or((0, 0, 0, String::new()));
        Ok(OutboxBacklog {
            pending,
            retrying,
            bytes,
            oldest_age_seconds: age_seconds(&oldest, chrono::Utc::now()),
        })
    }
}

/// `resources` in one order every server locks lease rows in, so that two servers taking and
/// giving back leases of the same resources at once never wait for each other in a cycle (on
/// PostgreSQL that is a deadlock, and one of the transactions fails).
fn in_lock_order(resources: &[ResourceKey]) -> Vec<&ResourceKey> {
    let mut ordered: Vec<&ResourceKey> = resources.iter().collect();
    ordered.sort_by(|a, b| (a.kind.as_str(), &a.id).cmp(&(b.kind.as_str(), &b.id)));
    ordered
}

/// Writes `rows`' fold into its newest row and deletes the others; rows delivered meanwhile
/// (by another server) are left alone.
async fn compact<C: SqlConn + ?Sized>(
    conn: &mut C,
    rows: &CompactedRows,
) -> Result<(), StoreError> {
    let Some(oldest) = rows.absorbed.first() else {
        return Ok(());
    };
    Stmt::new(
        "UPDATE outbox SET event = $1, revision_number = $2, payload = $3, attempts = $4, \
         next_attempt_ms = $5, \
         last_error = COALESCE((SELECT o.last_error FROM outbox o WHERE o.id = $6), last_error) \
         WHERE id = $7 AND delivered_at IS NULL",
    )
    .bind(rows.event.name())
    .bind(rows.revision_number)
    .bind(
        rows.event
            .payload_json()
            .map_err(|e| StoreError::Internal(format!("outbox payload: {e}")))?,
    )
    .bind(rows.attempts)
    .bind(rows.next_attempt_ms)
    .bind(*oldest)
    .bind(rows.keep)
    .execute(conn)
    .await?;
    for chunk in rows.absorbed.chunks(ID_CHUNK) {
        let mut builder = Builder::new("DELETE FROM outbox WHERE delivered_at IS NULL AND id IN (");
        let mut ids = builder.separated(", ");
        for id in chunk {
            ids.push_bind(*id);
        }
        builder.push(")");
        builder.execute(conn).await?;
    }
    Ok(())
}

/// Whole seconds from the timestamp `since` to `now`; 0 for no timestamp (no pending event),
/// one that does not parse, or one in the future (another server's clock).
fn age_seconds(since: &str, now: chrono::DateTime<chrono::Utc>) -> i64 {
    chrono::DateTime::parse_from_rfc3339(since)
        .map(|at| (now - at.with_timezone(&chrono::Utc)).num_seconds().max(0))
        .unwrap_or(0)
}

/// One row of a `pending_events!` statement (or of a `RETURNING` of the same columns).
pub(super) fn decode_event(row: &dyn SqlRow) -> Result<PendingEvent, StoreError> {
    let kind: &str = get(row, "resource_type")?;
    let payload: &str = get(row, "payload")?;
    let id: i64 = get(row, "id")?;
    let resource = ResourceKind::parse(kind)
        .ok_or_else(|| StoreError::Internal(format!("outbox row of unknown kind {kind}")))?;
    let name: &str = get(row, "event")?;
    Ok(PendingEvent {
        id,
        resource_id: get(row, "resource_id")?,
        event: crate::store::event::Event::decode(resource, name, payload)
            .map_err(|e| StoreError::Internal(format!("outbox event {id}: {e}")))?,
        revision_number: get(row, "revision_number")?,
        attempts: get(row, "attempts")?,
        next_attempt_ms: get(row, "next_attempt_ms")?,
    })
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
