//! Resources in Neutron's JSON shape: attribute names, the `project_id`/`tenant_id` twins,
//! standard attributes, and attributes policy hides from the caller left out.

use serde_json::{json, Map, Value};

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
        "subnets": [],
        "router:external": false,
    }));
    standard(&mut object, n.project_id.as_str(), &n.std);
    for hidden in &shown.hidden {
        object.remove(*hidden);
    }
    object
}

pub fn subport(subport: &Subport) -> Value {
    json!({
        "port_id": subport.port_id.to_string(),
        "segmentation_type": subport.segmentation_type.as_str(),
        "segmentation_id": subport.segmentation_id,
    })
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
        object.insert(
            "trunk_details".into(),
            json!({ "trunk_id": details.trunk_id.to_string(), "sub_ports": sub_ports }),
        );
    }
    for hidden in &view.hidden {
        object.remove(*hidden);
    }
    object
}

pub fn trunk(t: &Trunk) -> Map<String, Value> {
    let mut object = into_object(json!({
        "id": t.id.to_string(),
        "name": t.name,
        "description": t.description,
        "port_id": t.port_id.to_string(),
        "admin_state_up": t.admin_state_up,
        "status": t.status.as_str(),
        "sub_ports": t.sub_ports.iter().map(subport).collect::<Vec<_>>(),
    }));
    standard(&mut object, t.project_id.as_str(), &t.std);
    object
}
