//! Recording a change's outbox event, folded together with the resource's undelivered ones.
//!
//! Drivers are level-triggered: for an event they read the resource's current state and bring
//! the data plane in line with it, so a resource needs one undelivered event, the newest, as
//! long as it still names what the current state no longer shows (ports that left a trunk,
//! hosts its parent left). Recording a change therefore takes the resource's undelivered
//! events out and folds them into the new one, in the change's own transaction: while a data
//! plane is down, a resource costs one outbox row however often it changes, and a retry reads
//! one event, not the whole history.
//!
//! A dispatcher may be delivering one of the older events at that moment; it is deleted under
//! it, which is harmless: the folded event names everything the older one did and is
//! delivered after it (its later "delivered" mark finds no row). Status reports are the
//! exception: they are written while their driver delivers, so they are recorded unfolded
//! (service::status).

use serde_json::{Map, Value};

use crate::drivers::TRUNK_WIRING_EVENTS;
use crate::store::{NewEvent, PendingEvent, ResourceKind, StoreTx};

use super::ServiceError;

/// The event of a resource's creation, its first.
const CREATED: &str = "created";
/// Payload lists whose entries stay named until delivered: the union is kept.
const KEPT_LISTS: &[&str] = &["sub_ports"];
/// Payload hosts whose agents must hear of the change; older values go to `previous_host_ids`.
const HOST_KEYS: &[&str] = &["host_id", "previous_host_id"];
/// Where the hosts of folded events are kept.
pub const PREVIOUS_HOSTS: &str = "previous_host_ids";

/// Writes `event`, folded with `resource`'s undelivered events, which it deletes.
pub(crate) async fn record(tx: &mut dyn StoreTx, event: NewEvent) -> Result<(), ServiceError> {
    // A resource being created has no history: no query for it (bulk creates are large).
    let older = if event.event == CREATED {
        Vec::new()
    } else {
        tx.take_pending_events(event.resource, &event.resource_id)
            .await?
    };
    tx.insert_event(&fold(&older, event)).await?;
    Ok(())
}

/// What `older` (oldest first) and then `new` amount to for a level-triggered driver.
pub(crate) fn fold(older: &[PendingEvent], mut new: NewEvent) -> NewEvent {
    if older.is_empty() {
        return new;
    }
    // A trunk event that needs no wiring (a rename, a status change) must not hide an older
    // one that does: the folded event keeps the newest wiring name.
    if new.resource == ResourceKind::Trunk && !TRUNK_WIRING_EVENTS.contains(&new.event) {
        if let Some(name) = older
            .iter()
            .rev()
            .find_map(|e| TRUNK_WIRING_EVENTS.iter().find(|w| **w == e.event.as_str()))
        {
            new.event = name;
        }
    }
    let Value::Object(payload) = &mut new.payload else {
        return new;
    };
    for key in KEPT_LISTS {
        // Linear in the entries: a fold may meet thousands of subports.
        let mut seen = std::collections::HashSet::new();
        let union: Vec<Value> = older
            .iter()
            .filter_map(|e| e.payload.get(*key)?.as_array())
            .chain(payload.get(*key).and_then(Value::as_array))
            .flatten()
            .filter(|item| seen.insert(item.to_string()))
            .cloned()
            .collect();
        if !union.is_empty() {
            payload.insert((*key).into(), Value::Array(union));
        }
    }
    fold_hosts(older, payload);
    new
}

/// Collects the hosts older events named, other than those the new event names, in
/// `previous_host_ids`.
fn fold_hosts(older: &[PendingEvent], payload: &mut Map<String, Value>) {
    let current: Vec<&str> = HOST_KEYS
        .iter()
        .filter_map(|k| payload.get(*k)?.as_str())
        .collect();
    let mut hosts: Vec<String> = Vec::new();
    for event in older {
        let named = HOST_KEYS
            .iter()
            .filter_map(|k| event.payload.get(*k)?.as_str())
            .chain(
                event
                    .payload
                    .get(PREVIOUS_HOSTS)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
        for host in named {
            if !host.is_empty() && !current.contains(&host) && !hosts.iter().any(|h| h == host) {
                hosts.push(host.to_string());
            }
        }
    }
    if !hosts.is_empty() {
        payload.insert(
            PREVIOUS_HOSTS.into(),
            Value::Array(hosts.into_iter().map(Value::String).collect()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pending(event: &str, revision: i64, payload: Value) -> PendingEvent {
        PendingEvent {
            id: revision,
            resource: ResourceKind::Trunk,
            resource_id: "t".into(),
            event: event.into(),
            revision_number: revision,
            payload,
            attempts: 0,
            next_attempt_ms: 0,
        }
    }

    fn new(event: &'static str, revision: i64, payload: Value) -> NewEvent {
        NewEvent {
            resource: ResourceKind::Trunk,
            resource_id: "t".into(),
            event,
            revision_number: revision,
            payload,
        }
    }

    #[test]
    fn nothing_pending_changes_nothing() {
        let event = new("updated", 3, json!({"trunk_id": "t"}));
        assert_eq!(fold(&[], event.clone()), event);
    }

    #[test]
    fn ports_that_left_stay_named_and_the_newest_revision_wins() {
        let older = [
            pending(
                "subports_added",
                1,
                json!({"port_id": "p", "sub_ports": ["a", "b"]}),
            ),
            pending(
                "subports_removed",
                2,
                json!({"port_id": "p", "sub_ports": ["a"]}),
            ),
        ];
        let folded = fold(
            &older,
            new(
                "subports_added",
                3,
                json!({"port_id": "p", "sub_ports": ["c", "b"]}),
            ),
        );
        assert_eq!(folded.revision_number, 3);
        assert_eq!(folded.event, "subports_added");
        assert_eq!(folded.payload["sub_ports"], json!(["a", "b", "c"]));
        assert_eq!(folded.payload["port_id"], "p");
    }

    #[test]
    fn a_rename_does_not_hide_wiring() {
        let older = [pending("created", 0, json!({"sub_ports": ["a"]}))];
        let folded = fold(&older, new("updated", 1, json!({"sub_ports": []})));
        assert_eq!(folded.event, "created");
        assert_eq!(folded.payload["sub_ports"], json!(["a"]));
        // Other resources keep their own name.
        let mut port = new("updated", 1, json!({}));
        port.resource = ResourceKind::Port;
        assert_eq!(fold(&older, port).event, "updated");
    }

    #[test]
    fn every_host_the_parent_left_is_kept() {
        let older = [
            pending(
                "parent_bound",
                1,
                json!({"host_id": "b", "previous_host_id": "a"}),
            ),
            pending(
                "parent_bound",
                2,
                json!({"host_id": "c", "previous_host_id": "b"}),
            ),
        ];
        let folded = fold(
            &older,
            new(
                "parent_unbound",
                3,
                json!({"host_id": "", "previous_host_id": "c"}),
            ),
        );
        assert_eq!(folded.payload[PREVIOUS_HOSTS], json!(["b", "a"]));
        assert_eq!(folded.payload["previous_host_id"], "c");
    }
}
