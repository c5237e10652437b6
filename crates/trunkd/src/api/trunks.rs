//! `/v2.0/trunks` and the subport actions.

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
use crate::api::wire::trunk::{
    subport_requests, AddSubportsRequest, Subports, SubportsResponse, Trunk, TrunkCreate,
    TrunkList, TrunkResponse, TrunkUpdate, TrunksCreated,
};
use crate::api::wire::{self, from_map, refuse, Items, Render, Verb};
use crate::api::{if_match, path_id, show_wanted, AppState, BaseUrl};
use crate::ids::TrunkId;
use crate::model::attrs::TRUNK_ATTRS;
use crate::service::waiting::{self, WaitFor};
use crate::service::{self, ErrorKind, SubportRequest};
use crate::store::ResourceKind;

pub(crate) fn parse_subports(items: Vec<Value>) -> Result<Vec<SubportRequest>, ApiError> {
    subport_requests(items)
}

/// The body of add_subports/remove_subports: `{"sub_ports": [...]}`, its entries unchecked.
pub(crate) fn subports_body(body: Value) -> Result<Vec<Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request(
            "sub_ports",
            "The request body must be a JSON object holding 'sub_ports'.",
        ));
    };
    from_map::<AddSubportsRequest>(map)?.into_items()
}

pub(crate) fn parse_create_body(map: Map<String, Value>) -> Result<service::TrunkCreate, ApiError> {
    refuse(&map, TRUNK_ATTRS, Verb::Post)?;
    from_map::<TrunkCreate>(map)?.into_request()
}

pub(crate) fn parse_update(map: Map<String, Value>) -> Result<service::TrunkUpdate, ApiError> {
    refuse(&map, TRUNK_ATTRS, Verb::Put)?;
    from_map::<TrunkUpdate>(map)?.into_request()
}

fn trunk_id(text: &str) -> Result<TrunkId, ApiError> {
    path_id(text, ErrorKind::TrunkNotFound, "Trunk")
}

#[utoipa::path(
    post,
    path = "/v2.0/trunks",
    tag = "trunks",
    request_body = crate::api::openapi::TrunkCreateBody,
    responses((status = 201, description = "Created (a list for a bulk create)", body = crate::api::openapi::TrunkCreated), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (requests, bulk) = parse_create(body, "trunk", "trunks", parse_create_body)?;
    let created = state.service.create_trunks(&ctx, requests).await?;
    Ok(if bulk {
        created_response(TrunksCreated {
            trunks: Items::all(&created),
        })
    } else {
        created_response(TrunkResponse {
            trunk: wire::first(&created)?.picked(None),
        })
    })
}

