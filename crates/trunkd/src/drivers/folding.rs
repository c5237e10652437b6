//! What a resource's undelivered outbox events amount to for a level-triggered driver.
//!
//! Drivers read a resource's current state when handed an event and bring the data plane in
//! line with it, so they need one event per resource, the newest, as long as it still names
//! what the current state no longer shows (ports that left a trunk, hosts its parent left).
//! Writes append one row per change and never read the outbox (on PostgreSQL such a read
//! locks the index page every other write's row lands on, which made writes on unrelated
//! resources abort each other). The dispatcher folds a resource's pending rows here when it
//! delivers them (one delivery, every row marked), and writes the fold back over them when a
//! delivery fails or is not yet due, so a resource whose data plane is down costs one row
//! (plus those appended since its last attempt) however often it changes.

use std::collections::HashSet;

use crate::ids::PortId;
use crate::store::event::{Event, TrunkEvent};
use crate::store::{CompactedRows, NewEvent, PendingEvent};

/// Rows of one resource delivered as one: the event a driver is handed (carrying the newest
/// row's id and revision) and the rows it stands for, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedDelivery {
    pub event: PendingEvent,
    pub rows: Vec<i64>,
}

impl FoldedDelivery {
    /// When the rows may be tried: their oldest row's time (a row that failed holds back those
    /// appended after it).
    pub fn next_attempt_ms(&self) -> i64 {
        self.event.next_attempt_ms
    }

    /// The rows written back as one, if there is more than one.
    pub fn compaction(&self) -> Option<CompactedRows> {
        let (keep, absorbed) = self.rows.split_last()?;
        (!absorbed.is_empty()).then(|| CompactedRows {
            keep: *keep,
            revision_number: self.event.revision_number,
            event: self.event.event.clone(),
            attempts: self.event.attempts,
            next_attempt_ms: self.event.next_attempt_ms,
            absorbed: absorbed.to_vec(),
        })
    }
}

/// Folds one resource's pending rows (oldest first) as they would have been folded had each
/// change folded the rows before it: an event that stands alone ([`Event::stands_alone`])
/// starts a delivery of its own, any other takes in every delivery before it.
pub fn fold_pending(rows: Vec<PendingEvent>) -> Vec<FoldedDelivery> {
    let mut deliveries: Vec<FoldedDelivery> = Vec::new();
    for row in rows {
        if row.event.stands_alone() || deliveries.is_empty() {
            deliveries.push(FoldedDelivery {
                rows: vec![row.id],
                event: row,
            });
            continue;
        }
        let (older, older_rows): (Vec<PendingEvent>, Vec<Vec<i64>>) =
            std::mem::take(&mut deliveries)
                .into_iter()
                .map(|d| (d.event, d.rows))
                .unzip();
        let attempts = older
            .iter()
            .map(|e| e.attempts)
            .fold(row.attempts, i64::max);
        let next_attempt_ms = older
            .first()
            .map_or(row.next_attempt_ms, |e| e.next_attempt_ms);
        let folded = fold(&older, NewEvent::new(row.revision_number, row.event));
        let mut rows: Vec<i64> = older_rows.concat();
        rows.push(row.id);
        deliveries.push(FoldedDelivery {
            event: PendingEvent {
                id: row.id,
                resource_id: row.resource_id,
                revision_number: folded.revision_number,
                event: folded.event,
                attempts,
                next_attempt_ms,
            },
            rows,
        });
    }
    deliveries
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
    ///
    /// The dispatcher's fold of the rows as appended unfolded must deliver the same, each
    /// delivery standing for a run of the rows, all of them in order.
    fn replay(sequence: &[&(NewEvent, String, Value)]) {
        let mut typed: Vec<PendingEvent> = Vec::new();
        let mut legacy: Vec<(String, Value)> = Vec::new();
        let mut appended: Vec<PendingEvent> = Vec::new();
        for (id, (event, name, payload)) in (1..).zip(sequence) {
            appended.push(pending(id, event));
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
            let names = sequence.iter().map(|s| &s.1).collect::<Vec<_>>();
            assert_eq!(rows, before, "after {names:?}");
            let deliveries = fold_pending(appended.clone());
            let delivered: Vec<(String, String)> = deliveries
                .iter()
                .map(|d| {
                    (
                        d.event.event.name().to_string(),
                        d.event.event.payload_json().expect("encode"),
                    )
                })
                .collect();
            assert_eq!(
                delivered, before,
                "folded by the dispatcher after {names:?}"
            );
            let covered: Vec<i64> = deliveries.iter().flat_map(|d| d.rows.clone()).collect();
            assert_eq!(covered, (1..=id).collect::<Vec<i64>>());
            for delivery in &deliveries {
                assert_eq!(delivery.rows.last(), Some(&delivery.event.id));
            }
        }
    }

    #[test]
    fn a_fold_keeps_the_oldest_rows_retry_time_and_every_attempt() {
        let ids = ids();
        let mut failed = pending(
            7,
            &NewEvent::new(1, TrunkChange::SubportsAdded(members(&ids, &[ids.a]))),
        );
        failed.attempts = 3;
        failed.next_attempt_ms = 5_000;
        let later = pending(
            9,
            &NewEvent::new(2, TrunkChange::SubportsRemoved(members(&ids, &[ids.a]))),
        );
        let deliveries = fold_pending(vec![failed.clone(), later]);
        assert_eq!(deliveries.len(), 1);
        let delivery = &deliveries[0];
        assert_eq!(delivery.rows, [7, 9]);
        assert_eq!(delivery.next_attempt_ms(), 5_000);
        assert_eq!(delivery.event.attempts, 3);
        assert_eq!(delivery.event.revision_number, 2);
        let compacted = delivery.compaction().expect("two rows fold into one");
        assert_eq!(compacted.keep, 9);
        assert_eq!(compacted.absorbed, [7]);
        assert_eq!(compacted.attempts, 3);
        assert_eq!(compacted.next_attempt_ms, 5_000);
        assert_eq!(compacted.event.name(), "subports_removed");
        assert_eq!(compacted.event.sub_ports(), [ids.a]);
        // One row is nothing to write back.
        assert_eq!(fold_pending(vec![failed])[0].compaction(), None);
    }

    #[test]
    fn a_status_change_is_delivered_on_its_own_until_a_change_folds_it_in() {
        let ids = ids();
        let added = pending(
            1,
            &NewEvent::new(1, TrunkChange::SubportsAdded(members(&ids, &[ids.a]))),
        );
        let status = pending(
            2,
            &NewEvent::new(
                2,
                TrunkChange::StatusChanged(StatusChange {
                    trunk_id: ids.trunk,
                    from: TrunkStatus::Down,
                    to: TrunkStatus::Active,
                }),
            ),
        );
        let names = |rows: Vec<PendingEvent>| -> Vec<(&'static str, Vec<i64>)> {
            fold_pending(rows)
                .into_iter()
                .map(|d| (d.event.event.name(), d.rows))
                .collect()
        };
        assert_eq!(
            names(vec![added.clone(), status.clone()]),
            [("subports_added", vec![1]), ("status_changed", vec![2])]
        );
        let removed = pending(
            3,
            &NewEvent::new(3, TrunkChange::SubportsRemoved(members(&ids, &[ids.b]))),
        );
        assert_eq!(
            names(vec![added, status, removed]),
            [("subports_removed", vec![1, 2, 3])]
        );
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
