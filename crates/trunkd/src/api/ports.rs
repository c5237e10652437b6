//! `/v2.0/ports`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use crate::api::auth::Caller;
use crate::api::body::{created as created_response, parse_create, unwrap_body, JsonBody, Wrapped};
use crate::api::error::ApiError;
use crate::api::list;
use crate::api::teardown;
use crate::api::wire::port::{PortCreate, PortList, PortResponse, PortUpdate, PortsCreated};
use crate::api::wire::{self, from_map, refuse, Items, Render, Verb};
use crate::api::{if_match, path_id, show_wanted, AppState, BaseUrl};
use crate::ids::PortId;
use crate::model::attrs::PORT_ATTRS;
use crate::service::{self, ErrorKind};
use crate::store::ResourceKind;

pub(crate) fn parse_create_body(map: Map<String, Value>) -> Result<service::PortCreate, ApiError> {
    refuse(&map, PORT_ATTRS, Verb::Post)?;
    from_map::<PortCreate>(map)?.into_request()
}

pub(crate) fn parse_update(map: Map<String, Value>) -> Result<service::PortUpdate, ApiError> {
    refuse(&map, PORT_ATTRS, Verb::Put)?;
    from_map::<PortUpdate>(map)?.into_request()
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
    Ok(if bulk {
        created_response(PortsCreated {
            ports: Items::all(&created),
        })
    } else {
        created_response(PortResponse {
            port: wire::first(&created)?.picked(None),
        })
    })
}

#[utoipa::path(
    get,
    path = "/v2.0/ports",
    tag = "ports",
    params(("limit" = Option<u32>, Query, description = "page size (fields=NAME, repeatable, selects the attributes returned)"), ("marker" = Option<uuid::Uuid>, Query, description = "id of the last item of the previous page"), ("page_reverse" = Option<bool>, Query, description = "page backwards from the marker"), ("sort_key" = Option<String>, Query, description = "attribute to sort by; repeatable"), ("sort_dir" = Option<crate::api::openapi::SortDir>, Query, description = "one per sort_key"), ("tags" = Option<String>, Query, description = "comma list: all of these tags"), ("tags-any" = Option<String>, Query, description = "comma list: any of these tags"), ("not-tags" = Option<String>, Query, description = "comma list: not all of these tags"), ("not-tags-any" = Option<String>, Query, description = "comma list: none of these tags")),
    responses((status = 200, description = "The ports the caller may see", body = crate::api::wire::port::PortList), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let rules = state.service.list_rules(&ctx, ResourceKind::Port);
    let request = list::parse(raw.as_deref(), PORT_ATTRS, &rules)?.with_max_page(state.max_page);
    let items = state
        .service
        .list_ports(&ctx, request.store_query())
        .await?;
    let links = request.links(&items, |p| p.port.id.to_string(), &base, "ports");
    Ok(Json(PortList {
        ports: Items {
            items: &items,
            wanted: request.wanted(),
        },
        ports_links: links,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/v2.0/ports/{id}",
    tag = "ports",
    params(("id" = String, Path, description = "port id (UUID)")),
    responses((status = 200, description = "The port", body = crate::api::wire::port::PortResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id: PortId = path_id(&id, ErrorKind::PortNotFound, "Port")?;
    let port = state.service.get_port(&ctx, id).await?;
    let wanted = show_wanted(raw.as_deref());
    Ok(Json(PortResponse {
        port: port.picked(wanted.as_ref()),
    })
    .into_response())
}

#[utoipa::path(
    put,
    path = "/v2.0/ports/{id}",
    tag = "ports",
    request_body = crate::api::openapi::PortUpdateRequest,
    params(("id" = String, Path, description = "port id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The updated port", body = crate::api::wire::port::PortResponse), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn update(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
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
    Ok(Json(PortResponse {
        port: port.picked(None),
    })
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/v2.0/ports/{id}",
    tag = "ports",
    params(("id" = String, Path, description = "port id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N"), ("remove_from_trunk" = Option<bool>, Query, description = "extension trunk-teardown: true takes a subport out of its trunk (needs remove_subports on the trunk) and deletes it, in one transaction; a trunk parent stays a 409")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "Bad remove_from_trunk", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, ApiError> {
    let id: PortId = path_id(&id, ErrorKind::PortNotFound, "Port")?;
    let if_match = if_match(&headers)?;
    if teardown::port_deletion(raw.as_deref())? {
        state
            .service
            .delete_port_from_trunk(&ctx, id, if_match)
            .await?;
    } else {
        state.service.delete_port(&ctx, id, if_match).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
