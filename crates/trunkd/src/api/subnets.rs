//! `/v2.0/subnets`: Neutron's subnet collection (issue 18, item 1).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use crate::api::auth::Caller;
use crate::api::body::{created as created_response, parse_create, unwrap_body, JsonBody, Wrapped};
use crate::api::error::ApiError;
use crate::api::list;
use crate::api::wire::subnet::{
    SubnetCreate, SubnetList, SubnetResponse, SubnetUpdate, SubnetsCreated,
};
use crate::api::wire::{self, from_map, refuse, Items, Render, Verb};
use crate::api::{if_match, path_id, show_wanted, AppState, BaseUrl};
use crate::ids::SubnetId;
use crate::model::attrs::SUBNET_ATTRS;
use crate::service::{self, ErrorKind};
use crate::store::ResourceKind;

pub(crate) fn parse_create_body(
    map: Map<String, Value>,
) -> Result<service::SubnetCreate, ApiError> {
    refuse(&map, SUBNET_ATTRS, Verb::Post)?;
    from_map::<SubnetCreate>(map)?.into_request()
}

pub(crate) fn parse_update(map: Map<String, Value>) -> Result<service::SubnetUpdate, ApiError> {
    refuse(&map, SUBNET_ATTRS, Verb::Put)?;
    from_map::<SubnetUpdate>(map)?.into_request()
}

#[utoipa::path(
    post,
    path = "/v2.0/subnets",
    tag = "subnets",
    request_body = crate::api::openapi::SubnetCreateBody,
    responses((status = 201, description = "Created (a list for a bulk create)", body = crate::api::openapi::SubnetCreated), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (requests, bulk) = parse_create(body, "subnet", "subnets", parse_create_body)?;
    let created = state.service.create_subnets(&ctx, requests).await?;
    Ok(if bulk {
        created_response(SubnetsCreated {
            subnets: Items::all(&created),
        })
    } else {
        created_response(SubnetResponse {
            subnet: wire::first(&created)?.picked(None),
        })
    })
}

#[utoipa::path(
    get,
    path = "/v2.0/subnets",
    tag = "subnets",
    params(("limit" = Option<u32>, Query, description = "page size (fields=NAME, repeatable, selects the attributes returned)"), ("marker" = Option<uuid::Uuid>, Query, description = "id of the last item of the previous page"), ("page_reverse" = Option<bool>, Query, description = "page backwards from the marker"), ("sort_key" = Option<String>, Query, description = "attribute to sort by; repeatable"), ("sort_dir" = Option<crate::api::openapi::SortDir>, Query, description = "one per sort_key"), ("tags" = Option<String>, Query, description = "comma list: all of these tags"), ("tags-any" = Option<String>, Query, description = "comma list: any of these tags"), ("not-tags" = Option<String>, Query, description = "comma list: not all of these tags"), ("not-tags-any" = Option<String>, Query, description = "comma list: none of these tags")),
    responses((status = 200, description = "The subnets the caller may see", body = crate::api::wire::subnet::SubnetList), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let rules = state.service.list_rules(&ctx, ResourceKind::Subnet);
    let request = list::parse(raw.as_deref(), SUBNET_ATTRS, &rules)?.with_max_page(state.max_page);
    let items = state
        .service
        .list_subnets(&ctx, request.store_query())
        .await?;
    let links = request.links(&items, |n| n.item.id.to_string(), &base, "subnets");
    Ok(Json(SubnetList {
        subnets: Items {
            items: &items,
            wanted: request.wanted(),
        },
        subnets_links: links,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/v2.0/subnets/{id}",
    tag = "subnets",
    params(("id" = String, Path, description = "subnet id (UUID)")),
    responses((status = 200, description = "The subnet", body = crate::api::wire::subnet::SubnetResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id: SubnetId = path_id(&id, ErrorKind::SubnetNotFound, "Subnet")?;
    let subnet = state.service.get_subnet(&ctx, id).await?;
    let wanted = show_wanted(raw.as_deref());
    Ok(Json(SubnetResponse {
        subnet: subnet.picked(wanted.as_ref()),
    })
    .into_response())
}

#[utoipa::path(
    put,
    path = "/v2.0/subnets/{id}",
    tag = "subnets",
    request_body = crate::api::openapi::SubnetUpdateRequest,
    params(("id" = String, Path, description = "subnet id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The updated subnet", body = crate::api::wire::subnet::SubnetResponse), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn update(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let id: SubnetId = path_id(&id, ErrorKind::SubnetNotFound, "Subnet")?;
    let Wrapped::One(map) = unwrap_body(body, "subnet", None)? else {
        return Err(ApiError::bad_request(
            "subnet",
            "Bulk update is not supported.",
        ));
    };
    let update = parse_update(map)?;
    let subnet = state
        .service
        .update_subnet(&ctx, id, update, if_match(&headers)?)
        .await?;
    Ok(Json(SubnetResponse {
        subnet: subnet.picked(None),
    })
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/v2.0/subnets/{id}",
    tag = "subnets",
    params(("id" = String, Path, description = "subnet id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id: SubnetId = path_id(&id, ErrorKind::SubnetNotFound, "Subnet")?;
    state
        .service
        .delete_subnet(&ctx, id, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
