//! Trunks on the wire: the create and update bodies, the bodies of add_subports and
//! remove_subports, and the trunk and its subports answered.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{from_map, invalid, no_unknown, project, unrecognised, Attr, Render};
use crate::api::error::ApiError;
use crate::api::openapi::SegmentationType;
use crate::ids::{PortId, ProjectId, TrunkId};
use crate::model::{self, health};
use crate::service::{self, SegmentationIdRequest, SubportRequest as ServiceSubport};

/// One `sub_ports` entry of a create, add_subports or remove_subports (which uses only
/// `port_id`; segmentation attributes there are checked and ignored).
#[derive(Deserialize, ToSchema)]
pub struct SubportRequest {
    #[serde(default)]
    #[schema(value_type = String, format = Uuid, required = true)]
    port_id: Attr<String>,
    #[serde(default)]
    #[schema(value_type = SegmentationType, required = true)]
    segmentation_type: Attr<String>,
    /// 1..4094 for `vlan`, or `"auto"` for the lowest VLAN ID free on the trunk (extension
    /// `trunk-vlan-allocation`); absent for `inherit`.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::openapi::SegmentationIdRequest>)]
    segmentation_id: Attr<SegmentationIdRequest>,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Map<String, Value>,
}

impl SubportRequest {
    /// The service's request for entry `index`; errors name `sub_ports[index]` and the
    /// attribute.
    fn into_request(self, index: usize) -> Result<ServiceSubport, ApiError> {
        let name = format!("sub_ports[{index}]");
        let field = |attr: &str| format!("{name}.{attr}");
        let port_id = match self.port_id {
            Attr::Invalid(_) => return Err(invalid(&field("port_id"), "not a valid string")),
            Attr::Absent => {
                return Err(invalid(&field("port_id"), "this attribute is required"));
            }
            Attr::Given(text) => text
                .parse::<PortId>()
                .map_err(|_| invalid(&field("port_id"), format!("'{text}' is not a valid UUID")))?,
        };
        let segmentation_type = self
            .segmentation_type
            .take("")
            .map_err(|_| invalid(&field("segmentation_type"), "not a valid string"))?;
        let segmentation_id = self
            .segmentation_id
            .take("")
            .map_err(|_| invalid(&field("segmentation_id"), "not an integer or \"auto\""))?;
        if !self.unknown.is_empty() {
            let message = unrecognised(&self.unknown).to_string();
            return Err(ApiError::bad_request(
                &name,
                format!("Invalid input for {name}. Reason: {message}."),
            ));
        }
        Ok(ServiceSubport {
            port_id,
            segmentation_type,
            segmentation_id,
        })
    }
}

/// The `sub_ports` entries of a request, each checked in turn.
pub fn subport_requests(items: Vec<Value>) -> Result<Vec<ServiceSubport>, ApiError> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let Value::Object(map) = item else {
                let name = format!("sub_ports[{index}]");
                return Err(ApiError::bad_request(
                    &name,
                    format!("Invalid input for {name}. Reason: not a dictionary."),
                ));
            };
            from_map::<SubportRequest>(map)?.into_request(index)
        })
        .collect()
}

/// `{"port_id": ...}` is all remove_subports needs.
#[derive(ToSchema)]
#[allow(dead_code)] // read by the schema derive: remove_subports reads SubportRequest entries
pub struct SubportRef {
    #[schema(format = Uuid)]
    port_id: String,
}

/// The body of add_subports.
#[derive(Deserialize, ToSchema)]
pub struct AddSubportsRequest {
    #[serde(default)]
    #[schema(value_type = Vec<SubportRequest>, required = true)]
    sub_ports: Attr<Vec<Value>>,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Map<String, Value>,
}

/// The body of remove_subports: the entries of add_subports, of which only `port_id` counts.
#[derive(ToSchema)]
#[allow(dead_code)] // read by the schema derive: the body is read as an AddSubportsRequest
pub struct RemoveSubportsRequest {
    sub_ports: Vec<SubportRef>,
}

impl AddSubportsRequest {
    /// The entries, not yet checked (they are, after the body's own attributes).
    pub fn into_items(self) -> Result<Vec<Value>, ApiError> {
        let items = self
            .sub_ports
            .take("sub_ports")?
            .ok_or_else(|| invalid("sub_ports", "this attribute is required"))?;
        no_unknown(&self.unknown)?;
        Ok(items)
    }
}

/// The body of a trunk create (or one item of a bulk create).
#[derive(Deserialize, ToSchema)]
pub struct TrunkCreate {
    /// The parent port.
    #[serde(default)]
    #[schema(value_type = String, format = Uuid, required = true)]
    port_id: Attr<PortId>,
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
    #[schema(value_type = String)]
    project_id: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String)]
    tenant_id: Attr<String>,
    #[serde(default)]
    #[schema(value_type = Vec<SubportRequest>, max_items = 4094)]
    sub_ports: Attr<Vec<Value>>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    tags: Attr<Vec<String>>,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Map<String, Value>,
}

impl TrunkCreate {
    /// The service's request, or the first attribute at fault in Neutron's order.
    pub fn into_request(self) -> Result<service::TrunkCreate, ApiError> {
        let create = service::TrunkCreate {
            project_id: project(self.project_id, self.tenant_id)?.map(ProjectId::new),
            port_id: self.port_id.take("port_id")?,
            name: self.name.take("name")?,
            description: self.description.take("description")?,
            admin_state_up: self.admin_state_up.take("admin_state_up")?,
            sub_ports: subport_requests(self.sub_ports.take("sub_ports")?.unwrap_or_default())?,
            tags: self.tags.take("tags")?.unwrap_or_default(),
        };
        no_unknown(&self.unknown)?;
        Ok(create)
    }
}

