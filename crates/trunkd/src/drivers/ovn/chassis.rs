//! Which chassis a port asks for that OVN does not know. A bound port's
//! `options:requested-chassis` names its `binding:host_id` (see [`super::rows`]), and
//! ovn-controller claims the port only on the chassis whose `name` or `hostname` in the
//! southbound `Chassis` table matches it. A host id with a typo, or a host whose
//! ovn-controller never registered, leaves the port DOWN with nothing saying why; this says
//! why, as a warning in the log.
//!
//! Only with `ovn_sb_connection` set. Two monitors feed it: the southbound `Chassis` rows
//! (`name`, `hostname`) and the northbound port rows' `options`, which the port monitor
//! carries beside `up` ([`super::reconcile::follow_ports`]). A port is warned about once per
//! chassis it names that is unknown; if the chassis appears and goes again, again. Nothing is
//! checked before the first southbound snapshot (every chassis would be unknown).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::rows::OPTION_REQUESTED_CHASSIS;
use crate::ids::PortId;
use crate::ovsdb::datum::string_map;
use crate::ovsdb::{Client, MonitorEvent};

pub const SB_DATABASE: &str = "OVN_Southbound";
pub const CHASSIS_TABLE: &str = "Chassis";

/// A port asking for a chassis the southbound database does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownChassis {
    pub port: PortId,
    pub chassis: String,
}

#[derive(Debug, Default)]
struct State {
    /// Chassis rows by UUID: their name and hostname.
    chassis: HashMap<String, [String; 2]>,
    /// Whether a southbound snapshot has arrived (before it, nothing is known).
    seen_chassis: bool,
    /// Each port's requested chassis, for ports that have one.
    requested: HashMap<PortId, String>,
    /// The chassis each port was last warned about.
    warned: HashMap<PortId, String>,
}

impl State {
    fn known(&self) -> HashSet<&str> {
        self.chassis
            .values()
            .flat_map(|names| names.iter())
            .filter(|name| !name.is_empty())
            .map(String::as_str)
            .collect()
    }

    /// The ports in `ports` whose requested chassis is unknown and not yet warned about;
    /// forgets the warnings of those whose chassis is known or gone.
    fn check(&mut self, ports: impl IntoIterator<Item = PortId>) -> Vec<UnknownChassis> {
        if !self.seen_chassis {
            return Vec::new();
        }
        let known: HashSet<String> = self.known().into_iter().map(str::to_string).collect();
        let mut unknown = Vec::new();
        for port in ports {
            match self.requested.get(&port) {
                Some(chassis) if !known.contains(chassis) => {
                    if self.warned.get(&port) != Some(chassis) {
                        self.warned.insert(port, chassis.clone());
                        unknown.push(UnknownChassis {
                            port,
                            chassis: chassis.clone(),
                        });
                    }
                }
                _ => {
                    self.warned.remove(&port);
                }
            }
        }
        unknown
    }

    fn all_ports(&self) -> Vec<PortId> {
        self.requested
            .keys()
            .chain(self.warned.keys())
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect()
    }
}

/// (uuid, change) pairs of every table in `table-updates`.
fn changes(table_updates: &Value) -> impl Iterator<Item = (&String, &Value)> {
    table_updates
        .as_object()
        .into_iter()
        .flat_map(|tables| tables.values())
        .filter_map(Value::as_object)
        .flat_map(|rows| rows.iter())
}

