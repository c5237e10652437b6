//! `/v2.0/trunks` and the subport actions.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use crate::api::auth::Caller;
use crate::api::body::{
    created as created_response, parse_create, unwrap_body, Fields, JsonBody, Wrapped,
};
use crate::api::error::ApiError;
use crate::api::list::{self, select_fields};
use crate::api::render::{Envelope, TrunkJson};
use crate::api::{if_match, path_id, render, show_fields, AppState, BaseUrl};
use crate::ids::{PortId, ProjectId, TrunkId};
use crate::model::attrs::TRUNK_ATTRS;
use crate::service::{ErrorKind, SubportRequest, TrunkCreate, TrunkUpdate};
use crate::store::ResourceKind;

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "revision_number",
    "created_at",
    "updated_at",
];

/// One `sub_ports` entry of create, add_subports or remove_subports (which uses only
/// `port_id`; segmentation attributes there are accepted and ignored).
fn parse_subport(index: usize, item: Value) -> Result<SubportRequest, ApiError> {
    let name = format!("sub_ports[{index}]");
    let Value::Object(map) = item else {
        return Err(ApiError::bad_request(
            &name,
            format!("Invalid input for {name}. Reason: not a dictionary."),
        ));
    };
    let mut fields = Fields::new(map);
    let prefixed = |field: &str| format!("{name}.{field}");
    let port_id = fields
        .take_string("port_id")
        .map_err(|_| invalid(&prefixed("port_id"), "not a valid string"))?
        .ok_or_else(|| invalid(&prefixed("port_id"), "this attribute is required"))?;
    let port_id: PortId = port_id.parse().map_err(|_| {
        invalid(
            &prefixed("port_id"),
            &format!("'{port_id}' is not a valid UUID"),
        )
    })?;
    let segmentation_type = fields
        .take_string("segmentation_type")
        .map_err(|_| invalid(&prefixed("segmentation_type"), "not a valid string"))?;
    let segmentation_id = fields
        .take_int("segmentation_id")
        .map_err(|_| invalid(&prefixed("segmentation_id"), "not an integer"))?;
    fields.finish().map_err(|e| match e {
        ApiError::Service(crate::service::ServiceError::BadRequest { message, .. }) => {
            ApiError::bad_request(
                &name,
                format!("Invalid input for {name}. Reason: {message}."),
            )
        }
        other => other,
    })?;
    Ok(SubportRequest {
        port_id,
        segmentation_type,
        segmentation_id,
    })
}

fn invalid(field: &str, reason: &str) -> ApiError {
    ApiError::Service(crate::service::ServiceError::invalid_input(field, reason))
}

pub(crate) fn parse_subports(items: Vec<Value>) -> Result<Vec<SubportRequest>, ApiError> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| parse_subport(index, item))
        .collect()
}

/// The body of add_subports/remove_subports: `{"sub_ports": [...]}`.
pub(crate) fn subports_body(body: Value) -> Result<Vec<Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request(
            "sub_ports",
            "The request body must be a JSON object holding 'sub_ports'.",
        ));
    };
    let mut fields = Fields::new(map);
    let items = fields
        .take_list("sub_ports")?
        .ok_or_else(|| invalid("sub_ports", "this attribute is required"))?;
    fields.finish()?;
    Ok(items)
}

pub(crate) fn parse_create_body(map: Map<String, Value>) -> Result<TrunkCreate, ApiError> {
    let mut fields = Fields::new(map);
    fields.forbid(READ_ONLY, "POST")?;
    let create = TrunkCreate {
        project_id: fields.take_project()?.map(ProjectId::new),
        port_id: fields.take_id("port_id")?,
        name: fields.take_string("name")?,
        description: fields.take_string("description")?,
        admin_state_up: fields.take_bool("admin_state_up")?,
        sub_ports: parse_subports(fields.take_list("sub_ports")?.unwrap_or_default())?,
        tags: fields.take_string_list("tags")?.unwrap_or_default(),
    };
    fields.finish()?;
    Ok(create)
}

