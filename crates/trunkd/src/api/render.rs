//! Resources in Neutron's JSON shape: attribute names, the `project_id`/`tenant_id` twins,
//! standard attributes, and attributes policy hides from the caller left out.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::ids::{PortId, TrunkId};
use crate::model::{Network, StandardAttrs, Subport, Trunk};
use crate::service::{PortView, Shown};

fn standard(object: &mut Map<String, Value>, project: &str, std: &StandardAttrs) {
    object.insert("project_id".into(), json!(project));
    object.insert("tenant_id".into(), json!(project));
    object.insert("revision_number".into(), json!(std.revision_number));
    object.insert("created_at".into(), json!(std.created_at));
    object.insert("updated_at".into(), json!(std.updated_at));
    object.insert("tags".into(), json!(std.tags));
}

/// `{"<key>": object}`, the envelope of a single resource. Built by hand: `json!` would copy
/// the whole object through `to_value`.
pub fn wrapped(key: &str, object: Map<String, Value>) -> Value {
    let mut envelope = Map::new();
    envelope.insert(key.into(), Value::Object(object));
    Value::Object(envelope)
}

fn into_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub fn network(shown: &Shown<Network>) -> Map<String, Value> {
    let n = &shown.item;
    let mut object = into_object(json!({
        "id": n.id.to_string(),
        "name": n.name,
        "description": n.description,
        "admin_state_up": n.admin_state_up,
        "status": n.status,
        "shared": n.shared,
        "mtu": n.mtu,
        "provider:network_type": n.network_type.as_str(),
        "provider:physical_network": n.physical_network,
        "provider:segmentation_id": n.segmentation_id,
        "port_security_enabled": n.port_security_enabled,
        "subnets": [],
        "router:external": false,
    }));
    standard(&mut object, n.project_id.as_str(), &n.std);
    for hidden in &shown.hidden {
        object.remove(*hidden);
    }
    object
}

/// A subport in Neutron's shape.
#[derive(Serialize)]
pub struct SubportJson<'a> {
    port_id: PortId,
    segmentation_type: &'a str,
    segmentation_id: i64,
}

impl<'a> SubportJson<'a> {
    pub fn of(subport: &'a Subport) -> Self {
        SubportJson {
            port_id: subport.port_id,
            segmentation_type: subport.segmentation_type.as_str(),
            segmentation_id: subport.segmentation_id,
        }
    }
}

/// A list of subports, serialised one by one without an intermediate `Value`.
pub struct SubportsJson<'a>(pub &'a [Subport]);

impl Serialize for SubportsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(SubportJson::of))
    }
}

pub fn subport(subport: &Subport) -> Value {
    json!(SubportJson::of(subport))
}

pub fn port(view: &PortView) -> Map<String, Value> {
    let p = &view.port;
    let mut object = into_object(json!({
        "id": p.id.to_string(),
        "name": p.name,
        "description": p.description,
        "network_id": p.network_id.to_string(),
        "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up,
        "status": p.status,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "fixed_ips": p.fixed_ips,
        "binding:host_id": p.host_id,
        "binding:vif_type": p.vif_type,
        "binding:vnic_type": p.vnic_type,
        "binding:profile": p.profile,
        "binding:vif_details": {},
        "port_security_enabled": p.port_security_enabled,
    }));
    standard(&mut object, p.project_id.as_str(), &p.std);
    if let Some(details) = &view.trunk_details {
        let sub_ports: Vec<Value> = details
            .sub_ports
            .iter()
            .map(|(s, mac)| {
                let mut entry = into_object(subport(s));
                entry.insert("mac_address".into(), json!(mac));
                Value::Object(entry)
            })
            .collect();
        let mut trunk_details = Map::new();
        trunk_details.insert("trunk_id".into(), details.trunk_id.to_string().into());
        trunk_details.insert("sub_ports".into(), Value::Array(sub_ports));
        object.insert("trunk_details".into(), Value::Object(trunk_details));
    }
    for hidden in &view.hidden {
        object.remove(*hidden);
    }
    object
}

/// A trunk in Neutron's shape, serialised straight into a response: a trunk has no attribute
/// policy hides, and building a `Value` first cost allocations for every attribute of every
/// subport (seen in a profile of `trunkd-bench`'s show workload). `trunk()` gives the same as
/// a map, for `fields` selection and lists.
#[derive(Serialize)]
pub struct TrunkJson<'a> {
    id: TrunkId,
    name: &'a str,
    description: &'a str,
    port_id: PortId,
    admin_state_up: bool,
    status: &'a str,
    sub_ports: SubportsJson<'a>,
    project_id: &'a str,
    tenant_id: &'a str,
    revision_number: i64,
    created_at: &'a str,
    updated_at: &'a str,
    tags: &'a [String],
}

impl<'a> TrunkJson<'a> {
    pub fn of(t: &'a Trunk) -> Self {
        TrunkJson {
            id: t.id,
            name: &t.name,
            description: &t.description,
            port_id: t.port_id,
            admin_state_up: t.admin_state_up,
            status: t.status.as_str(),
            sub_ports: SubportsJson(&t.sub_ports),
            project_id: t.project_id.as_str(),
            tenant_id: t.project_id.as_str(),
            revision_number: t.std.revision_number,
            created_at: &t.std.created_at,
            updated_at: &t.std.updated_at,
            tags: &t.std.tags,
        }
    }
}

pub fn trunk(t: &Trunk) -> Map<String, Value> {
    into_object(json!(TrunkJson::of(t)))
}

/// `{"<key>": value}` for a typed resource, serialised without an intermediate `Value`.
pub struct Envelope<'a, T> {
    pub key: &'a str,
    pub value: T,
}

impl<T: Serialize> Serialize for Envelope<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.key, &self.value)?;
        map.end()
    }
}
