//! Which of trunkd's ports OVN says are up: the Logical_Switch_Port `up` column, which
//! ovn-northd sets from the southbound Port_Binding once ovn-controller has claimed the port
//! on a chassis (its VIF is plugged there), and clears when the VIF goes. The driver's port
//! monitor carries the column; this turns its rows into [`PortStateReport`]s: all of them on a
//! snapshot (a new connection may have missed changes), then only the changes.
//!
//! Rows whose name is not a port id (localnet ports, rows of other systems) are ignored. A
//! deleted row of a port that was up reports it down (a hand-deleted row, or its switch
//! deleted): no chassis can hold a port that has no row. A row deleted and written again in
//! one update reports only the new row's state, if it differs. A report about a port the
//! store no longer has is skipped there.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::drivers::port_state::{DataPlaneState, PortStateReport};
use crate::ids::PortId;

#[derive(Debug, Default)]
pub struct PortUp {
    up: Mutex<HashMap<PortId, bool>>,
}

/// `up` is an optional boolean: `true`/`false`, or the empty set when northd has not set it.
fn up_in(row: &Value) -> bool {
    row.get("up").and_then(Value::as_bool).unwrap_or(false)
}

fn port_of(row: &Value) -> Option<PortId> {
    row.get("name")?.as_str()?.parse().ok()
}

fn report(port: PortId, up: bool) -> PortStateReport {
    PortStateReport {
        port,
        state: if up {
            DataPlaneState::Up
        } else {
            DataPlaneState::Down
        },
    }
}

/// (uuid, change) pairs of the port table in `table-updates`.
fn changes(table_updates: &Value) -> impl Iterator<Item = &Value> {
    table_updates
        .as_object()
        .into_iter()
        .flat_map(|tables| tables.values())
        .filter_map(Value::as_object)
        .flat_map(|rows| rows.values())
}

impl PortUp {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<PortId, bool>> {
        // Every update leaves the map consistent.
        self.up.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A monitor snapshot: every port's state.
    pub fn snapshot(&self, table_updates: &Value) -> Vec<PortStateReport> {
        let mut map = self.map();
        map.clear();
        let mut reports = Vec::new();
        for new in changes(table_updates).filter_map(|c| c.get("new")) {
            if let Some(port) = port_of(new) {
                let up = up_in(new);
                map.insert(port, up);
                reports.push(report(port, up));
            }
        }
        reports
    }

    /// A monitor update: the ports whose state changed (a new row counts as a change, a
    /// deleted row of a port that was up as going down).
    pub fn update(&self, table_updates: &Value) -> Vec<PortStateReport> {
        let mut map = self.map();
        let mut reports = Vec::new();
        let mut written = std::collections::HashSet::new();
        let mut deleted = Vec::new();
        for change in changes(table_updates) {
            match change.get("new") {
                Some(new) => {
                    let Some(port) = port_of(new) else { continue };
                    written.insert(port);
                    let up = up_in(new);
                    if map.insert(port, up) != Some(up) {
                        reports.push(report(port, up));
                    }
                }
                None => deleted.extend(change.get("old").and_then(port_of)),
            }
        }
        for port in deleted.into_iter().filter(|p| !written.contains(p)) {
            if map.remove(&port) == Some(true) {
                reports.push(report(port, false));
            }
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshots_report_all_and_updates_only_changes() {
        let (a, b) = (PortId::new(), PortId::new());
        let ports = PortUp::default();
        let snapshot = ports.snapshot(&json!({"Logical_Switch_Port": {
            "u1": {"new": {"name": a.to_string(), "up": true}},
            "u2": {"new": {"name": b.to_string(), "up": ["set", []]}},
            "u3": {"new": {"name": "provnet-x", "up": false}},
        }}));
        let mut snapshot = snapshot;
        snapshot.sort_by_key(|r| r.port);
        let mut expected = vec![report(a, true), report(b, false)];
        expected.sort_by_key(|r| r.port);
        assert_eq!(snapshot, expected);
        // b comes up; a's row changes something else (up unchanged): only b is reported.
        assert_eq!(
            ports.update(&json!({"Logical_Switch_Port": {
                "u2": {"old": {"up": ["set", []]}, "new": {"name": b.to_string(), "up": true}},
                "u1": {"old": {"name": "x"}, "new": {"name": a.to_string(), "up": true}},
            }})),
            vec![report(b, true)]
        );
        // a's row is deleted and written again in one update, down: reported once.
        assert_eq!(
            ports.update(&json!({"Logical_Switch_Port": {
                "u1": {"old": {"name": a.to_string()}},
                "u9": {"new": {"name": a.to_string(), "up": ["set", []]}}}})),
            vec![report(a, false)]
        );
        // b's row is deleted (by hand, or with its switch) while up: it is down.
        assert_eq!(
            ports.update(&json!({"Logical_Switch_Port": {"u2": {"old": {"name": b.to_string()}}}})),
            vec![report(b, false)]
        );
        // a's, while down: nothing new to say.
        assert!(ports
            .update(&json!({"Logical_Switch_Port": {"u9": {"old": {"name": a.to_string()}}}}))
            .is_empty());
    }
}
