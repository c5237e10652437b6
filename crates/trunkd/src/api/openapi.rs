//! The OpenAPI 3 description of the API, generated from these types and the handlers'
//! `#[utoipa::path]` annotations, served at `/openapi.json` and committed as `openapi.json` (a
//! test keeps the committed copy in step). The types here describe the wire format only; the
//! handlers build and read JSON themselves.
#![allow(dead_code)] // the fields are read by the schema derive, not by code

use axum::Json;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

/// `{"NeutronError": {...}}`, the body of every error.
#[derive(ToSchema)]
pub struct NeutronErrorResponse {
    #[schema(rename = "NeutronError")]
    neutron_error: NeutronError,
}

#[derive(ToSchema)]
pub struct NeutronError {
    /// The Neutron exception name, e.g. `DuplicateSubPort`.
    r#type: String,
    message: String,
    detail: String,
}

/// A page link of a list response.
#[derive(ToSchema)]
pub struct Link {
    href: String,
    /// `next` or `previous`.
    rel: String,
}

#[derive(ToSchema)]
pub struct Network {
    id: String,
    name: String,
    description: String,
    project_id: String,
    tenant_id: String,
    admin_state_up: bool,
    status: String,
    shared: bool,
    mtu: i64,
    /// Admin only to read and set.
    #[schema(rename = "provider:network_type")]
    network_type: Option<String>,
    #[schema(rename = "provider:physical_network", nullable)]
    physical_network: Option<String>,
    #[schema(rename = "provider:segmentation_id", nullable)]
    segmentation_id: Option<i64>,
    subnets: Vec<String>,
    #[schema(rename = "router:external")]
    router_external: bool,
    /// What ports created on the network without a value of their own take.
    port_security_enabled: bool,
    revision_number: i64,
    created_at: String,
    updated_at: String,
    tags: Vec<String>,
}

#[derive(ToSchema)]
pub struct NetworkCreate {
    #[schema(required = false, max_length = 255)]
    name: String,
    #[schema(required = false, max_length = 255)]
    description: String,
    #[schema(required = false)]
    admin_state_up: bool,
    /// Admin only.
    #[schema(required = false)]
    shared: bool,
    #[schema(minimum = 68, maximum = 9216)]
    mtu: Option<i64>,
    #[schema(required = false)]
    project_id: String,
    #[schema(required = false)]
    tenant_id: String,
    /// Admin only.
    #[schema(rename = "provider:network_type", required = false)]
    network_type: ProviderNetworkType,
    /// Admin only; required for vlan and flat networks (vlan defaults to the first range's).
    #[schema(rename = "provider:physical_network", required = false)]
    physical_network: String,
    /// Admin only; allocated when absent (vlan 1..4094, vxlan and geneve 1..16777215).
    #[schema(rename = "provider:segmentation_id", minimum = 1, maximum = 16777215)]
    segmentation_id: Option<i64>,
    /// Defaults to true.
    #[schema(required = false)]
    port_security_enabled: bool,
    #[schema(required = false)]
    tags: Vec<String>,
}

#[derive(ToSchema)]
pub struct NetworkUpdate {
    #[schema(required = false, max_length = 255)]
    name: String,
    #[schema(required = false, max_length = 255)]
    description: String,
    #[schema(required = false)]
    admin_state_up: bool,
    #[schema(required = false)]
    shared: bool,
    #[schema(minimum = 68, maximum = 9216)]
    mtu: Option<i64>,
    /// Applies to ports created afterwards; existing ports keep theirs.
    #[schema(required = false)]
    port_security_enabled: bool,
}

#[derive(ToSchema)]
pub struct FixedIp {
    /// An IPv4 or IPv6 address.
    ip_address: String,
    #[schema(required = false)]
    subnet_id: String,
}

#[derive(ToSchema)]
pub struct TrunkDetails {
    trunk_id: String,
    sub_ports: Vec<SubportWithMac>,
}

#[derive(ToSchema)]
pub struct SubportWithMac {
    port_id: String,
    segmentation_type: String,
    segmentation_id: i64,
    mac_address: String,
}

#[derive(ToSchema)]
pub struct Port {
    id: String,
    name: String,
    description: String,
    network_id: String,
    project_id: String,
    tenant_id: String,
    mac_address: String,
    admin_state_up: bool,
    status: String,
    device_id: String,
    device_owner: String,
    fixed_ips: Vec<FixedIp>,
    /// Admin or service only to read.
    #[schema(rename = "binding:host_id")]
    host_id: Option<String>,
    #[schema(rename = "binding:vif_type")]
    vif_type: Option<String>,
    #[schema(rename = "binding:vnic_type")]
    vnic_type: String,
    #[schema(rename = "binding:profile")]
    profile: Option<Object>,
    /// Admin or service only to read.
    #[schema(rename = "binding:vif_details")]
    vif_details: Option<Object>,
    port_security_enabled: bool,
    /// Present on trunk parents.
    trunk_details: Option<TrunkDetails>,
    revision_number: i64,
    created_at: String,
    updated_at: String,
    tags: Vec<String>,
}

