//! Rows a write appends and never reads back, the trunk audit trail and the outbox, held by the
//! transaction and inserted when it commits, all of them together.
//!
//! Every write records an audit row and an outbox event, each one statement: on PostgreSQL a
//! round trip each, inside a serializable transaction that holds one of the server's few write
//! slots while it waits. Held until the commit, they go in one statement there (a data-modifying
//! `WITH`: the audit rows, then the events), a round trip less on every write and, for a bulk
//! create, one statement instead of two per trunk. SQLite has no data-modifying `WITH`, so it
//! gets one multi-row insert per table; its statements cost no round trip.
//!
//! Nothing inside a write reads either table (the dispatcher folds the outbox, the audit trail
//! is read by its own API), so holding them back changes what no statement sees. A transaction
//! dropped or rolled back never inserts them, as it never kept them.

use super::builder::Builder;
use super::Dialect;
use crate::store::audit::NewAuditRow;
use crate::store::NewEvent;
use crate::store::StoreError;

/// Rows of one table in one statement: 1,000 audit rows bind 9,000 values, under SQLite's
/// limit of 32,766 and, with as many events (6,000), under PostgreSQL's 65,535.
const ROWS_PER_STATEMENT: usize = 1_000;

/// The audit rows and outbox events of one transaction, in the order they were recorded.
#[derive(Debug, Default)]
pub(super) struct Appended {
    audit: Vec<NewAuditRow>,
    events: Vec<EventRow>,
}

/// An outbox row's values, taken from its event when it was recorded (a payload that cannot
/// be encoded fails the call that records it, not the commit).
#[derive(Debug)]
struct EventRow {
    resource_type: &'static str,
    resource_id: String,
    name: &'static str,
    revision_number: i64,
    payload: String,
    created_at: String,
}

impl Appended {
    pub(super) fn audit(&mut self, row: &NewAuditRow) {
        self.audit.push(row.clone());
    }

    pub(super) fn event(&mut self, event: &NewEvent) -> Result<(), StoreError> {
        let payload = event
            .event
            .payload_json()
            .map_err(|e| StoreError::Internal(format!("outbox payload: {e}")))?;
        self.events.push(EventRow {
            resource_type: event.resource().as_str(),
            resource_id: event.resource_id(),
            name: event.event.name(),
            revision_number: event.revision_number,
            payload,
            created_at: crate::model::now_timestamp(),
        });
        Ok(())
    }

    /// Inserts every row held, on `conn` in the transaction about to commit.
    pub(super) async fn insert<D: Dialect>(self, conn: &mut D::Conn) -> Result<(), StoreError> {
        let mut audit = self.audit.chunks(ROWS_PER_STATEMENT);
        let mut events = self.events.chunks(ROWS_PER_STATEMENT);
        loop {
            match (audit.next(), events.next()) {
                (None, None) => return Ok(()),
                (Some(rows), Some(events)) if D::WRITES_IN_WITH => {
                    let mut builder = Builder::new("WITH audit AS (");
                    push_audit(&mut builder, rows);
                    builder.push(") ");
                    push_events(&mut builder, events);
                    builder.execute(conn).await?;
                }
                (rows, events) => {
                    if let Some(rows) = rows {
                        let mut builder = Builder::new("");
                        push_audit(&mut builder, rows);
                        builder.execute(conn).await?;
                    }
                    if let Some(events) = events {
                        let mut builder = Builder::new("");
                        push_events(&mut builder, events);
                        builder.execute(conn).await?;
                    }
                }
            }
        }
    }
}

fn push_audit(builder: &mut Builder, rows: &[NewAuditRow]) {
    builder.push(
        "INSERT INTO trunk_audit (trunk_id, project_id, at, at_ms, action, revision_before, \
         revision_after, actor, details) ",
    );
    builder.push_values(rows, |mut values, row| {
        values
            .push_bind(row.trunk_id.to_string())
            .push_bind(row.project_id.as_str())
            .push_bind(&row.at)
            .push_bind(row.at_ms)
            .push_bind(&row.action)
            .push_bind(row.revision_before)
            .push_bind(row.revision_after)
            .push_bind(&row.actor_json)
            .push_bind(&row.details_json);
    });
}

fn push_events(builder: &mut Builder, events: &[EventRow]) {
    builder.push(
        "INSERT INTO outbox (resource_type, resource_id, event, revision_number, payload, \
         created_at) ",
    );
    builder.push_values(events, |mut values, event| {
        values
            .push_bind(event.resource_type)
            .push_bind(&event.resource_id)
            .push_bind(event.name)
            .push_bind(event.revision_number)
            .push_bind(&event.payload)
            .push_bind(&event.created_at);
    });
}