#[utoipa::path(
    get,
    path = "/v2.0/trunks",
    tag = "trunks",
    params(("limit" = Option<u32>, Query, description = "page size (fields=NAME, repeatable, selects the attributes returned)"), ("marker" = Option<uuid::Uuid>, Query, description = "id of the last item of the previous page"), ("page_reverse" = Option<bool>, Query, description = "page backwards from the marker"), ("sort_key" = Option<String>, Query, description = "attribute to sort by; repeatable"), ("sort_dir" = Option<crate::api::openapi::SortDir>, Query, description = "one per sort_key"), ("tags" = Option<String>, Query, description = "comma list: all of these tags"), ("tags-any" = Option<String>, Query, description = "comma list: any of these tags"), ("not-tags" = Option<String>, Query, description = "comma list: not all of these tags"), ("not-tags-any" = Option<String>, Query, description = "comma list: none of these tags")),
    responses((status = 200, description = "The trunks the caller may see", body = crate::api::wire::trunk::TrunkList), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let rules = state.service.list_rules(&ctx, ResourceKind::Trunk);
    let request = list::parse(raw.as_deref(), TRUNK_ATTRS, &rules)?.with_max_page(state.max_page);
    let items = state
        .service
        .list_trunks(&ctx, request.store_query())
        .await?;
    let links = request.links(&items, |t| t.id.to_string(), &base, "trunks");
    Ok(Json(TrunkList {
        trunks: Items {
            items: &items,
            wanted: request.wanted(),
        },
        trunks_links: links,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/v2.0/trunks/{id}",
    tag = "trunks",
    params(("id" = String, Path, description = "trunk id (UUID)"), ("wait_for_revision" = Option<i64>, Query, description = "long poll (extension trunk-wait-for-revision): answer once the trunk's revision_number is at least this"), ("wait_timeout" = Option<u64>, Query, description = "with wait_for_revision: seconds to wait at most, 1 to 60 (default 30); then the trunk is answered as it is")),
    responses((status = 200, description = "The trunk", body = crate::api::wire::trunk::TrunkResponse), (status = 400, description = "Bad wait_for_revision or wait_timeout", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable, or too many waiting requests", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = trunk_id(&id)?;
    let trunk = match wait_for(raw.as_deref())? {
        Some(wait) => state.service.wait_for_trunk(&ctx, id, wait).await?,
        None => state.service.get_trunk(&ctx, id).await?,
    };
    let wanted = show_wanted(raw.as_deref());
    Ok(Json(TrunkResponse {
        trunk: trunk.picked(wanted.as_ref()),
    })
    .into_response())
}

#[utoipa::path(
    put,
    path = "/v2.0/trunks/{id}",
    tag = "trunks",
    request_body = crate::api::openapi::TrunkUpdateRequest,
    params(("id" = String, Path, description = "trunk id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The updated trunk", body = crate::api::wire::trunk::TrunkResponse), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn update(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let id = trunk_id(&id)?;
    let Wrapped::One(map) = unwrap_body(body, "trunk", None)? else {
        return Err(ApiError::bad_request(
            "trunk",
            "Bulk update is not supported.",
        ));
    };
    let update = parse_update(map)?;
    let trunk = state
        .service
        .update_trunk(&ctx, id, update, if_match(&headers)?)
        .await?;
    Ok(Json(TrunkResponse {
        trunk: trunk.picked(None),
    })
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/v2.0/trunks/{id}",
    tag = "trunks",
    params(("id" = String, Path, description = "trunk id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N"), ("delete_ports" = Option<bool>, Query, description = "extension trunk-teardown: true also deletes the parent and every subport port, in one transaction (all or nothing); needs delete_port on each port; 409 while the parent is bound to a host"), ("force" = Option<bool>, Query, description = "with delete_ports=true: delete even while the parent is bound (policy delete_trunk:force, admins by default)")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "Bad delete_ports or force", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, ApiError> {
    let id = trunk_id(&id)?;
    let if_match = if_match(&headers)?;
    match teardown::trunk_deletion(raw.as_deref())? {
        None => state.service.delete_trunk(&ctx, id, if_match).await?,
        Some(bound) => {
            state
                .service
                .delete_trunk_with_ports(&ctx, id, bound, if_match)
                .await?
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/v2.0/trunks/{id}/add_subports",
    tag = "trunks",
    request_body = crate::api::wire::trunk::AddSubportsRequest,
    params(("id" = String, Path, description = "trunk id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The whole trunk, not wrapped", body = crate::api::wire::trunk::Trunk), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn add_subports(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let id = trunk_id(&id)?;
    let requests = parse_subports(subports_body(body)?)?;
    let trunk = state
        .service
        .add_subports(&ctx, id, requests, if_match(&headers)?)
        .await?;
    Ok(Json(Trunk::of(&trunk)).into_response())
}

#[utoipa::path(
    put,
    path = "/v2.0/trunks/{id}/remove_subports",
    tag = "trunks",
    request_body = crate::api::wire::trunk::RemoveSubportsRequest,
    params(("id" = String, Path, description = "trunk id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The whole trunk, not wrapped", body = crate::api::wire::trunk::Trunk), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn remove_subports(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let id = trunk_id(&id)?;
    let ports = parse_subports(subports_body(body)?)?
        .into_iter()
        .map(|s| s.port_id)
        .collect();
    let trunk = state
        .service
        .remove_subports(&ctx, id, ports, if_match(&headers)?)
        .await?;
    Ok(Json(Trunk::of(&trunk)).into_response())
}

#[utoipa::path(
    get,
    path = "/v2.0/trunks/{id}/get_subports",
    tag = "trunks",
    params(("id" = String, Path, description = "trunk id (UUID)")),
    responses((status = 200, description = "The subports", body = crate::api::wire::trunk::SubportsResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn get_subports(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let subports = state.service.get_subports(&ctx, trunk_id(&id)?).await?;
    Ok(Json(SubportsResponse {
        sub_ports: Subports(&subports),
    })
    .into_response())
}

/// `wait_for_revision` and `wait_timeout` of a show (the `trunk-wait-for-revision`
/// extension); `None` when the request does not wait.
fn wait_for(raw: Option<&str>) -> Result<Option<WaitFor>, ApiError> {
    let mut revision = None;
    let mut timeout = None;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "wait_for_revision" => {
                let parsed = value.parse::<i64>().ok().filter(|r| *r >= 0);
                revision = Some(parsed.ok_or_else(|| {
                    ApiError::bad_request(
                        "wait_for_revision",
                        format!(
                            "Invalid input for wait_for_revision. Reason: '{value}' is not a \
                             non-negative integer."
                        ),
                    )
                })?);
            }
            "wait_timeout" => {
                let max = waiting::MAX_WAIT.as_secs();
                let parsed = value.parse::<u64>().ok().filter(|t| (1..=max).contains(t));
                timeout = Some(parsed.ok_or_else(|| {
                    ApiError::bad_request(
                        "wait_timeout",
                        format!(
                            "Invalid input for wait_timeout. Reason: '{value}' is not a number \
                             of seconds from 1 to {max}."
                        ),
                    )
                })?);
            }
            _ => {}
        }
    }
    match (revision, timeout) {
        (Some(revision), timeout) => Ok(Some(WaitFor {
            revision,
            timeout: timeout.map_or(waiting::DEFAULT_WAIT, std::time::Duration::from_secs),
        })),
        (None, Some(_)) => Err(ApiError::bad_request(
            "wait_timeout",
            "Invalid input for wait_timeout. Reason: it is only valid with wait_for_revision.",
        )),
        (None, None) => Ok(None),
    }
}