/// A free-form JSON object.
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct Object(Value);

#[derive(ToSchema)]
pub struct PortCreate {
    #[schema(format = Uuid)]
    network_id: String,
    #[schema(required = false, max_length = 255)]
    name: String,
    #[schema(required = false, max_length = 255)]
    description: String,
    #[schema(required = false)]
    admin_state_up: bool,
    /// Admin only; unicast, unique on the network.
    #[schema(required = false, pattern = "^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")]
    mac_address: String,
    #[schema(required = false, max_length = 255)]
    device_id: String,
    #[schema(required = false, max_length = 255)]
    device_owner: String,
    #[schema(required = false)]
    fixed_ips: Vec<FixedIp>,
    #[schema(required = false)]
    project_id: String,
    #[schema(required = false)]
    tenant_id: String,
    /// Admin or service only.
    #[schema(rename = "binding:host_id", required = false)]
    host_id: String,
    #[schema(rename = "binding:vnic_type", required = false)]
    vnic_type: VnicType,
    /// Admin or service only.
    #[schema(rename = "binding:profile", required = false)]
    profile: Object,
    /// Defaults to the network's.
    #[schema(required = false)]
    port_security_enabled: bool,
    #[schema(required = false)]
    tags: Vec<String>,
}

#[derive(ToSchema)]
pub struct PortUpdate {
    #[schema(required = false, max_length = 255)]
    name: String,
    #[schema(required = false, max_length = 255)]
    description: String,
    #[schema(required = false)]
    admin_state_up: bool,
    #[schema(required = false, pattern = "^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")]
    mac_address: String,
    #[schema(required = false, max_length = 255)]
    device_id: String,
    #[schema(required = false, max_length = 255)]
    device_owner: String,
    #[schema(required = false)]
    fixed_ips: Vec<FixedIp>,
    #[schema(rename = "binding:host_id", required = false)]
    host_id: String,
    #[schema(rename = "binding:vnic_type", required = false)]
    vnic_type: VnicType,
    #[schema(rename = "binding:profile", required = false)]
    profile: Object,
    #[schema(required = false)]
    port_security_enabled: bool,
}

#[derive(ToSchema)]
pub struct Subport {
    port_id: String,
    /// `vlan`, or `inherit` on requests (resolved to the network's type when stored).
    segmentation_type: String,
    segmentation_id: i64,
}