pub(crate) fn parse_update(map: Map<String, Value>) -> Result<TrunkUpdate, ApiError> {
    let mut fields = Fields::new(map);
    fields.forbid(READ_ONLY, "PUT")?;
    fields.forbid(
        &["port_id", "sub_ports", "project_id", "tenant_id", "tags"],
        "PUT",
    )?;
    let update = TrunkUpdate {
        name: fields.take_string("name")?,
        description: fields.take_string("description")?,
        admin_state_up: fields.take_bool("admin_state_up")?,
    };
    fields.finish()?;
    Ok(update)
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
    Ok(created_response(
        "trunk",
        "trunks",
        bulk,
        created.iter().map(render::trunk).collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/v2.0/trunks",
    tag = "trunks",
    params(("limit" = Option<u32>, Query, description = "page size (fields=NAME, repeatable, selects the attributes returned)"), ("marker" = Option<uuid::Uuid>, Query, description = "id of the last item of the previous page"), ("page_reverse" = Option<bool>, Query, description = "page backwards from the marker"), ("sort_key" = Option<String>, Query, description = "attribute to sort by; repeatable"), ("sort_dir" = Option<crate::api::openapi::SortDir>, Query, description = "one per sort_key"), ("tags" = Option<String>, Query, description = "comma list: all of these tags"), ("tags-any" = Option<String>, Query, description = "comma list: any of these tags"), ("not-tags" = Option<String>, Query, description = "comma list: not all of these tags"), ("not-tags-any" = Option<String>, Query, description = "comma list: none of these tags")),
    responses((status = 200, description = "The trunks the caller may see", body = crate::api::openapi::TrunkList), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let rules = state.service.list_rules(&ctx, ResourceKind::Trunk);
    let request = list::parse(raw.as_deref(), TRUNK_ATTRS, &rules)?.with_max_page(state.max_page);
    let items = state
        .service
        .list_trunks(&ctx, request.store_query())
        .await?;
    Ok(Json(request.respond(
        items,
        |t| t.id.to_string(),
        render::trunk,
        &base,
        "trunks",
    )))
}

#[utoipa::path(
    get,
    path = "/v2.0/trunks/{id}",
    tag = "trunks",
    params(("id" = String, Path, description = "trunk id (UUID)")),
    responses((status = 200, description = "The trunk", body = crate::api::openapi::TrunkResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn show(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let trunk = state.service.get_trunk(&ctx, trunk_id(&id)?).await?;
    let fields = show_fields(raw.as_deref());
    if fields.is_empty() {
        return Ok(Json(Envelope {
            key: "trunk",
            value: TrunkJson::of(&trunk),
        })
        .into_response());
    }
    let object = select_fields(render::trunk(&trunk), &fields);
    Ok(Json(render::wrapped("trunk", object)).into_response())
}

#[utoipa::path(
    put,
    path = "/v2.0/trunks/{id}",
    tag = "trunks",
    request_body = crate::api::openapi::TrunkUpdateRequest,
    params(("id" = String, Path, description = "trunk id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The updated trunk", body = crate::api::openapi::TrunkResponse), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
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
    Ok(Json(Envelope {
        key: "trunk",
        value: TrunkJson::of(&trunk),
    })
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/v2.0/trunks/{id}",
    tag = "trunks",
    params(("id" = String, Path, description = "trunk id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = trunk_id(&id)?;
    state
        .service
        .delete_trunk(&ctx, id, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/v2.0/trunks/{id}/add_subports",
    tag = "trunks",
    request_body = crate::api::openapi::AddSubportsRequest,
    params(("id" = String, Path, description = "trunk id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The whole trunk, not wrapped", body = crate::api::openapi::Trunk), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
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
    Ok(Json(TrunkJson::of(&trunk)).into_response())
}

#[utoipa::path(
    put,
    path = "/v2.0/trunks/{id}/remove_subports",
    tag = "trunks",
    request_body = crate::api::openapi::RemoveSubportsRequest,
    params(("id" = String, Path, description = "trunk id (UUID)"), ("If-Match" = Option<String>, Header, description = "revision_number=N: refuse (412) unless the stored revision is N")),
    responses((status = 200, description = "The whole trunk, not wrapped", body = crate::api::openapi::Trunk), (status = 400, description = "Bad input; the message names the attribute", body = crate::api::openapi::NeutronErrorResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 403, description = "Policy forbids it on a resource the caller can see", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 409, description = "Conflict with a rule (the type names it)", body = crate::api::openapi::NeutronErrorResponse), (status = 412, description = "If-Match names another revision", body = crate::api::openapi::NeutronErrorResponse), (status = 413, description = "Body over the size limit", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
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
    Ok(Json(TrunkJson::of(&trunk)).into_response())
}

#[utoipa::path(
    get,
    path = "/v2.0/trunks/{id}/get_subports",
    tag = "trunks",
    params(("id" = String, Path, description = "trunk id (UUID)")),
    responses((status = 200, description = "The subports", body = crate::api::openapi::SubportsResponse), (status = 401, description = "No identity", body = crate::api::openapi::NeutronErrorResponse), (status = 404, description = "Not found or not visible", body = crate::api::openapi::NeutronErrorResponse), (status = 503, description = "The database is unavailable", body = crate::api::openapi::NeutronErrorResponse))
)]
pub async fn get_subports(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let subports = state.service.get_subports(&ctx, trunk_id(&id)?).await?;
    let mut body = Map::new();
    body.insert(
        "sub_ports".into(),
        Value::Array(subports.iter().map(render::subport).collect()),
    );
    Ok(Json(Value::Object(body)))
}
