//! Plans the one Open vSwitch transaction that wires this host's trunks as the server wants
//! them: pure (no I/O), so every rule is unit-tested here.
//!
//! Per trunk a trunk bridge holds the VM's port (plugged by the compute service) and, for the
//! parent and each subport, one end of a patch-port pair. On the trunk bridge a subport's end
//! is an access port tagged with its segmentation ID and the parent's end carries untagged
//! frames only; on the integration bridge each peer is an access port tagged with the local
//! VLAN of its port's network (one per network on this host). So a frame the VM sends on VLAN
//! N leaves through subport N's pair alone, and arrives in its network's local VLAN.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::names;
use crate::ids::{NetworkId, PortId, TrunkId};
use crate::ovsdb::datum;
use crate::service::AgentTrunk;

pub const KEY_TRUNK: &str = "trunkd:trunk_id";
pub const KEY_PORT: &str = "trunkd:port_id";
pub const KEY_NETWORK: &str = "trunkd:network_id";
pub const KEY_REVISION: &str = "trunkd:revision_number";

/// A Port row and its one Interface, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortState {
    pub uuid: String,
    pub name: String,
    pub tag: Option<i64>,
    pub trunks: Vec<i64>,
    pub interface_type: String,
    pub peer: Option<String>,
    pub external_ids: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeState {
    pub uuid: String,
    pub name: String,
    pub ports: Vec<PortState>,
    pub external_ids: BTreeMap<String, String>,
}

/// The switch as read: the root row and every bridge with its ports.
#[derive(Debug, Clone, Default)]
pub struct SwitchState {
    pub root_uuid: String,
    pub bridges: Vec<BridgeState>,
}

/// Settings the plan needs.
#[derive(Debug, Clone)]
pub struct Layout {
    pub integration_bridge: String,
    pub datapath_type: String,
}

/// One end of a patch pair as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WantedPort {
    name: String,
    tag: Option<i64>,
    trunks: Vec<i64>,
    peer: String,
    external_ids: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub operations: Vec<Value>,
    /// What the plan changes, for logs.
    pub changes: Vec<String>,
    /// Per trunk, at the revision planned: what the plan leaves wired, or why not all.
    pub outcomes: Vec<TrunkOutcome>,
}

/// What a plan does for one trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkOutcome {
    pub trunk: TrunkId,
    pub revision_number: i64,
    /// The ports (parent first) whose pair the plan leaves in place.
    pub wired: Vec<PortId>,
    /// Why some members cannot be wired on this host; `None`: all are.
    pub refusal: Option<String>,
}

/// Local VLAN of each network on the integration bridge: kept from the ports trunkd wired
/// before (so a restart changes nothing), new networks get the lowest free VLAN. A network
/// left without one (all 4,094 taken) is absent from the map.
fn local_vlans(
    integration: &BridgeState,
    networks: &BTreeSet<NetworkId>,
) -> BTreeMap<NetworkId, i64> {
    let mut assigned: BTreeMap<NetworkId, i64> = BTreeMap::new();
    let mut used: BTreeSet<i64> = BTreeSet::new();
    for port in &integration.ports {
        if let Some(tag) = port.tag {
            used.insert(tag);
            let network = port
                .external_ids
                .get(KEY_NETWORK)
                .and_then(|n| n.parse().ok());
            if let Some(network) = network {
                assigned.entry(network).or_insert(tag);
            }
        }
    }
    let mut free = (1..=4094).filter(|v| !used.contains(v));
    let mut result = BTreeMap::new();
    for network in networks {
        let vlan = match assigned.get(network) {
            Some(vlan) => Some(*vlan),
            None => free.next(),
        };
        if let Some(vlan) = vlan {
            result.insert(*network, vlan);
        }
    }
    result
}