#[derive(ToSchema)]
pub struct SubportRequest {
    #[schema(format = Uuid)]
    port_id: String,
    segmentation_type: SegmentationType,
    /// 1..4094 for `vlan`; absent for `inherit`.
    #[schema(minimum = 1, maximum = 4094)]
    segmentation_id: Option<i64>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ProviderNetworkType {
    Vlan,
    Vxlan,
    Geneve,
    Flat,
    Local,
}

#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum VnicType {
    Normal,
    Direct,
    Macvtap,
    Baremetal,
    DirectPhysical,
    VirtioForwarder,
    SmartNic,
    Vdpa,
    RemoteManaged,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SortDir {
    Asc,
    Desc,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SegmentationType {
    Vlan,
    Inherit,
}

/// `{"port_id": ...}` is all remove_subports needs.
#[derive(ToSchema)]
pub struct SubportRef {
    #[schema(format = Uuid)]
    port_id: String,
}

#[derive(ToSchema)]
pub struct Trunk {
    id: String,
    name: String,
    description: String,
    project_id: String,
    tenant_id: String,
    port_id: String,
    admin_state_up: bool,
    /// DOWN, BUILD, ACTIVE, DEGRADED or ERROR.
    status: String,
    sub_ports: Vec<Subport>,
    revision_number: i64,
    created_at: String,
    updated_at: String,
    tags: Vec<String>,
}

#[derive(ToSchema)]
pub struct TrunkCreate {
    /// The parent port.
    #[schema(format = Uuid)]
    port_id: String,
    #[schema(required = false, max_length = 255)]
    name: String,
    #[schema(required = false, max_length = 255)]
    description: String,
    #[schema(required = false)]
    admin_state_up: bool,
    #[schema(required = false)]
    project_id: String,
    #[schema(required = false)]
    tenant_id: String,
    #[schema(required = false, max_items = 4094)]
    sub_ports: Vec<SubportRequest>,
    #[schema(required = false)]
    tags: Vec<String>,
}

#[derive(ToSchema)]
pub struct TrunkUpdate {
    #[schema(required = false, max_length = 255)]
    name: String,
    #[schema(required = false, max_length = 255)]
    description: String,
    #[schema(required = false)]
    admin_state_up: bool,
}

macro_rules! wrappers {
    ($($one:ident { $key:ident : $inner:ty }),* $(,)?) => {
        $(
            #[derive(ToSchema)]
            pub struct $one {
                $key: $inner,
            }
        )*
    };
}

wrappers! {
    NetworkResponse { network: Network },
    NetworksCreated { networks: Vec<Network> },
    NetworkCreateRequest { network: NetworkCreate },
    NetworksCreateRequest { networks: Vec<NetworkCreate> },
    NetworkUpdateRequest { network: NetworkUpdate },
    PortResponse { port: Port },
    PortsCreated { ports: Vec<Port> },
    PortCreateRequest { port: PortCreate },
    PortsCreateRequest { ports: Vec<PortCreate> },
    PortUpdateRequest { port: PortUpdate },
    TrunkResponse { trunk: Trunk },
    TrunksCreated { trunks: Vec<Trunk> },
    TrunkCreateRequest { trunk: TrunkCreate },
    TrunksCreateRequest { trunks: Vec<TrunkCreate> },
    TrunkUpdateRequest { trunk: TrunkUpdate },
    AddSubportsRequest { sub_ports: Vec<SubportRequest> },
    RemoveSubportsRequest { sub_ports: Vec<SubportRef> },
    SubportsResponse { sub_ports: Vec<Subport> },
    Tags { tags: Vec<String> },
}

#[derive(ToSchema)]
pub struct NetworkList {
    networks: Vec<Network>,
    networks_links: Option<Vec<Link>>,
}

#[derive(ToSchema)]
pub struct PortList {
    ports: Vec<Port>,
    ports_links: Option<Vec<Link>>,
}

#[derive(ToSchema)]
pub struct TrunkList {
    trunks: Vec<Trunk>,
    trunks_links: Option<Vec<Link>>,
}

/// Schemas that are one wrapper or another (single or bulk): `oneOf` the two.
macro_rules! one_of {
    ($($name:ident = $one:ident | $many:ident),* $(,)?) => {
        $(
            pub struct $name;

            impl utoipa::PartialSchema for $name {
                fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                    utoipa::openapi::schema::OneOfBuilder::new()
                        .item(utoipa::openapi::Ref::from_schema_name(stringify!($one)))
                        .item(utoipa::openapi::Ref::from_schema_name(stringify!($many)))
                        .into()
                }
            }

            impl ToSchema for $name {
                fn schemas(
                    schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
                ) {
                    for (name, schema) in [
                        (stringify!($one), <$one as utoipa::PartialSchema>::schema()),
                        (stringify!($many), <$many as utoipa::PartialSchema>::schema()),
                    ] {
                        schemas.push((name.to_string(), schema));
                        <$one as ToSchema>::schemas(schemas);
                        <$many as ToSchema>::schemas(schemas);
                    }
                }
            }
        )*
    };
}

one_of! {
    NetworkCreateBody = NetworkCreateRequest | NetworksCreateRequest,
    PortCreateBody = PortCreateRequest | PortsCreateRequest,
    TrunkCreateBody = TrunkCreateRequest | TrunksCreateRequest,
    NetworkCreated = NetworkResponse | NetworksCreated,
    PortCreated = PortResponse | PortsCreated,
    TrunkCreated = TrunkResponse | TrunksCreated,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "trunkd",
        description = "Neutron v2.0 compatible trunk API, with the networks and ports trunks need."
    ),
    paths(
        super::discovery::versions,
        super::discovery::resources,
        super::discovery::extensions,
        super::discovery::extension,
        super::networks::list,
        super::networks::create,
        super::networks::show,
        super::networks::update,
        super::networks::delete,
        super::ports::list,
        super::ports::create,
        super::ports::show,
        super::ports::update,
        super::ports::delete,
        super::trunks::list,
        super::trunks::create,
        super::trunks::show,
        super::trunks::update,
        super::trunks::delete,
        super::trunks::add_subports,
        super::trunks::remove_subports,
        super::trunks::get_subports,
        super::tags::list,
        super::tags::replace,
        super::tags::clear,
        super::tags::check,
        super::tags::add,
        super::tags::remove,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(SortDir))
)]
pub struct ApiDoc;

/// The document as pretty JSON, as committed in `openapi.json`.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null))
}
