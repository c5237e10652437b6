//! Ports on the wire: the create and update bodies, and the port answered with its
//! `trunk_details` on trunk parents.

use std::net::IpAddr;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{from_map, no_unknown, project, Attr, EmptyObject, Render};
use crate::api::error::ApiError;
use crate::api::openapi::VnicType;
use crate::ids::{NetworkId, PortId, ProjectId, SubnetId, TrunkId};
use crate::model::{self, Subport};
use crate::service::ipam::FixedIpRequest;
use crate::service::{self, PortView};

/// One `fixed_ips` entry of a request.
#[derive(Deserialize)]
struct FixedIpEntry {
    #[serde(default)]
    ip_address: Attr<String>,
    #[serde(default)]
    subnet_id: Attr<SubnetId>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

/// `fixed_ips` of a request, each entry checked in turn and named by its index: an object
/// with a subnet id, an address or both, and no address twice.
fn fixed_ips(items: Option<Vec<Value>>) -> Result<Option<Vec<FixedIpRequest>>, ApiError> {
    let Some(items) = items else {
        return Ok(None);
    };
    let mut entries: Vec<FixedIpRequest> = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let name = format!("fixed_ips[{index}]");
        let Value::Object(map) = item else {
            return Err(ApiError::bad_request(
                &name,
                format!("Invalid input for {name}. Reason: not a dictionary."),
            ));
        };
        let entry: FixedIpEntry = from_map(map)?;
        let ip_address = entry.ip_address.take("fixed_ips")?;
        let subnet_id = entry.subnet_id.take("fixed_ips")?;
        no_unknown(&entry.unknown)?;
        if ip_address.is_none() && subnet_id.is_none() {
            return Err(ApiError::bad_request(
                &name,
                format!(
                    "Invalid input for {name}. Reason: IP allocation requires subnet_id or \
                     ip_address."
                ),
            ));
        }
        let ip_address = ip_address
            .map(|text| {
                text.parse::<IpAddr>().map_err(|_| {
                    ApiError::bad_request(
                        "fixed_ips",
                        format!("Invalid input for fixed_ips. Reason: '{text}' is not a valid IP address."),
                    )
                })
            })
            .transpose()?;
        if let Some(ip) = ip_address {
            if entries.iter().any(|e| e.ip_address == Some(ip)) {
                return Err(ApiError::bad_request(
                    "fixed_ips",
                    format!("Invalid input for fixed_ips. Reason: Duplicate IP address '{ip}'."),
                ));
            }
        }
        entries.push(FixedIpRequest {
            subnet_id,
            ip_address,
        });
    }
    Ok(Some(entries))
}

/// The body of a port create (or one item of a bulk create).
#[derive(Deserialize, ToSchema)]
pub struct PortCreate {
    #[serde(default)]
    #[schema(value_type = String, format = Uuid, required = true)]
    network_id: Attr<NetworkId>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    name: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    description: Attr<String>,
    #[serde(default)]
    #[schema(value_type = bool)]
    admin_state_up: Attr<bool>,
    /// Admin only; unicast, unique on the network.
    #[serde(default)]
    #[schema(value_type = String, pattern = "^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")]
    mac_address: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    device_id: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    device_owner: Attr<String>,
    #[serde(default)]
    #[schema(value_type = Vec<FixedIpWanted>)]
    fixed_ips: Attr<Vec<Value>>,
    #[serde(default)]
    #[schema(value_type = String)]
    project_id: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String)]
    tenant_id: Attr<String>,
    /// Admin or service only.
    #[serde(default, rename = "binding:host_id")]
    #[schema(value_type = String)]
    host_id: Attr<String>,
    #[serde(default, rename = "binding:vnic_type")]
    #[schema(value_type = VnicType)]
    vnic_type: Attr<String>,
    /// Admin or service only.
    #[serde(default, rename = "binding:profile")]
    #[schema(value_type = Object)]
    profile: Attr<Map<String, Value>>,
    /// Defaults to the network's.
    #[serde(default)]
    #[schema(value_type = bool)]
    port_security_enabled: Attr<bool>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    tags: Attr<Vec<String>>,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Map<String, Value>,
}

