//! `/v2.0/networks`.

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
use crate::ids::{NetworkId, ProjectId};
use crate::model::attrs::NETWORK_ATTRS;
use crate::model::NetworkType;
use crate::service::{ErrorKind, NetworkCreate, NetworkUpdate};
use crate::store::ResourceKind;

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "revision_number",
    "created_at",
    "updated_at",
    "subnets",
];

pub(crate) fn parse_create_body(map: Map<String, Value>) -> Result<NetworkCreate, ApiError> {
    let mut fields = Fields::new(map);
    fields.forbid(READ_ONLY, "POST")?;
    let network_type = match fields.take_string("provider:network_type")? {
        None => None,
        Some(text) => Some(NetworkType::parse(&text).ok_or_else(|| {
            ApiError::bad_request(
                "provider:network_type",
                format!("Invalid input for provider:network_type. Reason: '{text}' is not one of vlan, vxlan, geneve, flat, local."),
            )
        })?),
    };
    let create = NetworkCreate {
        project_id: fields.take_project()?.map(ProjectId::new),
        name: fields.take_string("name")?,
        description: fields.take_string("description")?,
        admin_state_up: fields.take_bool("admin_state_up")?,
        shared: fields.take_bool("shared")?,
        mtu: fields.take_int("mtu")?,
        network_type,
        physical_network: fields.take_string("provider:physical_network")?,
        segmentation_id: fields.take_int("provider:segmentation_id")?,
        port_security_enabled: fields.take_bool("port_security_enabled")?,
        tags: fields.take_string_list("tags")?.unwrap_or_default(),
    };
    fields.finish()?;
    Ok(create)
}

pub(crate) fn parse_update(map: Map<String, Value>) -> Result<NetworkUpdate, ApiError> {
    let mut fields = Fields::new(map);
    fields.forbid(READ_ONLY, "PUT")?;
    fields.forbid(
        &[
            "project_id",
            "tenant_id",
            "provider:network_type",
            "provider:physical_network",
            "provider:segmentation_id",
            "tags",
        ],
        "PUT",
    )?;
    let update = NetworkUpdate {
        name: fields.take_string("name")?,
        description: fields.take_string("description")?,
        admin_state_up: fields.take_bool("admin_state_up")?,
        shared: fields.take_bool("shared")?,
        mtu: fields.take_int("mtu")?,
        port_security_enabled: fields.take_bool("port_security_enabled")?,
    };
    fields.finish()?;
    Ok(update)
}

#[utoipa::path(
    post,
    path = "/v2.0/networks",
    tag = "networks",
    request_body = crate::api::openapi::NetworkCreateBody,
    responses((status = 201, description = "Created (a list for a bulk create)", body = crate::api::openapi::NetworkCreated), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (requests, bulk) = parse_create(body, "network", "networks", parse_create_body)?;
    let created = state.service.create_networks(&ctx, requests).await?;
    Ok(created_response(
        "network",
        "networks",
        bulk,
        created.iter().map(render::network).collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/v2.0/networks",
    tag = "networks",
    params(("limit" = Option<u32>, Query, description = "page size (fields=NAME, repeatable, selects the attributes returned)"), ("marker" = Option<uuid::Uuid>, Query, description = "id of the last item of the previous page"), ("page_reverse" = Option<bool>, Query, description = "page backwards from the marker"), ("sort_key" = Option<String>, Query, description = "attribute to sort by; repeatable"), ("sort_dir" = Option<crate::api::openapi::SortDir>, Query, description = "one per sort_key"), ("tags" = Option<String>, Query, description = "comma list: all of these tags"), ("tags-any" = Option<String>, Query, description = "comma list: any of these tags"), ("not-tags" = Option<String>, Query, description = "comma list: not all of these tags"), ("not-tags-any" = Option<String>, Query, description = "comma list: none of these tags")),
    responses((status = 200, description = "The networks the caller may see", body = crate::api::openapi::NetworkList), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let rules = state.service.list_rules(&ctx, ResourceKind::Network);
    let request = list::parse(raw.as_deref(), NETWORK_ATTRS, &rules)?.with_max_page(state.max_page);
    let items = state
        .service
        .list_networks(&ctx, request.store_query())
        .await?;
    Ok(Json(request.respond(
        items,
        |n| n.item.id.to_string(),
        render::network,
        &base,
        "networks",
    )))
}

#[utoipa::path(
    get,
    path = "/v2.0/networks/{id}",
    tag = "networks",
    params(("id" = String, Path, description = "network id (UUID)")),
    responses((status = 200, description = "The network", body = crate::api::openapi::NetworkResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let id: NetworkId = path_id(&id, ErrorKind::NetworkNotFound, "Network")?;
    let network = state.service.get_network(&ctx, id).await?;
    let object = select_fields(render::network(&network), &show_fields(raw.as_deref()));
    Ok(Json(render::wrapped("network", object)))
}

#[utoipa::path(
    put,
    path = "/v2.0/networks/{id}",
    tag = "networks",
    request_body = crate::api::openapi::NetworkUpdateRequest,
    params(("id" = String, Path, description = "network id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The updated network", body = crate::api::openapi::NetworkResponse), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn update(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let id: NetworkId = path_id(&id, ErrorKind::NetworkNotFound, "Network")?;
    let Wrapped::One(map) = unwrap_body(body, "network", None)? else {
        return Err(ApiError::bad_request(
            "network",
            "Bulk update is not supported.",
        ));
    };
    let update = parse_update(map)?;
    let network = state
        .service
        .update_network(&ctx, id, update, if_match(&headers)?)
        .await?;
    Ok(Json(render::wrapped("network", render::network(&network))))
}

#[utoipa::path(
    delete,
    path = "/v2.0/networks/{id}",
    tag = "networks",
    params(("id" = String, Path, description = "network id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id: NetworkId = path_id(&id, ErrorKind::NetworkNotFound, "Network")?;
    state
        .service
        .delete_network(&ctx, id, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
