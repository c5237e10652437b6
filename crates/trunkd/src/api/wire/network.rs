//! Networks on the wire: the create and update bodies, and the network answered.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{no_unknown, project, Attr, FromWire, Render};
use crate::api::body;
use crate::api::error::ApiError;
use crate::api::openapi::ProviderNetworkType;
use crate::ids::{NetworkId, ProjectId};
use crate::model::{self, NetworkType};
use crate::service::{self, Shown};

impl FromWire for NetworkType {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        let text = body::to_string(value)?;
        NetworkType::parse(&text)
            .map(Some)
            .ok_or_else(|| format!("'{text}' is not one of vlan, vxlan, geneve, flat, local"))
    }
}

/// The body of a network create (or one item of a bulk create).
#[derive(Deserialize, ToSchema)]
pub struct NetworkCreate {
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    name: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    description: Attr<String>,
    #[serde(default)]
    #[schema(value_type = bool)]
    admin_state_up: Attr<bool>,
    /// Admin only.
    #[serde(default)]
    #[schema(value_type = bool)]
    shared: Attr<bool>,
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 68, maximum = 9216)]
    mtu: Attr<i64>,
    #[serde(default)]
    #[schema(value_type = String)]
    project_id: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String)]
    tenant_id: Attr<String>,
    /// Admin only.
    #[serde(default, rename = "provider:network_type")]
    #[schema(value_type = ProviderNetworkType)]
    network_type: Attr<NetworkType>,
    /// Admin only; required for vlan and flat networks (vlan defaults to the first range's).
    #[serde(default, rename = "provider:physical_network")]
    #[schema(value_type = String)]
    physical_network: Attr<String>,
    /// Admin only; allocated when absent (vlan 1..4094, vxlan and geneve 1..16777215).
    #[serde(default, rename = "provider:segmentation_id")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 16777215)]
    segmentation_id: Attr<i64>,
    /// Defaults to true.
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

impl NetworkCreate {
    /// The service's request, or the first attribute at fault in Neutron's order.
    pub fn into_request(self) -> Result<service::NetworkCreate, ApiError> {
        let network_type = self.network_type.take("provider:network_type")?;
        let create = service::NetworkCreate {
            project_id: project(self.project_id, self.tenant_id)?.map(ProjectId::new),
            name: self.name.take("name")?,
            description: self.description.take("description")?,
            admin_state_up: self.admin_state_up.take("admin_state_up")?,
            shared: self.shared.take("shared")?,
            mtu: self.mtu.take("mtu")?,
            network_type,
            physical_network: self.physical_network.take("provider:physical_network")?,
            segmentation_id: self.segmentation_id.take("provider:segmentation_id")?,
            port_security_enabled: self.port_security_enabled.take("port_security_enabled")?,
            tags: self.tags.take("tags")?.unwrap_or_default(),
        };
        no_unknown(&self.unknown)?;
        Ok(create)
    }
}

/// The body of a network update.
#[derive(Deserialize, ToSchema)]
pub struct NetworkUpdate {
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
    #[schema(value_type = bool)]
    shared: Attr<bool>,
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 68, maximum = 9216)]
    mtu: Attr<i64>,
    /// Applies to ports created afterwards; existing ports keep theirs.
    #[serde(default)]
    #[schema(value_type = bool)]
    port_security_enabled: Attr<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Map<String, Value>,
}

impl NetworkUpdate {
    /// The service's request, or the first attribute at fault in Neutron's order.
    pub fn into_request(self) -> Result<service::NetworkUpdate, ApiError> {
        let update = service::NetworkUpdate {
            name: self.name.take("name")?,
            description: self.description.take("description")?,
            admin_state_up: self.admin_state_up.take("admin_state_up")?,
            shared: self.shared.take("shared")?,
            mtu: self.mtu.take("mtu")?,
            port_security_enabled: self.port_security_enabled.take("port_security_enabled")?,
        };
        no_unknown(&self.unknown)?;
        Ok(update)
    }
}

/// A network as answered.
// Fields in alphabetical order: the order of the keys in every answer (a test holds it).
#[derive(Serialize, ToSchema)]
pub struct Network<'a> {
    admin_state_up: bool,
    created_at: &'a str,
    description: &'a str,
    #[schema(value_type = String)]
    id: NetworkId,
    mtu: i64,
    name: &'a str,
    /// What ports created on the network without a value of their own take.
    port_security_enabled: bool,
    project_id: &'a str,
    /// Admin only to read and set.
    #[serde(rename = "provider:network_type")]
    #[schema(required = false)]
    network_type: &'a str,
    #[serde(rename = "provider:physical_network")]
    #[schema(required = false)]
    physical_network: Option<&'a str>,
    #[serde(rename = "provider:segmentation_id")]
    #[schema(required = false)]
    segmentation_id: Option<i64>,
    revision_number: i64,
    #[serde(rename = "router:external")]
    router_external: bool,
    shared: bool,
    status: &'static str,
    /// Ids of the network's subnets.
    subnets: &'a [String],
    tags: &'a [String],
    tenant_id: &'a str,
    updated_at: &'a str,
}

impl<'a> Network<'a> {
    pub fn of(n: &'a model::Network) -> Self {
        Network {
            admin_state_up: n.admin_state_up,
            created_at: &n.std.created_at,
            description: &n.description,
            id: n.id,
            mtu: n.mtu,
            name: &n.name,
            port_security_enabled: n.port_security_enabled,
            project_id: n.project_id.as_str(),
            network_type: n.network_type.as_str(),
            physical_network: n.physical_network.as_deref(),
            segmentation_id: n.segmentation_id,
            revision_number: n.std.revision_number,
            router_external: false,
            shared: n.shared,
            status: n.status.as_str(),
            subnets: &n.subnets,
            tags: &n.std.tags,
            tenant_id: n.project_id.as_str(),
            updated_at: &n.std.updated_at,
        }
    }
}

impl Render for Shown<model::Network> {
    type Wire<'a> = Network<'a>;

    fn wire(&self) -> Network<'_> {
        Network::of(&self.item)
    }

    fn hidden(&self) -> &[&'static str] {
        &self.hidden
    }
}

super::envelopes!(Shown<model::Network> => Network,
    NetworkResponse { network }, NetworksCreated { networks }, NetworkList { networks_links });
