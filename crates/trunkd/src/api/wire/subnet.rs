//! Subnets on the wire: the create and update bodies, and the subnet answered.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{no_unknown, project, Attr, FromWire, Render};
use crate::api::body;
use crate::api::error::ApiError;
use crate::ids::{NetworkId, ProjectId, SubnetId};
use crate::model::{self, AllocationPool, HostRoute};
use crate::service::{self, GatewayRequest, Shown};

/// A value that may be given as `null`, which is not the same as leaving it out
/// (`gateway_ip: null` is a subnet without a gateway).
#[derive(Debug)]
pub struct Nullable(Option<String>);

impl FromWire for Nullable {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        match value {
            Value::Null => Ok(Some(Nullable(None))),
            other => body::to_string(other).map(|text| Some(Nullable(Some(text)))),
        }
    }
}

impl Attr<Nullable> {
    /// The value as an `Option`, `null` and absent alike.
    fn text(self, name: &str) -> Result<Option<String>, ApiError> {
        Ok(self.take(name)?.and_then(|n| n.0))
    }

    fn gateway(self) -> Result<GatewayRequest, ApiError> {
        Ok(match self.take("gateway_ip")? {
            None => GatewayRequest::Absent,
            Some(Nullable(None)) => GatewayRequest::Null,
            Some(Nullable(Some(text))) => GatewayRequest::Address(text),
        })
    }
}

/// The string members `keys` of one object of a list attribute.
fn members<const N: usize>(value: Value, keys: [&str; N]) -> Result<[String; N], String> {
    let mut map = body::to_object(value)?;
    let mut found: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, key) in found.iter_mut().zip(keys) {
        let member = map
            .remove(key)
            .ok_or_else(|| format!("'{key}' is required in each item"))?;
        *slot = body::to_string(member)?;
    }
    if let Some(extra) = map.keys().next() {
        return Err(format!("'{extra}' is not a valid key"));
    }
    Ok(found)
}

impl FromWire for Vec<AllocationPool> {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        body::to_list(value)?
            .into_iter()
            .map(|item| {
                members(item, ["start", "end"]).map(|[start, end]| AllocationPool { start, end })
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

impl FromWire for Vec<HostRoute> {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        body::to_list(value)?
            .into_iter()
            .map(|item| {
                members(item, ["destination", "nexthop"]).map(|[destination, nexthop]| HostRoute {
                    destination,
                    nexthop,
                })
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

/// The body of a subnet create (or one item of a bulk create).
#[derive(Deserialize, ToSchema)]
pub struct SubnetCreate {
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    name: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    description: Attr<String>,
    /// Required.
    #[serde(default)]
    #[schema(value_type = String)]
    network_id: Attr<NetworkId>,
    #[serde(default)]
    #[schema(value_type = String)]
    project_id: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String)]
    tenant_id: Attr<String>,
    /// Required: 4 or 6, matching the CIDR.
    #[serde(default)]
    #[schema(value_type = i64, minimum = 4, maximum = 6)]
    ip_version: Attr<i64>,
    /// Required; stored normalised to its network address.
    #[serde(default)]
    #[schema(value_type = String)]
    cidr: Attr<Nullable>,
    /// The first address when absent; `null` for none.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    gateway_ip: Attr<Nullable>,
    /// The CIDR less the network, broadcast and gateway addresses when absent.
    #[serde(default)]
    #[schema(value_type = Vec<Pool>)]
    allocation_pools: Attr<Vec<AllocationPool>>,
    /// Defaults to true.
    #[serde(default)]
    #[schema(value_type = bool)]
    enable_dhcp: Attr<bool>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    dns_nameservers: Attr<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Vec<Route>)]
    host_routes: Attr<Vec<HostRoute>>,
    /// IPv6 only: slaac, dhcpv6-stateful or dhcpv6-stateless.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    ipv6_address_mode: Attr<Nullable>,
    /// IPv6 only: slaac, dhcpv6-stateful or dhcpv6-stateless.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    ipv6_ra_mode: Attr<Nullable>,
    /// Only `null`: trunkd has no subnet pools.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    subnetpool_id: Attr<Nullable>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    tags: Attr<Vec<String>>,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Map<String, Value>,
}

impl SubnetCreate {
    /// The service's request, or the first attribute at fault in Neutron's order.
    pub fn into_request(self) -> Result<service::SubnetCreate, ApiError> {
        if self.subnetpool_id.text("subnetpool_id")?.is_some() {
            return Err(body::invalid(
                "subnetpool_id",
                "trunkd has no subnet pools: subnetpool_id must be null",
            ));
        }
        let create = service::SubnetCreate {
            project_id: project(self.project_id, self.tenant_id)?.map(ProjectId::new),
            network_id: self.network_id.take("network_id")?,
            name: self.name.take("name")?,
            description: self.description.take("description")?,
            ip_version: self.ip_version.take("ip_version")?,
            cidr: self.cidr.text("cidr")?,
            gateway_ip: self.gateway_ip.gateway()?,
            allocation_pools: self.allocation_pools.take("allocation_pools")?,
            enable_dhcp: self.enable_dhcp.take("enable_dhcp")?,
            dns_nameservers: self.dns_nameservers.take("dns_nameservers")?,
            host_routes: self.host_routes.take("host_routes")?,
            ipv6_address_mode: self.ipv6_address_mode.text("ipv6_address_mode")?,
            ipv6_ra_mode: self.ipv6_ra_mode.text("ipv6_ra_mode")?,
            tags: self.tags.take("tags")?.unwrap_or_default(),
        };
        no_unknown(&self.unknown)?;
        Ok(create)
    }
}

/// The body of a subnet update.
#[derive(Deserialize, ToSchema)]
pub struct SubnetUpdate {
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    name: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    description: Attr<String>,
    /// `null` removes the gateway.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    gateway_ip: Attr<Nullable>,
    #[serde(default)]
    #[schema(value_type = Vec<Pool>)]
    allocation_pools: Attr<Vec<AllocationPool>>,
    #[serde(default)]
    #[schema(value_type = bool)]
    enable_dhcp: Attr<bool>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    dns_nameservers: Attr<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Vec<Route>)]
    host_routes: Attr<Vec<HostRoute>>,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Map<String, Value>,
}