impl PortCreate {
    /// The service's request, or the first attribute at fault in Neutron's order.
    pub fn into_request(self) -> Result<service::PortCreate, ApiError> {
        let create = service::PortCreate {
            project_id: project(self.project_id, self.tenant_id)?.map(ProjectId::new),
            network_id: self.network_id.take("network_id")?,
            name: self.name.take("name")?,
            description: self.description.take("description")?,
            admin_state_up: self.admin_state_up.take("admin_state_up")?,
            mac_address: self.mac_address.take("mac_address")?,
            device_id: self.device_id.take("device_id")?,
            device_owner: self.device_owner.take("device_owner")?,
            fixed_ips: fixed_ips(self.fixed_ips.take("fixed_ips")?)?,
            host_id: self.host_id.take("binding:host_id")?,
            vnic_type: self.vnic_type.take("binding:vnic_type")?,
            profile: self.profile.take("binding:profile")?,
            port_security_enabled: self.port_security_enabled.take("port_security_enabled")?,
            tags: self.tags.take("tags")?.unwrap_or_default(),
        };
        no_unknown(&self.unknown)?;
        Ok(create)
    }
}

/// The body of a port update.
#[derive(Deserialize, ToSchema)]
pub struct PortUpdate {
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    name: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    description: Attr<String>,
    #[serde(default)]
    #[schema(value_type = bool)]
    admin_state_up: Attr<bool>,
    #[serde(default)]
    #[schema(value_type = String, pattern = "^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")]
    mac_address: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    device_id: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    device_owner: Attr<String>,
    #[serde(default)]
    #[schema(value_type = Vec<FixedIpWanted>)]
    fixed_ips: Attr<Vec<Value>>,
    #[serde(default, rename = "binding:host_id")]
    #[schema(value_type = String)]
    host_id: Attr<String>,
    #[serde(default, rename = "binding:vnic_type")]
    #[schema(value_type = VnicType)]
    vnic_type: Attr<String>,
    #[serde(default, rename = "binding:profile")]
    #[schema(value_type = Object)]
    profile: Attr<Map<String, Value>>,
    #[serde(default)]
    #[schema(value_type = bool)]
    port_security_enabled: Attr<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Map<String, Value>,
}

impl PortUpdate {
    /// The service's request, or the first attribute at fault in Neutron's order.
    pub fn into_request(self) -> Result<service::PortUpdate, ApiError> {
        let update = service::PortUpdate {
            name: self.name.take("name")?,
            description: self.description.take("description")?,
            admin_state_up: self.admin_state_up.take("admin_state_up")?,
            mac_address: self.mac_address.take("mac_address")?,
            device_id: self.device_id.take("device_id")?,
            device_owner: self.device_owner.take("device_owner")?,
            fixed_ips: fixed_ips(self.fixed_ips.take("fixed_ips")?)?,
            host_id: self.host_id.take("binding:host_id")?,
            vnic_type: self.vnic_type.take("binding:vnic_type")?,
            profile: self.profile.take("binding:profile")?,
            port_security_enabled: self.port_security_enabled.take("port_security_enabled")?,
        };
        no_unknown(&self.unknown)?;
        Ok(update)
    }
}

/// One `fixed_ips` entry of a request: a subnet (its lowest free address), an address (on the
/// network's subnet that holds it), or both; at least one.
// Describes the entries for the OpenAPI document only; `fixed_ips` above parses them.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FixedIpWanted {
    /// An IPv4 or IPv6 address of one of the network's subnets.
    #[schema(nullable = false)]
    ip_address: Option<String>,
    #[schema(nullable = false, format = Uuid)]
    subnet_id: Option<String>,
}

/// A fixed IP of a port, as answered.
#[derive(Serialize, ToSchema)]
pub struct FixedIp<'a> {
    /// An IPv4 or IPv6 address.
    ip_address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    subnet_id: Option<&'a str>,
}

/// A port's fixed IPs, serialised one by one.
pub struct FixedIps<'a>(&'a [model::FixedIp]);

impl Serialize for FixedIps<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|ip| FixedIp {
            ip_address: &ip.ip_address,
            subnet_id: ip.subnet_id.as_deref(),
        }))
    }
}

