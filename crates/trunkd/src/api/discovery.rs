//! Version and extension discovery: what clients call before anything else.

use axum::extract::Path;
use axum::Json;
use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::api::BaseUrl;
use crate::service::{ErrorKind, ServiceError};

/// (alias, name, description) of each extension trunkd implements.
const EXTENSIONS: &[(&str, &str, &str)] = &[
    (
        "trunk",
        "Trunk Extension",
        "Trunk ports carrying subports with their own segmentation.",
    ),
    (
        "trunk-wait-for-revision",
        "Trunk long poll",
        "GET /v2.0/trunks/{id}?wait_for_revision=N answers once the trunk's revision_number \
         reaches N, or after wait_timeout seconds (1 to 60, default 30) as it is then.",
    ),
    (
        "trunk-status-reason",
        "Trunk status with reasons",
        "A trunk's status follows from its ports by one rule (ERROR: a driver refused it; \
         DOWN: the parent is not ACTIVE; ACTIVE: parent and every subport ACTIVE; DEGRADED: \
         otherwise). status_reason says why a trunk is not ACTIVE and sub_ports_status gives \
         each subport's status and reason, with codes driver_refused, parent_unbound, \
         parent_down, not_claimed and subports_not_active.",
    ),
    (
        "trunk-vlan-allocation",
        "Server-side VLAN IDs for subports",
        "A vlan subport given with segmentation_id \"auto\" gets the lowest VLAN ID free on its \
         trunk, in the transaction that adds it. An ID freed by a removal is not handed out \
         again for vlan_reuse_cooldown seconds; an explicit free ID is always honoured. A trunk \
         with no free ID answers 409 NoVlanIdAvailable.",
    ),
    (
        "idempotency-keys",
        "Idempotent retries",
        "A POST, PUT or DELETE with an Idempotency-Key header (1 to 255 visible ASCII \
         characters) may be sent again within idempotency_retention (24 h): the same key from \
         the same project with the same method, path, query and body gets the first answer \
         (Idempotent-Replayed: true) and the work is not done again; with another request it \
         is a 422 IdempotencyKeyReused. The key is claimed in the write's transaction. A \
         request that failed claimed nothing.",
    ),
    (
        "trunk-teardown",
        "Trunk teardown in one call",
        "DELETE /v2.0/trunks/{id}?delete_ports=true also deletes the parent and every subport \
         port in the same transaction, all or nothing (409 while the parent is bound to a host, \
         unless force=true by an admin); DELETE /v2.0/ports/{id}?remove_from_trunk=true takes a \
         subport out of its trunk and deletes it in one transaction.",
    ),
    (
        "trunk-guest-config",
        "Trunk guest configuration",
        "GET /v2.0/trunks/{id}/guest_config gives what a guest needs to bring its VLAN \
         sub-interfaces up: format=network_data (default), OpenStack network_data.json links \
         (the parent as phy, each subport as vlan) and networks from the fixed IPs; or \
         format=netplan, a netplan version 2 document. 409 SubPortNotVlan when a subport is \
         not a VLAN.",
    ),
    (
        "trunk-audit",
        "Trunk audit trail",
        "GET /v2.0/trunks/{id}/audit lists every change to the trunk, oldest first: the action, \
         when, the revision before and after, who (user, project, roles, request id and the \
         caller's global request id; source api, agent with its host, or driver) and what \
         changed (subports added or removed with their segmentation, status and host moves, \
         attributes). Written in the change's transaction; kept audit_retention; paginated \
         (limit, marker) and filtered (since, until, action).",
    ),
    (
        "trunk-details",
        "Trunk port details",
        "Ports that are trunk parents show their trunk and subports.",
    ),
    (
        "binding",
        "Port Binding",
        "Host, VIF type, VNIC type and profile of a port.",
    ),
    (
        "provider",
        "Provider Network",
        "Network type, physical network and segmentation id of a network.",
    ),
    ("net-mtu", "Network MTU", "The MTU of a network."),
    (
        "port-security",
        "Port Security",
        "port_security_enabled on networks and ports; a port takes its network's by default.",
    ),
    (
        "project-id",
        "project_id field enabled",
        "Resources carry project_id beside tenant_id.",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "Every resource has a revision_number.",
    ),
    (
        "revision-if-match",
        "If-Match constraints based on revision_number",
        "Writes honour If-Match: revision_number=N.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Every resource has created_at and updated_at.",
    ),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Resources have a description.",
    ),
    (
        "standard-attr-tag",
        "Tag support for resources with standard attribute",
        "Tags on networks, subnets, ports and trunks.",
    ),
    (
        "pagination",
        "Pagination support",
        "limit, marker and page_reverse on list calls.",
    ),
    (
        "sorting",
        "Sorting support",
        "sort_key and sort_dir on list calls.",
    ),
    (
        "filter-validation",
        "Filter parameters validation",
        "Unknown filter parameters are rejected.",
    ),
];

fn extension_json(&(alias, name, description): &(&str, &str, &str)) -> Value {
    json!({
        "alias": alias,
        "name": name,
        "description": description,
        "updated": "2026-11-25T00:00:00-00:00",
        "links": [],
    })
}

#[utoipa::path(
    get,
    path = "/",
    tag = "discovery",
    responses((status = 200, description = "API versions", body = crate::api::openapi::Object))
)]
pub async fn versions(BaseUrl(base): BaseUrl) -> Json<Value> {
    Json(json!({
        "versions": [{
            "id": "v2.0",
            "status": "CURRENT",
            "links": [{"href": format!("{base}/v2.0/"), "rel": "self"}],
        }]
    }))
}

#[utoipa::path(
    get,
    path = "/v2.0/",
    tag = "discovery",
    responses((status = 200, description = "Resources of v2.0", body = crate::api::openapi::Object))
)]
pub async fn resources(BaseUrl(base): BaseUrl) -> Json<Value> {
    let resources: Vec<Value> = [
        ("network", "networks"),
        ("subnet", "subnets"),
        ("port", "ports"),
        ("trunk", "trunks"),
    ]
    .iter()
    .map(|(name, collection)| {
        json!({
            "name": name,
            "collection": collection,
            "links": [{"href": format!("{base}/v2.0/{collection}"), "rel": "self"}],
        })
    })
    .collect();
    Json(json!({ "resources": resources }))
}

#[utoipa::path(
    get,
    path = "/v2.0/extensions",
    tag = "discovery",
    responses((status = 200, description = "Extensions", body = crate::api::openapi::Object))
)]
pub async fn extensions() -> Json<Value> {
    Json(json!({ "extensions": EXTENSIONS.iter().map(extension_json).collect::<Vec<_>>() }))
}

#[utoipa::path(
    get,
    path = "/v2.0/extensions/{alias}",
    tag = "discovery",
    params(("alias" = String, Path, description = "extension alias")),
    responses((status = 200, description = "One extension", body = crate::api::openapi::Object), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn extension(Path(alias): Path<String>) -> Result<Json<Value>, ApiError> {
    EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .map(|e| Json(json!({ "extension": extension_json(e) })))
        .ok_or_else(|| {
            ApiError::Service(ServiceError::not_found(
                ErrorKind::ExtensionNotFound,
                format!("Extension with alias {alias} does not exist"),
            ))
        })
}