fn ids(
    trunk: TrunkId,
    port: PortId,
    network: NetworkId,
    revision: i64,
) -> BTreeMap<String, String> {
    [
        (KEY_TRUNK, trunk.to_string()),
        (KEY_PORT, port.to_string()),
        (KEY_NETWORK, network.to_string()),
        (KEY_REVISION, revision.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Whether a port is as wanted (the revision it was wired at does not matter).
fn matches(have: &PortState, want: &WantedPort) -> bool {
    let without_revision = |m: &BTreeMap<String, String>| {
        m.iter()
            .filter(|(k, _)| k.as_str() != KEY_REVISION)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    have.tag == want.tag
        && have.trunks == want.trunks
        && have.interface_type == "patch"
        && have.peer.as_deref() == Some(want.peer.as_str())
        && without_revision(&have.external_ids) == without_revision(&want.external_ids)
}

fn port_row(want: &WantedPort, interface: &str) -> Value {
    json!({
        "name": want.name,
        "tag": datum::optional(want.tag),
        "trunks": datum::set_of(want.trunks.iter().map(|t| json!(t))),
        "interfaces": datum::named_uuid(interface),
        "external_ids": datum::map_of(&want.external_ids),
    })
}

fn interface_row(want: &WantedPort) -> Value {
    json!({
        "name": want.name,
        "type": "patch",
        "options": datum::map_of(&[("peer".to_string(), want.peer.clone())].into()),
    })
}

/// Plans the transaction that makes `state` wire exactly `trunks`. A missing integration
/// bridge is created (as `ovs-vsctl --may-exist add-br` would), with the ports it should hold.
pub fn plan(trunks: &[AgentTrunk], state: &SwitchState, layout: &Layout) -> Plan {
    let missing_integration = BridgeState {
        uuid: String::new(),
        name: layout.integration_bridge.clone(),
        ports: Vec::new(),
        external_ids: BTreeMap::new(),
    };
    let existing = state
        .bridges
        .iter()
        .find(|b| b.name == layout.integration_bridge);
    let integration = existing.unwrap_or(&missing_integration);
    let networks: BTreeSet<NetworkId> = trunks
        .iter()
        .flat_map(|t| {
            std::iter::once(t.parent.network_id)
                .chain(t.sub_ports.iter().map(|s| s.port.network_id))
        })
        .collect();
    let vlans = local_vlans(integration, &networks);
    let mut outcomes = Vec::with_capacity(trunks.len());

    // Wanted ports per bridge name.
    let mut wanted: BTreeMap<String, Vec<WantedPort>> = BTreeMap::new();
    let mut bridge_ids: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for trunk in trunks {
        let bridge = names::trunk_bridge(trunk.id);
        bridge_ids.insert(
            bridge.clone(),
            [
                (KEY_TRUNK.to_string(), trunk.id.to_string()),
                (KEY_REVISION.to_string(), trunk.revision_number.to_string()),
            ]
            .into(),
        );
        let all = std::iter::once((&trunk.parent, None)).chain(
            trunk
                .sub_ports
                .iter()
                .map(|s| (&s.port, Some(s.segmentation_id))),
        );
        // A member whose network has no local VLAN here cannot be wired; without its parent,
        // none of the trunk can. The rest keeps its wiring, and the trunk is refused.
        let (members, stranded): (Vec<_>, Vec<_>) =
            all.partition(|(port, _)| vlans.contains_key(&port.network_id));
        let parent_stranded = !vlans.contains_key(&trunk.parent.network_id);
        let members = if parent_stranded { Vec::new() } else { members };
        outcomes.push(TrunkOutcome {
            trunk: trunk.id,
            revision_number: trunk.revision_number,
            wired: members.iter().map(|(port, _)| port.port_id).collect(),
            refusal: (!stranded.is_empty()).then(|| {
                let networks: BTreeSet<String> = stranded
                    .iter()
                    .map(|(port, _)| port.network_id.to_string())
                    .collect();
                format!(
                    "No free local VLAN on this host for network {}: {} of the trunk's \
                     ports cannot be wired here.",
                    networks.into_iter().collect::<Vec<_>>().join(", "),
                    if parent_stranded {
                        1 + trunk.sub_ports.len()
                    } else {
                        stranded.len()
                    }
                )
            }),
        });
        for (port, segmentation) in members {
            let external_ids = ids(
                trunk.id,
                port.port_id,
                port.network_id,
                trunk.revision_number,
            );
            let (near, far) = (
                names::trunk_side(port.port_id),
                names::integration_side(port.port_id),
            );
            wanted.entry(bridge.clone()).or_default().push(WantedPort {
                name: near.clone(),
                tag: segmentation,
                // The parent's end carries untagged frames only.
                trunks: if segmentation.is_none() {
                    vec![0]
                } else {
                    Vec::new()
                },
                peer: far.clone(),
                external_ids: external_ids.clone(),
            });
            wanted
                .entry(layout.integration_bridge.clone())
                .or_default()
                .push(WantedPort {
                    name: far,
                    tag: vlans.get(&port.network_id).copied(),
                    trunks: Vec::new(),
                    peer: near,
                    external_ids,
                });
        }
    }

    if existing.is_none() {
        wanted.entry(layout.integration_bridge.clone()).or_default();
    }

    let mut plan = Plan::default();
    let mut bridge_ops = Vec::new();
    let mut port_ops = Vec::new();
    let mut counter = 0_usize;
    let mut fresh = |prefix: &str| {
        counter += 1;
        format!("{prefix}{counter}")
    };

    // Existing bridges: fix their ports, drop stale ones, and drop stale trunk bridges.
    for bridge in &state.bridges {
        let is_ours = bridge.external_ids.contains_key(KEY_TRUNK);
        let Some(want) = wanted.remove(&bridge.name) else {
            if is_ours {
                plan.changes
                    .push(format!("remove trunk bridge {}", bridge.name));
                bridge_ops.push(json!({
                    "op": "mutate", "table": "Open_vSwitch",
                    "where": [["_uuid", "==", datum::uuid(&state.root_uuid)]],
                    "mutations": [["bridges", "delete", datum::set_of([datum::uuid(&bridge.uuid)])]],
                }));
            } else {
                // Ports trunkd wired on a bridge that is not its own (the integration bridge
                // when no trunk is left): remove them.
                let stale: Vec<&PortState> = bridge
                    .ports
                    .iter()
                    .filter(|p| p.external_ids.contains_key(KEY_PORT))
                    .collect();
                remove_ports(&mut plan, &mut port_ops, bridge, &stale);
            }
            continue;
        };
        let wanted_names: BTreeSet<&str> = want.iter().map(|w| w.name.as_str()).collect();
        let stale: Vec<&PortState> = bridge
            .ports
            .iter()
            .filter(|p| {
                p.external_ids.contains_key(KEY_PORT) && !wanted_names.contains(p.name.as_str())
            })
            .collect();
        remove_ports(&mut plan, &mut port_ops, bridge, &stale);
        let mut added = Vec::new();
        for port in &want {
            match bridge.ports.iter().find(|p| p.name == port.name) {
                Some(have) if matches(have, port) => {}
                Some(have) => {
                    plan.changes
                        .push(format!("repair port {} on {}", port.name, bridge.name));
                    // Replace the row: simpler than patching port and interface separately.
                    port_ops.push(json!({
                        "op": "mutate", "table": "Bridge",
                        "where": [["_uuid", "==", datum::uuid(&bridge.uuid)]],
                        "mutations": [["ports", "delete", datum::set_of([datum::uuid(&have.uuid)])]],
                    }));
                    added.push(port);
                }
                None => {
                    plan.changes
                        .push(format!("add port {} on {}", port.name, bridge.name));
                    added.push(port);
                }
            }
        }
        if !added.is_empty() {
            let refs = insert_ports(added, &mut port_ops, &mut fresh);
            port_ops.push(json!({
                "op": "mutate", "table": "Bridge",
                "where": [["_uuid", "==", datum::uuid(&bridge.uuid)]],
                "mutations": [["ports", "insert", datum::set_of(refs)]],
            }));
        }
    }

    // New trunk bridges (and a missing integration bridge), each created with its ports.
    for (bridge, want) in wanted {
        plan.changes.push(if bridge == layout.integration_bridge {
            format!(
                "create the missing integration bridge {bridge} with {} ports",
                want.len()
            )
        } else {
            format!("create trunk bridge {bridge} with {} ports", want.len())
        });
        let refs = insert_ports(&want, &mut port_ops, &mut fresh);
        let bridge_name = fresh("b");
        bridge_ops.push(json!({
            "op": "insert", "table": "Bridge", "uuid-name": bridge_name,
            "row": {
                "name": bridge,
                "datapath_type": layout.datapath_type,
                "ports": datum::set_of(refs),
                "external_ids": datum::map_of(bridge_ids.get(&bridge).unwrap_or(&BTreeMap::new())),
            },
        }));
        bridge_ops.push(json!({
            "op": "mutate", "table": "Open_vSwitch",
            "where": [["_uuid", "==", datum::uuid(&state.root_uuid)]],
            "mutations": [["bridges", "insert", datum::set_of([datum::named_uuid(&bridge_name)])]],
        }));
    }

    plan.operations = port_ops;
    plan.operations.extend(bridge_ops);
    plan.outcomes = outcomes;
    plan
}

/// Inserts a Port and its patch Interface per wanted port; returns references to the ports for
/// the bridge that will hold them.
fn insert_ports<'a>(
    ports: impl IntoIterator<Item = &'a WantedPort>,
    ops: &mut Vec<Value>,
    fresh: &mut impl FnMut(&str) -> String,
) -> Vec<Value> {
    ports
        .into_iter()
        .map(|port| {
            let (port_name, interface_name) = (fresh("p"), fresh("i"));
            ops.push(json!({"op": "insert", "table": "Interface", "uuid-name": interface_name, "row": interface_row(port)}));
            ops.push(json!({"op": "insert", "table": "Port", "uuid-name": port_name, "row": port_row(port, &interface_name)}));
            datum::named_uuid(&port_name)
        })
        .collect()
}

fn remove_ports(plan: &mut Plan, ops: &mut Vec<Value>, bridge: &BridgeState, stale: &[&PortState]) {
    if stale.is_empty() {
        return;
    }
    for port in stale {
        plan.changes
            .push(format!("remove port {} from {}", port.name, bridge.name));
    }
    ops.push(json!({
        "op": "mutate", "table": "Bridge",
        "where": [["_uuid", "==", datum::uuid(&bridge.uuid)]],
        "mutations": [["ports", "delete", datum::set_of(stale.iter().map(|p| datum::uuid(&p.uuid)))]],
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SegmentationType, TrunkStatus};
    use crate::service::{AgentPort, AgentSubport};

    fn layout() -> Layout {
        Layout {
            integration_bridge: "br-int".into(),
            datapath_type: "netdev".into(),
        }
    }

    fn port(network: NetworkId) -> AgentPort {
        AgentPort {
            port_id: PortId::new(),
            mac_address: "fa:16:3e:00:00:01".into(),
            network_id: network,
            admin_state_up: true,
            status: crate::model::PortStatus::Down,
        }
    }

    fn trunk(subports: &[(NetworkId, i64)]) -> AgentTrunk {
        AgentTrunk {
            id: TrunkId::new(),
            revision_number: 3,
            status: TrunkStatus::Down,
            refusal: None,
            admin_state_up: true,
            parent: port(NetworkId::new()),
            sub_ports: subports
                .iter()
                .map(|(network, vlan)| AgentSubport {
                    port: port(*network),
                    segmentation_type: SegmentationType::Vlan,
                    segmentation_id: *vlan,
                })
                .collect(),
        }
    }

    fn empty_switch() -> SwitchState {
        SwitchState {
            root_uuid: "root".into(),
            bridges: vec![BridgeState {
                uuid: "br-int-uuid".into(),
                name: "br-int".into(),
                ports: Vec::new(),
                external_ids: BTreeMap::new(),
            }],
        }
    }

    /// Applies a plan's inserts to a state, as Open vSwitch would (enough for re-planning).
    fn applied(trunks: &[AgentTrunk], state: &SwitchState) -> SwitchState {
        let plan = plan(trunks, state, &layout());
        let interfaces: BTreeMap<&str, &Value> = plan
            .operations
            .iter()
            .filter(|o| o["table"] == "Interface")
            .map(|o| (o["uuid-name"].as_str().unwrap_or(""), &o["row"]))
            .collect();
        let port_of = |row: &Value, uuid: String| {
            let interface = interfaces[row["interfaces"][1].as_str().unwrap_or("")];
            PortState {
                uuid,
                name: row["name"].as_str().unwrap_or("").into(),
                tag: datum::optional_i64(row.get("tag")),
                trunks: row
                    .get("trunks")
                    .map(datum::set_members)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Value::as_i64)
                    .collect(),
                interface_type: "patch".into(),
                peer: datum::string_map(interface.get("options")).remove("peer"),
                external_ids: datum::string_map(row.get("external_ids")),
            }
        };
        let ports: BTreeMap<&str, PortState> = plan
            .operations
            .iter()
            .filter(|o| o["table"] == "Port" && o["op"] == "insert")
            .map(|o| {
                let name = o["uuid-name"].as_str().unwrap_or("");
                (name, port_of(&o["row"], format!("u-{name}")))
            })
            .collect();
        let mut next = state.clone();
        for op in &plan.operations {
            let refs: Vec<String> = match (op["op"].as_str(), op["table"].as_str()) {
                (Some("mutate"), Some("Bridge")) if op["mutations"][0][1] == "insert" => {
                    datum::set_members(&op["mutations"][0][2])
                        .iter()
                        .filter_map(|r| r[1].as_str().map(str::to_string))
                        .collect()
                }
                _ => continue,
            };
            let bridge = op["where"][0][2][1].as_str().unwrap_or("");
            if let Some(b) = next.bridges.iter_mut().find(|b| b.uuid == bridge) {
                b.ports
                    .extend(refs.iter().filter_map(|r| ports.get(r.as_str()).cloned()));
            }
        }
        for op in plan
            .operations
            .iter()
            .filter(|o| o["table"] == "Bridge" && o["op"] == "insert")
        {
            let row = &op["row"];
            next.bridges.push(BridgeState {
                uuid: format!("u-{}", op["uuid-name"].as_str().unwrap_or("")),
                name: row["name"].as_str().unwrap_or("").into(),
                ports: datum::set_members(&row["ports"])
                    .iter()
                    .filter_map(|r| ports.get(r[1].as_str().unwrap_or("")).cloned())
                    .collect(),
                external_ids: datum::string_map(row.get("external_ids")),
            });
        }
        next
    }

    #[test]
    fn a_new_trunk_gets_a_bridge_and_one_tagged_pair_per_member() {
        let (net_a, net_b) = (NetworkId::new(), NetworkId::new());
        let trunks = vec![trunk(&[(net_a, 10), (net_b, 20)])];
        let state = applied(&trunks, &empty_switch());
        let bridge = state
            .bridges
            .iter()
            .find(|b| b.name.starts_with("tbr-"))
            .expect("trunk bridge");
        assert_eq!(bridge.ports.len(), 3);
        let parent_end = bridge
            .ports
            .iter()
            .find(|p| p.tag.is_none())
            .expect("parent end");
        assert_eq!(
            parent_end.trunks,
            vec![0],
            "the parent's end carries untagged frames only"
        );
        let mut tags: Vec<i64> = bridge.ports.iter().filter_map(|p| p.tag).collect();
        tags.sort_unstable();
        assert_eq!(tags, vec![10, 20]);
        let integration = &state.bridges[0];
        assert_eq!(integration.ports.len(), 3);
        let local: BTreeSet<Option<i64>> = integration.ports.iter().map(|p| p.tag).collect();
        assert_eq!(local.len(), 3, "each network its own local VLAN: {local:?}");
        for near in &bridge.ports {
            let far = integration
                .ports
                .iter()
                .find(|p| p.peer.as_deref() == Some(near.name.as_str()))
                .expect("peer");
            assert_eq!(near.peer.as_deref(), Some(far.name.as_str()));
        }
        // Planning again changes nothing.
        let again = plan(&trunks, &state, &layout());
        assert!(again.operations.is_empty(), "{:?}", again.changes);
    }

    /// With every local VLAN taken, members on a network without one cannot be wired: the
    /// rest of their trunk is, and the trunk is refused with the network named; a trunk
    /// whose parent has none is refused whole.
    #[test]
    fn members_without_a_local_vlan_are_refused_and_the_rest_wired() {
        let (kept, stranded) = (NetworkId::new(), NetworkId::new());
        let mut switch = empty_switch();
        // Every VLAN is in use on br-int; 7 by a network trunkd wired before.
        switch.bridges[0].ports = (1..=4094)
            .map(|vlan| PortState {
                uuid: format!("u{vlan}"),
                name: format!("other{vlan}"),
                tag: Some(vlan),
                trunks: Vec::new(),
                interface_type: "internal".into(),
                peer: None,
                external_ids: if vlan == 7 {
                    [(KEY_NETWORK.to_string(), kept.to_string())].into()
                } else {
                    BTreeMap::new()
                },
            })
            .collect();
        let mut partly = trunk(&[(kept, 10), (stranded, 20)]);
        partly.parent.network_id = kept;
        let mut whole = trunk(&[(kept, 30)]);
        whole.parent.network_id = stranded;
        let planned = plan(&[partly.clone(), whole.clone()], &switch, &layout());
        let [first, second] = &planned.outcomes[..] else {
            panic!("one outcome per trunk: {:?}", planned.outcomes);
        };
        assert_eq!(
            first.wired,
            vec![partly.parent.port_id, partly.sub_ports[0].port.port_id]
        );
        let reason = first.refusal.as_deref().expect("refused");
        assert!(reason.contains(&stranded.to_string()), "{reason}");
        assert!(reason.contains("1 of the trunk's ports"), "{reason}");
        assert!(second.wired.is_empty());
        assert!(second
            .refusal
            .as_deref()
            .is_some_and(|r| r.contains("2 of the trunk's ports")));
        // Only the first trunk's bridge is made, with the two ports it can carry.
        let bridges: Vec<&Value> = planned
            .operations
            .iter()
            .filter(|o| o["table"] == "Bridge" && o["op"] == "insert")
            .collect();
        assert_eq!(bridges.len(), 1);
        assert_eq!(bridges[0]["row"]["name"], names::trunk_bridge(partly.id));
        assert_eq!(
            bridges[0]["row"]["ports"][1].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn subports_on_one_network_share_its_local_vlan_and_it_survives_replanning() {
        let net = NetworkId::new();
        let trunks = vec![trunk(&[(net, 10)]), trunk(&[(net, 10)])];
        let state = applied(&trunks, &empty_switch());
        let tags: BTreeSet<Option<i64>> = state.bridges[0]
            .ports
            .iter()
            .filter(|p| p.external_ids.get(KEY_NETWORK) == Some(&net.to_string()))
            .map(|p| p.tag)
            .collect();
        assert_eq!(tags.len(), 1);
    }

    #[test]
    fn removed_trunks_and_subports_are_unwired_and_foreign_ports_kept() {
        let (net_a, net_b) = (NetworkId::new(), NetworkId::new());
        let mut trunks = vec![trunk(&[(net_a, 10), (net_b, 20)])];
        let mut state = applied(&trunks, &empty_switch());
        state.bridges[0].ports.push(PortState {
            uuid: "vm-port".into(),
            name: "tap-other-vm".into(),
            tag: Some(7),
            trunks: Vec::new(),
            interface_type: "".into(),
            peer: None,
            external_ids: BTreeMap::new(),
        });
        trunks[0].sub_ports.pop();
        let removal = plan(&trunks, &state, &layout());
        assert_eq!(
            removal
                .changes
                .iter()
                .filter(|c| c.starts_with("remove port"))
                .count(),
            2,
            "{:?}",
            removal.changes
        );
        let none = plan(&[], &state, &layout());
        assert!(none
            .changes
            .iter()
            .any(|c| c.starts_with("remove trunk bridge")));
        let dropped: Vec<String> = none
            .operations
            .iter()
            .filter(|o| o["table"] == "Bridge" && o["where"][0][2][1] == "br-int-uuid")
            .flat_map(|o| datum::set_members(&o["mutations"][0][2]))
            .filter_map(|r| r[1].as_str().map(str::to_string))
            .collect();
        assert_eq!(dropped.len(), 3);
        assert!(
            !dropped.contains(&"vm-port".to_string()),
            "a port trunkd did not wire stays"
        );
    }

    #[test]
    fn a_hand_edited_tag_is_repaired() {
        let trunks = vec![trunk(&[(NetworkId::new(), 10)])];
        let mut state = applied(&trunks, &empty_switch());
        let bridge = state
            .bridges
            .iter_mut()
            .find(|b| b.name.starts_with("tbr-"))
            .expect("bridge");
        let edited = bridge
            .ports
            .iter_mut()
            .find(|p| p.tag == Some(10))
            .expect("subport end");
        edited.tag = Some(99);
        let repair = plan(&trunks, &state, &layout());
        assert_eq!(repair.changes.len(), 1, "{:?}", repair.changes);
        assert!(repair.changes[0].starts_with("repair port tp-"));
    }

    #[test]
    fn a_missing_integration_bridge_is_created_with_its_ports() {
        let mut state = empty_switch();
        state.bridges.clear();
        let trunks = [trunk(&[(NetworkId::new(), 10)])];
        let first = plan(&trunks, &state, &layout());
        assert!(
            first.changes.iter().any(|c| c.starts_with("create the missing integration bridge br-int with 2 ports")),
            "{:?}",
            first.changes
        );
        let created = applied(&trunks, &state);
        let integration = created
            .bridges
            .iter()
            .find(|b| b.name == "br-int")
            .expect("br-int planned");
        assert_eq!(integration.ports.len(), 2);
        // Not a trunk bridge: a later plan must not remove it.
        assert!(!integration.external_ids.contains_key(KEY_TRUNK));
        assert!(plan(&trunks, &created, &layout()).changes.is_empty());
        // With no trunk at all it is created too, empty.
        let bare = plan(&[], &state, &layout());
        assert_eq!(
            bare.changes,
            ["create the missing integration bridge br-int with 0 ports"]
        );
    }
}