/// A subport of a trunk parent's `trunk_details`, with its port's MAC address.
#[derive(Serialize, ToSchema)]
pub struct SubportWithMac<'a> {
    mac_address: &'a str,
    #[schema(value_type = String)]
    port_id: PortId,
    segmentation_id: i64,
    segmentation_type: &'a str,
}

/// The subports of `trunk_details`, serialised one by one.
pub struct SubportsWithMac<'a>(&'a [(Subport, String)]);

impl Serialize for SubportsWithMac<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(s, mac)| SubportWithMac {
            mac_address: mac,
            port_id: s.port_id,
            segmentation_id: s.segmentation_id,
            segmentation_type: s.segmentation_type.as_str(),
        }))
    }
}

/// The trunk a parent port belongs to, and its subports.
#[derive(Serialize, ToSchema)]
pub struct TrunkDetails<'a> {
    #[schema(value_type = Vec<SubportWithMac>)]
    sub_ports: SubportsWithMac<'a>,
    #[schema(value_type = String)]
    trunk_id: TrunkId,
}

/// A port as answered.
// Fields in alphabetical order: the order of the keys in every answer (a test holds it).
#[derive(Serialize, ToSchema)]
pub struct Port<'a> {
    admin_state_up: bool,
    /// Admin or service only to read.
    #[serde(rename = "binding:host_id")]
    #[schema(required = false)]
    host_id: &'a str,
    #[serde(rename = "binding:profile")]
    #[schema(value_type = Object, required = false)]
    profile: &'a Map<String, Value>,
    /// Admin or service only to read.
    #[serde(rename = "binding:vif_details")]
    #[schema(value_type = Object, required = false)]
    vif_details: EmptyObject,
    #[serde(rename = "binding:vif_type")]
    #[schema(required = false)]
    vif_type: &'a str,
    #[serde(rename = "binding:vnic_type")]
    vnic_type: &'a str,
    created_at: &'a str,
    description: &'a str,
    device_id: &'a str,
    device_owner: &'a str,
    #[schema(value_type = Vec<FixedIp>)]
    fixed_ips: FixedIps<'a>,
    #[schema(value_type = String)]
    id: PortId,
    mac_address: &'a str,
    name: &'a str,
    #[schema(value_type = String)]
    network_id: NetworkId,
    port_security_enabled: bool,
    project_id: &'a str,
    revision_number: i64,
    status: &'static str,
    tags: &'a [String],
    tenant_id: &'a str,
    /// Present on trunk parents.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    trunk_details: Option<TrunkDetails<'a>>,
    updated_at: &'a str,
}

impl<'a> Port<'a> {
    pub fn of(view: &'a PortView) -> Self {
        let p = &view.port;
        Port {
            admin_state_up: p.admin_state_up,
            host_id: &p.host_id,
            profile: &p.profile,
            vif_details: EmptyObject,
            vif_type: &p.vif_type,
            vnic_type: &p.vnic_type,
            created_at: &p.std.created_at,
            description: &p.description,
            device_id: &p.device_id,
            device_owner: &p.device_owner,
            fixed_ips: FixedIps(&p.fixed_ips),
            id: p.id,
            mac_address: &p.mac_address,
            name: &p.name,
            network_id: p.network_id,
            port_security_enabled: p.port_security_enabled,
            project_id: p.project_id.as_str(),
            revision_number: p.std.revision_number,
            status: p.status.as_str(),
            tags: &p.std.tags,
            tenant_id: p.project_id.as_str(),
            trunk_details: view.trunk_details.as_ref().map(|details| TrunkDetails {
                sub_ports: SubportsWithMac(&details.sub_ports),
                trunk_id: details.trunk_id,
            }),
            updated_at: &p.std.updated_at,
        }
    }
}

impl Render for PortView {
    type Wire<'a> = Port<'a>;

    fn wire(&self) -> Port<'_> {
        Port::of(self)
    }

    fn hidden(&self) -> &[&'static str] {
        &self.hidden
    }
}

super::envelopes!(PortView => Port,
    PortResponse { port }, PortsCreated { ports }, PortList { ports_links });