impl SubnetUpdate {
    /// The service's request, or the first attribute at fault in Neutron's order.
    pub fn into_request(self) -> Result<service::SubnetUpdate, ApiError> {
        let update = service::SubnetUpdate {
            name: self.name.take("name")?,
            description: self.description.take("description")?,
            gateway_ip: self.gateway_ip.gateway()?,
            allocation_pools: self.allocation_pools.take("allocation_pools")?,
            enable_dhcp: self.enable_dhcp.take("enable_dhcp")?,
            dns_nameservers: self.dns_nameservers.take("dns_nameservers")?,
            host_routes: self.host_routes.take("host_routes")?,
        };
        no_unknown(&self.unknown)?;
        Ok(update)
    }
}

/// One allocation pool as answered.
#[derive(Serialize, ToSchema)]
pub struct Pool<'a> {
    start: &'a str,
    end: &'a str,
}

/// One host route as answered.
#[derive(Serialize, ToSchema)]
pub struct Route<'a> {
    destination: &'a str,
    nexthop: &'a str,
}

/// A subnet as answered.
// Fields in alphabetical order: the order of the keys in every answer.
#[derive(Serialize, ToSchema)]
pub struct Subnet<'a> {
    allocation_pools: Vec<Pool<'a>>,
    cidr: &'a str,
    created_at: &'a str,
    description: &'a str,
    dns_nameservers: &'a [String],
    enable_dhcp: bool,
    gateway_ip: Option<&'a str>,
    host_routes: Vec<Route<'a>>,
    #[schema(value_type = String)]
    id: SubnetId,
    ip_version: i64,
    ipv6_address_mode: Option<&'static str>,
    ipv6_ra_mode: Option<&'static str>,
    name: &'a str,
    #[schema(value_type = String)]
    network_id: NetworkId,
    project_id: &'a str,
    revision_number: i64,
    /// Always null: trunkd has no subnet pools.
    subnetpool_id: Option<&'a str>,
    tags: &'a [String],
    tenant_id: &'a str,
    updated_at: &'a str,
}

impl<'a> Subnet<'a> {
    pub fn of(s: &'a model::Subnet) -> Self {
        Subnet {
            allocation_pools: s
                .allocation_pools
                .iter()
                .map(|p| Pool {
                    start: &p.start,
                    end: &p.end,
                })
                .collect(),
            cidr: &s.cidr,
            created_at: &s.std.created_at,
            description: &s.description,
            dns_nameservers: &s.dns_nameservers,
            enable_dhcp: s.enable_dhcp,
            gateway_ip: s.gateway_ip.as_deref(),
            host_routes: s
                .host_routes
                .iter()
                .map(|r| Route {
                    destination: &r.destination,
                    nexthop: &r.nexthop,
                })
                .collect(),
            id: s.id,
            ip_version: s.ip_version,
            ipv6_address_mode: s.ipv6_address_mode.map(|m| m.as_str()),
            ipv6_ra_mode: s.ipv6_ra_mode.map(|m| m.as_str()),
            name: &s.name,
            network_id: s.network_id,
            project_id: s.project_id.as_str(),
            revision_number: s.std.revision_number,
            subnetpool_id: None,
            tags: &s.std.tags,
            tenant_id: s.project_id.as_str(),
            updated_at: &s.std.updated_at,
        }
    }
}

impl Render for Shown<model::Subnet> {
    type Wire<'a> = Subnet<'a>;

    fn wire(&self) -> Subnet<'_> {
        Subnet::of(&self.item)
    }

    fn hidden(&self) -> &[&'static str] {
        &self.hidden
    }
}

super::envelopes!(Shown<model::Subnet> => Subnet,
    SubnetResponse { subnet }, SubnetsCreated { subnets }, SubnetList { subnets_links });