fn text(row: &Value, column: &str) -> String {
    row.get(column)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn requested_chassis(row: &Value) -> Option<String> {
    string_map(row.get("options"))
        .remove(OPTION_REQUESTED_CHASSIS)
        .filter(|chassis| !chassis.is_empty())
}

fn port_of(row: &Value) -> Option<PortId> {
    row.get("name")?.as_str()?.parse().ok()
}

/// The shared record of chassis and requests; cheap to clone (clones share it).
#[derive(Debug, Clone, Default)]
pub struct ChassisCheck {
    state: Arc<Mutex<State>>,
}

impl ChassisCheck {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update leaves the state consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A southbound `Chassis` snapshot (`reset`) or update: every port is checked again.
    pub fn chassis(&self, table_updates: &Value, reset: bool) -> Vec<UnknownChassis> {
        let mut state = self.state();
        if reset {
            state.chassis.clear();
            state.seen_chassis = true;
        }
        for (uuid, change) in changes(table_updates) {
            match change.get("new") {
                Some(new) => {
                    state
                        .chassis
                        .insert(uuid.clone(), [text(new, "name"), text(new, "hostname")]);
                }
                None => {
                    state.chassis.remove(uuid);
                }
            }
        }
        let ports = state.all_ports();
        state.check(ports)
    }

    /// A northbound port snapshot (`reset`) or update: the ports in it are checked.
    pub fn ports(&self, table_updates: &Value, reset: bool) -> Vec<UnknownChassis> {
        let mut state = self.state();
        let mut touched = Vec::new();
        if reset {
            touched.extend(state.all_ports());
            state.requested.clear();
        }
        for (_, change) in changes(table_updates) {
            match change.get("new") {
                Some(new) => {
                    let Some(port) = port_of(new) else { continue };
                    match requested_chassis(new) {
                        Some(chassis) => state.requested.insert(port, chassis),
                        None => state.requested.remove(&port),
                    };
                    touched.push(port);
                }
                None => {
                    if let Some(port) = change.get("old").and_then(port_of) {
                        state.requested.remove(&port);
                        touched.push(port);
                    }
                }
            }
        }
        state.check(touched)
    }
}

/// Logs each port whose requested chassis is unknown.
pub fn warn(unknown: &[UnknownChassis]) {
    for UnknownChassis { port, chassis } in unknown {
        tracing::warn!(
            %port,
            %chassis,
            "the port's requested-chassis (its binding:host_id) names no chassis in the OVN \
             southbound database: no ovn-controller will claim it"
        );
    }
}

/// Follows the southbound `Chassis` table on `client` into `check`.
pub async fn follow_chassis(client: Arc<Client>, check: ChassisCheck) {
    let mut events = client
        .monitor(
            SB_DATABASE,
            json!({ CHASSIS_TABLE: { "columns": ["name", "hostname"] } }),
        )
        .await;
    while let Some(event) = events.recv().await {
        let unknown = match event {
            MonitorEvent::Snapshot(rows) => check.chassis(&rows, true),
            MonitorEvent::Update(rows) => check.chassis(&rows, false),
        };
        warn(&unknown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port_row(port: PortId, chassis: Option<&str>) -> Value {
        let options: Vec<Value> = chassis
            .map(|c| json!([OPTION_REQUESTED_CHASSIS, c]))
            .into_iter()
            .collect();
        json!({"name": port.to_string(), "options": ["map", options]})
    }

    fn unknown(port: PortId, chassis: &str) -> UnknownChassis {
        UnknownChassis {
            port,
            chassis: chassis.into(),
        }
    }

    #[test]
    fn unknown_chassis_are_reported_once_and_again_after_they_come_and_go() {
        let check = ChassisCheck::default();
        let (a, b) = (PortId::new(), PortId::new());
        // Before the southbound snapshot nothing is known, so nothing is said.
        assert!(check
            .ports(
                &json!({"Logical_Switch_Port": {
                    "u1": {"new": port_row(a, Some("compute-1"))},
                    "u2": {"new": port_row(b, Some("compute-9"))},
                }}),
                true,
            )
            .is_empty());
        // compute-1 is known by its hostname; compute-9 is not known at all.
        assert_eq!(
            check.chassis(
                &json!({"Chassis": {"c1": {"new": {"name": "ch-1", "hostname": "compute-1"}}}}),
                true,
            ),
            vec![unknown(b, "compute-9")]
        );
        // Said once: another chassis update does not repeat it.
        assert!(check
            .chassis(
                &json!({"Chassis": {"c2": {"new": {"name": "ch-2", "hostname": "compute-2"}}}}),
                false,
            )
            .is_empty());
        // b moves to a known chassis, then back to the unknown one: said again.
        assert!(check
            .ports(
                &json!({"Logical_Switch_Port": {"u2": {"new": port_row(b, Some("ch-2"))}}}),
                false,
            )
            .is_empty());
        assert_eq!(
            check.ports(
                &json!({"Logical_Switch_Port": {"u2": {"new": port_row(b, Some("compute-9"))}}}),
                false,
            ),
            vec![unknown(b, "compute-9")]
        );
        // compute-1's chassis goes: a is now asking for an unknown chassis.
        assert_eq!(
            check.chassis(
                &json!({"Chassis": {"c1": {"old": {"name": "ch-1"}}}}),
                false
            ),
            vec![unknown(a, "compute-1")]
        );
        // Unbound ports and rows that are not trunkd's say nothing.
        assert!(check
            .ports(
                &json!({"Logical_Switch_Port": {
                    "u1": {"new": port_row(a, None)},
                    "u3": {"new": {"name": "provnet-x", "options": ["map", [["requested-chassis", "zz"]]]}},
                }}),
                false,
            )
            .is_empty());
    }
}