/// The body of a trunk update.
#[derive(Deserialize, ToSchema)]
pub struct TrunkUpdate {
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    name: Attr<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    description: Attr<String>,
    #[serde(default)]
    #[schema(value_type = bool)]
    admin_state_up: Attr<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Map<String, Value>,
}

impl TrunkUpdate {
    /// The service's request, or the first attribute at fault in Neutron's order.
    pub fn into_request(self) -> Result<service::TrunkUpdate, ApiError> {
        let update = service::TrunkUpdate {
            name: self.name.take("name")?,
            description: self.description.take("description")?,
            admin_state_up: self.admin_state_up.take("admin_state_up")?,
        };
        no_unknown(&self.unknown)?;
        Ok(update)
    }
}

/// A subport as answered.
#[derive(Serialize, ToSchema)]
pub struct Subport<'a> {
    #[schema(value_type = String)]
    port_id: PortId,
    segmentation_id: i64,
    /// `vlan`, or `inherit` on requests (resolved to the network's type when stored).
    segmentation_type: &'a str,
}

impl<'a> Subport<'a> {
    pub fn of(subport: &'a model::Subport) -> Self {
        Subport {
            port_id: subport.port_id,
            segmentation_id: subport.segmentation_id,
            segmentation_type: subport.segmentation_type.as_str(),
        }
    }
}

/// A list of subports, serialised one by one.
pub struct Subports<'a>(pub &'a [model::Subport]);

impl Serialize for Subports<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Subport::of))
    }
}

/// The answer of get_subports.
#[derive(Serialize, ToSchema)]
pub struct SubportsResponse<'a> {
    #[schema(value_type = Vec<Subport>)]
    pub sub_ports: Subports<'a>,
}

/// Why a trunk or subport is not ACTIVE (extension `trunk-status-reason`).
#[derive(Serialize, ToSchema)]
pub struct StatusReason {
    /// `driver_refused`, `parent_unbound`, `parent_down`, `not_claimed` or
    /// `subports_not_active`.
    code: &'static str,
    message: String,
}

impl StatusReason {
    fn of(reason: health::StatusReason) -> Self {
        StatusReason {
            code: reason.code.as_str(),
            message: reason.message,
        }
    }
}

/// One subport's status (extension `trunk-status-reason`). Kept beside `sub_ports` rather
/// than in its entries, whose keys clients compare with what they sent.
#[derive(Serialize, ToSchema)]
pub struct SubportStatus {
    #[schema(value_type = String)]
    port_id: PortId,
    /// ACTIVE, DOWN, BUILD or ERROR.
    status: &'static str,
    /// Null when ACTIVE.
    status_reason: Option<StatusReason>,
}

/// Each subport's status, in `sub_ports` order, derived as it is serialised.
pub struct SubportStatuses<'a>(&'a model::Trunk);

impl Serialize for SubportStatuses<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let trunk = self.0;
        serializer.collect_seq(trunk.sub_ports.iter().zip(trunk.subport_health()).map(
            |(subport, health)| SubportStatus {
                port_id: subport.port_id,
                status: health.status.as_str(),
                status_reason: health.reason.map(StatusReason::of),
            },
        ))
    }
}

/// A trunk as answered.
// Fields in alphabetical order: the order of the keys in every answer (a test holds it).
#[derive(Serialize, ToSchema)]
pub struct Trunk<'a> {
    admin_state_up: bool,
    created_at: &'a str,
    description: &'a str,
    #[schema(value_type = String)]
    id: TrunkId,
    name: &'a str,
    #[schema(value_type = String)]
    port_id: PortId,
    project_id: &'a str,
    revision_number: i64,
    /// DOWN, ACTIVE, DEGRADED or ERROR, derived from the parent and subports (see README,
    /// "Status"). BUILD is accepted in filters for Neutron's sake but never given.
    status: &'a str,
    /// Why the trunk is not ACTIVE; null when it is (extension `trunk-status-reason`).
    status_reason: Option<StatusReason>,
    #[schema(value_type = Vec<Subport>)]
    sub_ports: Subports<'a>,
    /// Each subport's status and reason, in `sub_ports` order (extension
    /// `trunk-status-reason`).
    #[schema(value_type = Vec<SubportStatus>)]
    sub_ports_status: SubportStatuses<'a>,
    tags: &'a [String],
    tenant_id: &'a str,
    updated_at: &'a str,
}

impl<'a> Trunk<'a> {
    pub fn of(t: &'a model::Trunk) -> Self {
        Trunk {
            admin_state_up: t.admin_state_up,
            created_at: &t.std.created_at,
            description: &t.description,
            id: t.id,
            name: &t.name,
            port_id: t.port_id,
            project_id: t.project_id.as_str(),
            revision_number: t.std.revision_number,
            status: t.status.as_str(),
            status_reason: t.status_reason().map(StatusReason::of),
            sub_ports: Subports(&t.sub_ports),
            sub_ports_status: SubportStatuses(t),
            tags: &t.std.tags,
            tenant_id: t.project_id.as_str(),
            updated_at: &t.std.updated_at,
        }
    }
}

impl Render for model::Trunk {
    type Wire<'a> = Trunk<'a>;

    fn wire(&self) -> Trunk<'_> {
        Trunk::of(self)
    }
}

super::envelopes!(model::Trunk => Trunk,
    TrunkResponse { trunk }, TrunksCreated { trunks }, TrunkList { trunks_links });
