//! Recording a change's outbox event in the change's own transaction.
//!
//! Every change appends one row and reads nothing of the outbox: the dispatcher folds a
//! resource's undelivered rows into one delivery (`drivers::folding`), so a write never
//! touches another write's rows (on PostgreSQL, reading them locked the index page every
//! write's row lands on, and writes on unrelated resources aborted each other).

use crate::store::event::Event;
use crate::store::{NewEvent, StoreTx};

use super::ServiceError;

/// Appends `event`. Not for trunk events: those go through `audit::record_trunk_change`,
/// which writes their audit row with them.
pub(crate) async fn record(tx: &mut dyn StoreTx, event: NewEvent) -> Result<(), ServiceError> {
    if matches!(event.event, Event::Trunk(_)) {
        return Err(ServiceError::Internal {
            message: format!(
                "trunk event {} recorded without its audit row",
                event.resource_id()
            ),
        });
    }
    tx.insert_event(&event).await?;
    Ok(())
}
