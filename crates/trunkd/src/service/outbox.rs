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

use std::collections::HashSet;

use crate::ids::PortId;
use crate::store::event::{Event, TrunkEvent};
use crate::store::{NewEvent, PendingEvent, StoreTx};

use super::ServiceError;

/// Writes `event`, folded with `resource`'s undelivered events, which it deletes. Not for
/// trunk events: those go through `audit::record_trunk_change`, which writes their audit row
/// with them.
pub(crate) async fn record(tx: &mut dyn StoreTx, event: NewEvent) -> Result<(), ServiceError> {
    if matches!(event.event, Event::Trunk(_)) {
        return Err(ServiceError::Internal {
            message: format!(
                "trunk event {} recorded without its audit row",
                event.resource_id()
            ),
        });
    }
    record_any(tx, event).await
}

/// [`record`] for any event, trunk events included (for `audit`).
pub(super) async fn record_any(tx: &mut dyn StoreTx, event: NewEvent) -> Result<(), ServiceError> {
    // A resource being created has no history: no query for it (bulk creates are large).
    let older = if event.event.is_creation() {
        Vec::new()
    } else {
        tx.take_pending_events(event.resource(), &event.resource_id())
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
    // A trunk change that needs no wiring (a rename, tags) must not hide an older one that
    // does: it is delivered under the newest wiring event's name.
    if let Event::Trunk(trunk) = &mut new.event {
        if let Some(wiring) = older
            .iter()
            .rev()
            .filter_map(|e| e.event.as_trunk())
            .map(TrunkEvent::kind)
            .find(|kind| kind.is_wiring())
        {
            trunk.fold_under(wiring);
        }
    }
    // Ports that left stay named until delivered: the union is kept. Linear in the entries:
    // a fold may meet thousands of subports.
    let mut seen = HashSet::new();
    let union: Vec<PortId> = older
        .iter()
        .flat_map(|e| e.event.sub_ports())
        .chain(new.event.sub_ports())
        .copied()
        .filter(|port| seen.insert(*port))
        .collect();
    if !union.is_empty() {
        new.event.set_sub_ports(union);
    }
    let hosts = older_hosts(older, &new.event);
    if !hosts.is_empty() {
        new.event.set_previous_host_ids(hosts);
    }
    new
}

/// The hosts older events named (their own and those folded into them) other than those `new`
/// names: their agents must hear of the change too.
fn older_hosts(older: &[PendingEvent], new: &Event) -> Vec<String> {
    let current = new.hosts();
    let mut hosts: Vec<String> = Vec::new();
    for event in older {
        let named = event
            .event
            .hosts()
            .into_iter()
            .chain(event.event.previous_host_ids().iter().map(String::as_str));
        for host in named {
            if !host.is_empty() && !current.contains(&host) && !hosts.iter().any(|h| h == host) {
                hosts.push(host.to_string());
            }
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TrunkId;
    use crate::model::TrunkStatus;
    use crate::store::event::{
        ParentBinding, PortEvent, PortRef, PortUpdate, PortUpdated, StatusChange, TagsChanged,
        TrunkChange, TrunkEventKind, TrunkMembers, TrunkUpdate,
    };
    use serde_json::{json, Map, Value};

    /// As the dispatcher reads it back: through the store's encoding.
    fn pending(id: i64, event: &NewEvent) -> PendingEvent {
        let payload = event.event.payload_json().expect("encode");
        PendingEvent {
            id,
            resource_id: event.resource_id(),
            revision_number: event.revision_number,
            event: Event::decode(event.resource(), event.event.name(), &payload).expect("decode"),
            attempts: 0,
            next_attempt_ms: 0,
        }
    }

    struct Ids {
        trunk: TrunkId,
        parent: PortId,
        a: PortId,
        b: PortId,
    }

    fn ids() -> Ids {
        Ids {
            trunk: TrunkId::new(),
            parent: PortId::new(),
            a: PortId::new(),
            b: PortId::new(),
        }
    }

    fn members(ids: &Ids, ports: &[PortId]) -> TrunkMembers {
        TrunkMembers::new(ids.trunk, ids.parent, ports.to_vec())
    }

    fn bound(ids: &Ids, host: &str, previous: &str) -> NewEvent {
        let binding = ParentBinding::new(ids.trunk, ids.parent, host.into(), previous.into());
        let change = if host.is_empty() {
            TrunkChange::ParentUnbound(binding)
        } else {
            TrunkChange::ParentBound(binding)
        };
        NewEvent::new(0, change)
    }

    #[test]
    fn nothing_pending_changes_nothing() {
        let ids = ids();
        let event = NewEvent::new(
            3,
            TrunkChange::Updated(TrunkUpdate::Attributes(members(&ids, &[]))),
        );
        assert_eq!(fold(&[], event.clone()), event);
    }

    #[test]
    fn ports_that_left_stay_named_and_the_newest_revision_wins() {
        let ids = ids();
        let c = PortId::new();
        let older = [
            pending(
                1,
                &NewEvent::new(
                    1,
                    TrunkChange::SubportsAdded(members(&ids, &[ids.a, ids.b])),
                ),
            ),
            pending(
                2,
                &NewEvent::new(2, TrunkChange::SubportsRemoved(members(&ids, &[ids.a]))),
            ),
        ];
        let folded = fold(
            &older,
            NewEvent::new(3, TrunkChange::SubportsAdded(members(&ids, &[c, ids.b]))),
        );
        assert_eq!(folded.revision_number, 3);
        assert_eq!(folded.event.name(), "subports_added");
        assert_eq!(folded.event.sub_ports(), [ids.a, ids.b, c]);
        assert_eq!(
            folded.event.as_trunk().and_then(|t| t.parent()),
            Some(ids.parent)
        );
    }

    #[test]
    fn a_rename_does_not_hide_wiring() {
        let ids = ids();
        let older = [pending(
            1,
            &NewEvent::new(0, TrunkChange::Created(members(&ids, &[ids.a]))),
        )];
        let rename = TrunkChange::Updated(TrunkUpdate::Attributes(members(&ids, &[])));
        let folded = fold(&older, NewEvent::new(1, rename));
        assert_eq!(
            folded.event.as_trunk().map(TrunkEvent::kind),
            Some(TrunkEventKind::Created)
        );
        assert_eq!(folded.event.sub_ports(), [ids.a]);
        // Tags are no wiring either.
        let tags = TrunkChange::Updated(TrunkUpdate::Tags(TagsChanged::new(ids.trunk, vec![])));
        let folded = fold(&older, NewEvent::new(1, tags));
        assert_eq!(folded.event.name(), "created");
        assert_eq!(folded.event.sub_ports(), [ids.a]);
        // Other resources keep their own name.
        let port = NewEvent::new(
            1,
            PortEvent::Updated(PortUpdate::Attributes(PortUpdated::new(ids.a, "h".into()))),
        );
        let older_port = [pending(
            1,
            &NewEvent::new(0, PortEvent::Created(PortRef::new(ids.a))),
        )];
        assert_eq!(fold(&older_port, port).event.name(), "updated");
    }

    #[test]
    fn every_host_the_parent_left_is_kept() {
        let ids = ids();
        let older = [
            pending(1, &bound(&ids, "b", "a")),
            pending(2, &bound(&ids, "c", "b")),
        ];
        let folded = fold(&older, bound(&ids, "", "c"));
        assert_eq!(folded.event.previous_host_ids(), ["b", "a"]);
        assert_eq!(folded.event.hosts(), ["", "c"]);
        assert_eq!(folded.event.name(), "parent_unbound");
    }

    /// The fold as it was written before events had types, on names and JSON payloads: what
    /// the typed fold must still write, byte for byte.
    fn legacy_fold(
        older: &[(String, Value)],
        new: (String, Value),
        trunk: bool,
    ) -> (String, Value) {
        const WIRING: [&str; 6] = [
            "created",
            "subports_added",
            "subports_removed",
            "deleted",
            "parent_bound",
            "parent_unbound",
        ];
        let (mut name, mut payload) = new;
        if older.is_empty() {
            return (name, payload);
        }
        if trunk && !WIRING.contains(&name.as_str()) {
            if let Some(older_name) = older
                .iter()
                .rev()
                .find_map(|(n, _)| WIRING.iter().find(|w| **w == n.as_str()))
            {
                name = (*older_name).to_string();
            }
        }
        let Value::Object(map) = &mut payload else {
            return (name, payload);
        };
        let mut seen = HashSet::new();
        let union: Vec<Value> = older
            .iter()
            .filter_map(|(_, p)| p.get("sub_ports")?.as_array())
            .chain(map.get("sub_ports").and_then(Value::as_array))
            .flatten()
            .filter(|item| seen.insert(item.to_string()))
            .cloned()
            .collect();
        if !union.is_empty() {
            map.insert("sub_ports".into(), Value::Array(union));
        }
        legacy_fold_hosts(older, map);
        (name, payload)
    }

    fn legacy_fold_hosts(older: &[(String, Value)], payload: &mut Map<String, Value>) {
        let keys = ["host_id", "previous_host_id"];
        let current: Vec<String> = keys
            .iter()
            .filter_map(|k| Some(payload.get(*k)?.as_str()?.to_string()))
            .collect();
        let mut hosts: Vec<String> = Vec::new();
        for (_, p) in older {
            let named = keys.iter().filter_map(|k| p.get(*k)?.as_str()).chain(
                p.get("previous_host_ids")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
            for host in named {
                if !host.is_empty()
                    && !current.iter().any(|c| c == host)
                    && !hosts.iter().any(|h| h == host)
                {
                    hosts.push(host.to_string());
                }
            }
        }
        if !hosts.is_empty() {
            payload.insert(
                "previous_host_ids".into(),
                Value::Array(hosts.into_iter().map(Value::String).collect()),
            );
        }
    }

    /// Each change the service records, typed and as the service wrote it before.
    fn trunk_changes(ids: &Ids) -> Vec<(NewEvent, String, Value)> {
        let t = ids.trunk.to_string();
        let p = ids.parent.to_string();
        let (a, b) = (ids.a.to_string(), ids.b.to_string());
        let members_json =
            |ports: &[&String]| json!({"trunk_id": t, "port_id": p, "sub_ports": ports});
        let binding_json = |host: &str, previous: &str| json!({"trunk_id": t, "port_id": p, "host_id": host, "previous_host_id": previous});
        vec![
            (
                NewEvent::new(0, TrunkChange::Created(members(ids, &[ids.a]))),
                "created".into(),
                members_json(&[&a]),
            ),
            (
                NewEvent::new(
                    1,
                    TrunkChange::Updated(TrunkUpdate::Attributes(members(ids, &[]))),
                ),
                "updated".into(),
                members_json(&[]),
            ),
            (
                NewEvent::new(
                    1,
                    TrunkChange::Updated(TrunkUpdate::Tags(TagsChanged::new(
                        ids.trunk,
                        vec!["x".into()],
                    ))),
                ),
                "updated".into(),
                json!({"id": t, "tags": ["x"]}),
            ),
            (
                NewEvent::new(2, TrunkChange::SubportsAdded(members(ids, &[ids.b]))),
                "subports_added".into(),
                members_json(&[&b]),
            ),
            (
                NewEvent::new(2, TrunkChange::SubportsRemoved(members(ids, &[ids.a]))),
                "subports_removed".into(),
                members_json(&[&a]),
            ),
            (
                bound(ids, "h1", ""),
                "parent_bound".into(),
                binding_json("h1", ""),
            ),
            (
                bound(ids, "h2", "h1"),
                "parent_bound".into(),
                binding_json("h2", "h1"),
            ),
            (
                bound(ids, "", "h2"),
                "parent_unbound".into(),
                binding_json("", "h2"),
            ),
            (
                NewEvent::new(
                    3,
                    TrunkChange::StatusChanged(StatusChange {
                        trunk_id: ids.trunk,
                        from: TrunkStatus::Down,
                        to: TrunkStatus::Active,
                    }),
                ),
                "status_changed".into(),
                json!({"trunk_id": t, "from": "DOWN", "to": "ACTIVE"}),
            ),
            (
                NewEvent::new(4, TrunkChange::Deleted(members(ids, &[ids.a, ids.b]))),
                "deleted".into(),
                members_json(&[&a, &b]),
            ),
        ]
    }

    fn port_changes(ids: &Ids) -> Vec<(NewEvent, String, Value)> {
        let id = ids.a.to_string();
        let host = |h: &str| {
            NewEvent::new(
                1,
                PortEvent::Updated(PortUpdate::Attributes(PortUpdated::new(ids.a, h.into()))),
            )
        };
        vec![
            (
                NewEvent::new(0, PortEvent::Created(PortRef::new(ids.a))),
                "created".into(),
                json!({"id": id}),
            ),
            (
                host("h1"),
                "updated".into(),
                json!({"id": id, "host_id": "h1"}),
            ),
            (
                host("h2"),
                "updated".into(),
                json!({"id": id, "host_id": "h2"}),
            ),
            (host(""), "updated".into(), json!({"id": id, "host_id": ""})),
            (
                NewEvent::new(
                    1,
                    PortEvent::Updated(PortUpdate::Tags(TagsChanged::new(ids.a, vec![]))),
                ),
                "updated".into(),
                json!({"id": id, "tags": []}),
            ),
            (
                NewEvent::new(2, PortEvent::Deleted(PortRef::new(ids.a))),
                "deleted".into(),
                json!({"id": id}),
            ),
        ]
    }

    /// Records `sequence` as `record` does (creations and status reports unfolded) both ways,
    /// and compares every row after every step.
    fn replay(sequence: &[&(NewEvent, String, Value)]) {
        let mut typed: Vec<PendingEvent> = Vec::new();
        let mut legacy: Vec<(String, Value)> = Vec::new();
        for (id, (event, name, payload)) in (1..).zip(sequence) {
            let trunk = event.resource() == crate::store::ResourceKind::Trunk;
            let unfolded = event.event.is_creation() || event.event.name() == "status_changed";
            if unfolded {
                typed.push(pending(id, event));
                legacy.push((name.clone(), payload.clone()));
            } else {
                typed = vec![pending(id, &fold(&typed, event.clone()))];
                legacy = vec![legacy_fold(&legacy, (name.clone(), payload.clone()), trunk)];
            }
            let rows: Vec<(String, String)> = typed
                .iter()
                .map(|e| {
                    (
                        e.event.name().to_string(),
                        e.event.payload_json().expect("encode"),
                    )
                })
                .collect();
            let before: Vec<(String, String)> = legacy
                .iter()
                .map(|(n, p)| (n.clone(), p.to_string()))
                .collect();
            assert_eq!(
                rows,
                before,
                "after {:?}",
                sequence.iter().map(|s| &s.1).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn folding_writes_what_it_wrote_before_events_had_types() {
        let ids = ids();
        for changes in [trunk_changes(&ids), port_changes(&ids)] {
            for x in &changes {
                for y in &changes {
                    for z in &changes {
                        replay(&[x, y, z]);
                    }
                }
            }
        }
    }
}
