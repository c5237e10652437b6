//! `/v2.0/ports`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde_json::{Map, Value};

use crate::api::auth::Caller;
use crate::api::body::{
    created as created_response, parse_create, unwrap_body, Fields, JsonBody, Wrapped,
};
use crate::api::error::ApiError;
use crate::api::list::{self, select_fields};
use crate::api::{if_match, path_id, render, show_fields, AppState, BaseUrl};
use crate::ids::{PortId, ProjectId};
use crate::model::attrs::PORT_ATTRS;
use crate::model::FixedIp;
use crate::service::{ErrorKind, PortCreate, PortUpdate};
use crate::store::ResourceKind;

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "revision_number",
    "created_at",
    "updated_at",
    "binding:vif_type",
    "binding:vif_details",
    "trunk_details",
];

fn take_fixed_ips(fields: &mut Fields) -> Result<Option<Vec<FixedIp>>, ApiError> {
    let Some(items) = fields.take_list("fixed_ips")? else {
        return Ok(None);
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let name = format!("fixed_ips[{index}]");
            let Value::Object(map) = item else {
                return Err(ApiError::bad_request(&name, format!("Invalid input for {name}. Reason: not a dictionary.")));
            };
            let mut entry = Fields::new(map);
            let ip_address = entry.take_string("ip_address")?.ok_or_else(|| {
                ApiError::bad_request(&name, format!("Invalid input for {name}. Reason: ip_address is required (trunkd has no subnets to allocate from)."))
            })?;
            let subnet_id = entry.take_string("subnet_id")?;
            entry.finish()?;
            Ok(FixedIp {
                subnet_id,
                ip_address,
            })
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

pub(crate) fn parse_create_body(map: Map<String, Value>) -> Result<PortCreate, ApiError> {
    let mut fields = Fields::new(map);
    fields.forbid(READ_ONLY, "POST")?;
    let create = PortCreate {
        project_id: fields.take_project()?.map(ProjectId::new),
        network_id: fields.take_id("network_id")?,
        name: fields.take_string("name")?,
        description: fields.take_string("description")?,
        admin_state_up: fields.take_bool("admin_state_up")?,
        mac_address: fields.take_string("mac_address")?,
        device_id: fields.take_string("device_id")?,
        device_owner: fields.take_string("device_owner")?,
        fixed_ips: take_fixed_ips(&mut fields)?,
        host_id: fields.take_string("binding:host_id")?,
        vnic_type: fields.take_string("binding:vnic_type")?,
        profile: fields.take_object("binding:profile")?,
        port_security_enabled: fields.take_bool("port_security_enabled")?,
        tags: fields.take_string_list("tags")?.unwrap_or_default(),
    };
    fields.finish()?;
    Ok(create)
}

pub(crate) fn parse_update(map: Map<String, Value>) -> Result<PortUpdate, ApiError> {
    let mut fields = Fields::new(map);
    fields.forbid(READ_ONLY, "PUT")?;
    fields.forbid(&["network_id", "project_id", "tenant_id", "tags"], "PUT")?;
    let update = PortUpdate {
        name: fields.take_string("name")?,
        description: fields.take_string("description")?,
        admin_state_up: fields.take_bool("admin_state_up")?,
        mac_address: fields.take_string("mac_address")?,
        device_id: fields.take_string("device_id")?,
        device_owner: fields.take_string("device_owner")?,
        fixed_ips: take_fixed_ips(&mut fields)?,
        host_id: fields.take_string("binding:host_id")?,
        vnic_type: fields.take_string("binding:vnic_type")?,
        profile: fields.take_object("binding:profile")?,
        port_security_enabled: fields.take_bool("port_security_enabled")?,
    };
    fields.finish()?;
    Ok(update)
}

#[utoipa::path(
    post,
    path = "/v2.0/ports",
    tag = "ports",
    request_body = crate::api::openapi::PortCreateBody,
    responses((status = 201, description = "Created (a list for a bulk create)", body = crate::api::openapi::PortCreated), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (requests, bulk) = parse_create(body, "port", "ports", parse_create_body)?;
    let created = state.service.create_ports(&ctx, requests).await?;
    Ok(created_response(
        "port",
        "ports",
        bulk,
        created.iter().map(render::port).collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/v2.0/ports",
    tag = "ports",
    params(("limit" = Option<u32>, Query, description = "page size (fields=NAME, repeatable, selects the attributes returned)"), ("marker" = Option<uuid::Uuid>, Query, description = "id of the last item of the previous page"), ("page_reverse" = Option<bool>, Query, description = "page backwards from the marker"), ("sort_key" = Option<String>, Query, description = "attribute to sort by; repeatable"), ("sort_dir" = Option<crate::api::openapi::SortDir>, Query, description = "one per sort_key"), ("tags" = Option<String>, Query, description = "comma list: all of these tags"), ("tags-any" = Option<String>, Query, description = "comma list: any of these tags"), ("not-tags" = Option<String>, Query, description = "comma list: not all of these tags"), ("not-tags-any" = Option<String>, Query, description = "comma list: none of these tags")),
    responses((status = 200, description = "The ports the caller may see", body = crate::api::openapi::PortList), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let rules = state.service.list_rules(&ctx, ResourceKind::Port);
    let request = list::parse(raw.as_deref(), PORT_ATTRS, &rules)?.with_max_page(state.max_page);
    let items = state
        .service
        .list_ports(&ctx, request.store_query())
        .await?;
    Ok(Json(request.respond(
        items,
        |p| p.port.id.to_string(),
        render::port,
        &base,
        "ports",
    )))
}

#[utoipa::path(
    get,
    path = "/v2.0/ports/{id}",
    tag = "ports",
    params(("id" = String, Path, description = "port id (UUID)")),
    responses((status = 200, description = "The port", body = crate::api::openapi::PortResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let id: PortId = path_id(&id, ErrorKind::PortNotFound, "Port")?;
    let port = state.service.get_port(&ctx, id).await?;
    let object = select_fields(render::port(&port), &show_fields(raw.as_deref()));
    Ok(Json(render::wrapped("port", object)))
}

#[utoipa::path(
    put,
    path = "/v2.0/ports/{id}",
    tag = "ports",
    request_body = crate::api::openapi::PortUpdateRequest,
    params(("id" = String, Path, description = "port id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The updated port", body = crate::api::openapi::PortResponse), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn update(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let id: PortId = path_id(&id, ErrorKind::PortNotFound, "Port")?;
    let Wrapped::One(map) = unwrap_body(body, "port", None)? else {
        return Err(ApiError::bad_request(
            "port",
            "Bulk update is not supported.",
        ));
    };
    let update = parse_update(map)?;
    let port = state
        .service
        .update_port(&ctx, id, update, if_match(&headers)?)
        .await?;
    Ok(Json(render::wrapped("port", render::port(&port))))
}

#[utoipa::path(
    delete,
    path = "/v2.0/ports/{id}",
    tag = "ports",
    params(("id" = String, Path, description = "port id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id: PortId = path_id(&id, ErrorKind::PortNotFound, "Port")?;
    state
        .service
        .delete_port(&ctx, id, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
